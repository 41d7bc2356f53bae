"""`exchangePrices` and `leagues` over real HTTP, from real Currency Exchange samples stored and priced."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from graphql_api.config import ApiSettings
from helpers.databases import with_user
from tradewatch.currency_exchange.client import PUBLISHED, HourAnswer, read_envelope
from tradewatch.currency_exchange.raw_store import insert_hour, prepare
from tradewatch.warehouse.exchange_prices import compute_exchange_prices
from tradewatch.watchlist import load_watchlist

SAMPLES = Path(__file__).parent.parent / "data" / "currency_exchange"
HOUR = datetime.fromtimestamp(1787119200, tz=timezone.utc)  # 2026-08-19T06:00Z, league Allflame


@pytest.fixture
def api(database_url, pool):
    from graphql_api.app import create_app
    from pydantic import SecretStr as Secret
    from tradewatch.warehouse.roles import API_ROLE, apply_api_password

    from helpers.servers import ServedApp

    body = (SAMPLES / "pc_allflame_1787119200_profitofexile.json").read_bytes()
    next_id, markets = read_envelope(body)
    with pool.connection() as conn:
        insert_hour(conn, prepare(HourAnswer(
            realm="pc", hour=HOUR, kind=PUBLISHED, url="http://x", status_code=200, body=body,
            fetched_at=datetime.now(timezone.utc), attempt=1, response_bytes=len(body), next_change_id=next_id,
            market_count=markets)))
    compute_exchange_prices(pool, "pc", HOUR, datetime.fromtimestamp(1787122800, tz=timezone.utc))
    apply_api_password(database_url, Secret("api-test-pw"))
    served = ServedApp(create_app(with_user(database_url, API_ROLE, "api-test-pw"), settings=ApiSettings(),
                                  watchlist=load_watchlist()))
    yield served
    served.stop()


def _data(api, query: str, variables: dict) -> dict:
    body = api.client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert "errors" not in body, body
    return body["data"]


def test_exchange_prices_are_columns_of_executed_prices(api):
    query = """query($items: [ID!], $currency: ExchangeCurrency!) {
      exchangePrices(league: "Allflame", items: $items, currency: $currency, from: "2026-08-19T00:00Z",
                     to: "2026-08-20T00:00Z", bucket: HOUR) {
        item { id } currency points time vwap minPrice maxPrice volume quoteVolume hours } }"""
    cortex = "Metadata/Items/MapFragments/CurrencyUberBossKeyCortex"
    (divine,) = _data(api, query, {"items": ["divine"], "currency": "CHAOS"})["exchangePrices"]
    assert divine["points"] == 1 and divine["time"][0].startswith("2026-08-19T06:00")
    assert divine["vwap"][0] == pytest.approx(13001051 / 65361)
    assert (divine["minPrice"], divine["maxPrice"]) == ([196.0], [201.0])
    assert (divine["volume"], divine["quoteVolume"]) == ([65361], [13001051])
    series = _data(api, query, {"items": [cortex, "chaos"], "currency": "DIVINE"})["exchangePrices"]
    # an item's id is its catalogue id: the trade id where it has one (the path asked for resolves to it)
    assert [s["item"]["id"] for s in series] == ["synthesising-fragment", "chaos"]
    assert series[0]["vwap"][0] == pytest.approx(16 / 299)  # 299 Cortex for 16 divine
    assert series[1]["minPrice"][0] == pytest.approx(1 / 201)
    empty = _data(api, query, {"items": ["deafening-essence-of-greed"], "currency": "CHAOS"})["exchangePrices"]
    assert empty[0]["points"] == 0 and empty[0]["vwap"] == []


def test_an_unknown_item_is_a_clear_error(api):
    body = api.client.post("/graphql", json={"query": '{ exchangePrices(league: "Allflame", items: ["chaoss"]) '
                                                      "{ points } }"}).json()
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND" and "chaoss" in body["errors"][0]["message"]


def test_leagues_lists_each_source_with_first_and_last_hour(api):
    leagues = _data(api, "{ leagues { source name firstHour lastHour } }", {})["leagues"]
    assert {"source": "exchange", "name": "Allflame",
            "firstHour": "2026-08-19T06:00:00+00:00", "lastHour": "2026-08-19T06:00:00+00:00"} in leagues
