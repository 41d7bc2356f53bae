"""Any exchange item by id, metadata path or display name, over real HTTP: `exchangePrices` (PoE 1
and PoE 2, a path only the warehouse knows), `items(search:)` over the catalogue, the book fields
and the CSV export taking names; unknown items get "did you mean", shared names ask for an id."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from graphql_api.config import ApiSettings
from helpers.databases import with_user
from tradewatch.currency_exchange.catalogue import resolve_item
from tradewatch.currency_exchange.client import PUBLISHED, HourAnswer, read_envelope
from tradewatch.currency_exchange.raw_store import insert_hour, prepare
from tradewatch.warehouse.exchange_prices import compute_exchange_prices
from tradewatch.watchlist import load_watchlist

SAMPLES = Path(__file__).parent.parent / "data" / "currency_exchange"
HOUR = datetime.fromtimestamp(1787119200, tz=timezone.utc)  # 2026-08-19T06:00Z, league Allflame
NEXT = datetime.fromtimestamp(1787122800, tz=timezone.utc)
CHAOS = "Metadata/Items/Currency/CurrencyRerollRare"
UNLISTED = "Metadata/Items/Currency/CurrencyProbeUnlisted1"
POE2_LEAGUE = "Dawn of the Hunt"
QUERY = """query($items: [ID!], $realm: String!, $league: String!, $currency: ExchangeCurrency!) {
  exchangePrices(realm: $realm, league: $league, items: $items, currency: $currency, from: "2026-08-19T00:00Z",
                 to: "2026-08-20T00:00Z") { item { id name category watched } points vwap volume } }"""


def _store(pool, realm: str, body: bytes) -> None:
    next_id, markets = read_envelope(body)
    with pool.connection() as conn:
        insert_hour(conn, prepare(HourAnswer(
            realm=realm, hour=HOUR, kind=PUBLISHED, url="http://x", status_code=200, body=body,
            fetched_at=datetime.now(timezone.utc), attempt=1, response_bytes=len(body), next_change_id=next_id,
            market_count=markets)))
    compute_exchange_prices(pool, realm, HOUR, NEXT)


def _poe2_document() -> bytes:
    """A PoE 2 hour: the Exalted Orb and a path no catalogue lists, both against chaos."""
    exalted = resolve_item("poe2", "Exalted Orb").metadata_path

    def market(path: str, units: int, chaos: int) -> dict:
        return {"league": POE2_LEAGUE, "market_id": f"{path}|{CHAOS}", "market_pair": [path, CHAOS],
                "volume_traded": {path: units, CHAOS: chaos}, "lowest_stock": {path: 1, CHAOS: 1},
                "highest_stock": {path: 9, CHAOS: 99}, "lowest_ratio": {path: 1, CHAOS: 1},
                "highest_ratio": {path: 1, CHAOS: 9}}

    return orjson.dumps({"next_change_id": int(NEXT.timestamp()),
                         "markets": [market(exalted, 10, 30), market(UNLISTED, 4, 2)]})


@pytest.fixture
def api(database_url, pool):
    from graphql_api.app import create_app
    from pydantic import SecretStr as Secret
    from tradewatch.warehouse.roles import API_ROLE, apply_api_password

    from helpers.servers import ServedApp

    _store(pool, "pc", (SAMPLES / "pc_allflame_1787119200_profitofexile.json").read_bytes())
    _store(pool, "poe2", _poe2_document())
    apply_api_password(database_url, Secret("api-test-pw"))
    served = ServedApp(create_app(with_user(database_url, API_ROLE, "api-test-pw"), settings=ApiSettings(),
                                  watchlist=load_watchlist()))
    yield served
    served.stop()


def _post(api, query: str, variables: dict | None = None) -> dict:
    return api.client.post("/graphql", json={"query": query, "variables": variables or {}}).json()


def _series(api, items: list[str], realm: str = "pc", league: str = "Allflame", currency: str = "DIVINE") -> list:
    body = _post(api, QUERY, {"items": items, "realm": realm, "league": league, "currency": currency})
    assert "errors" not in body, body
    return body["data"]["exchangePrices"]


def test_an_item_is_asked_for_by_id_path_or_name_and_answers_with_its_catalogue_name(api):
    cortex = "Metadata/Items/MapFragments/CurrencyUberBossKeyCortex"
    for given in ("synthesising-fragment", cortex, "Synthesising Fragment", "synthesising FRAGMENT"):
        (series,) = _series(api, [given])
        assert series["item"] == {"id": "synthesising-fragment", "name": "Synthesising Fragment",
                                  "category": "Fragments", "watched": False}
        assert series["vwap"] == [pytest.approx(16 / 299)]  # 299 fragments for 16 divine
    # the same item three ways is one series
    assert len(_series(api, [cortex, "Synthesising Fragment", "synthesising-fragment"])) == 1


def test_a_poe2_item_and_a_path_only_the_warehouse_knows(api):
    exalted = resolve_item("poe2", "Exalted Orb")
    (ex,) = _series(api, ["exalted orb"], realm="poe2", league=POE2_LEAGUE, currency="CHAOS")
    assert ex["item"]["name"] == "Exalted Orb" and ex["item"]["id"] == exalted.id
    assert ex["vwap"] == [pytest.approx(3.0)] and ex["volume"] == [10]
    for given in (UNLISTED, "Currency Probe Unlisted 1"):
        (probe,) = _series(api, [given], realm="poe2", league=POE2_LEAGUE, currency="CHAOS")
        assert probe["item"] == {"id": UNLISTED, "name": "Currency Probe Unlisted 1", "category": None,
                                 "watched": False}
        assert probe["vwap"] == [pytest.approx(0.5)]
    # that path is PoE 2's: the PoE 1 catalogue does not know it
    body = _post(api, QUERY, {"items": [UNLISTED], "realm": "pc", "league": "Allflame", "currency": "CHAOS"})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


def test_an_unknown_item_gets_did_you_mean_from_the_catalogue(api):
    body = _post(api, QUERY, {"items": ["Synthesising Fragmnt"], "realm": "pc", "league": "Allflame",
                              "currency": "CHAOS"})
    error = body["errors"][0]
    assert error["extensions"] == {"code": "NOT_FOUND", "argument": "items[0]"}
    assert "unknown item id 'Synthesising Fragmnt' (did you mean 'Synthesising Fragment'" in error["message"]
    assert "`items(search:" in error["message"]


def test_a_name_several_items_share_asks_for_one_of_their_ids(api):
    body = _post(api, QUERY, {"items": ["Sacrifice at Dawn"], "realm": "pc", "league": "Allflame",
                              "currency": "CHAOS"})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'Sacrifice at Dawn' names" in error["message"] and "Metadata/" in error["message"]


def test_items_search_finds_any_exchange_item_by_name(api):
    found = _post(api, '{ items(search: "Exalted") { id name category watched } }')["data"]["items"]
    assert found[0] == {"id": "exalted", "name": "Exalted Orb", "category": "Currency", "watched": False}
    assert all("exalted" in i["name"].lower() or "exalted" in i["id"] for i in found)
    assert not any(i["name"].startswith("Metadata/") for i in found)
    # a search a watched item matches keeps answering the watched items only ...
    assert _post(api, '{ items(search: "greed") { id } }')["data"]["items"] == [{"id": "deafening-essence-of-greed"}]
    # ... unless a realm asks for the whole catalogue: watched first, then the others
    everything = _post(api, '{ items(search: "essence of greed", realm: "pc") { id watched } }')["data"]["items"]
    assert everything[0] == {"id": "deafening-essence-of-greed", "watched": True} and len(everything) > 3
    poe2 = _post(api, '{ items(search: "exalted orb", realm: "poe2") { id name } }')["data"]["items"]
    assert poe2[0] == {"id": resolve_item("poe2", "Exalted Orb").id, "name": "Exalted Orb"}
    cards = _post(api, '{ items(category: "Cards", realm: "pc") { id } }')["data"]["items"]
    assert len(cards) == 200  # capped
    bad = _post(api, '{ items(search: "x", realm: "mars") { id } }')["errors"][0]
    assert bad["extensions"]["code"] == "BAD_USER_INPUT" and "realm" in bad["message"]


def test_book_fields_and_the_csv_export_take_a_watched_items_name(api):
    data = _post(api, '{ priceSeries(item: "Deafening Essence of Greed") { item { id } points } }')["data"]
    assert data["priceSeries"][0]["item"]["id"] == "deafening-essence-of-greed"
    response = api.client.get("/export/price-series.csv", params={"item": "deafening essence of greed"})
    assert response.status_code == 200 and response.text.startswith("item,time,")
    missing = api.client.get("/export/price-series.csv", params={"item": "Deafening Essence of Gred"})
    assert missing.status_code == 404 and "did you mean 'deafening-essence-of-greed'" in missing.text
