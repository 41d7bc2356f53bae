"""One chaos↔divine conversion: `analytics.convert_price` (SQL, used by the views, the API and the
notebooks) and `tradewatch.market.currency.convert` (Python) give the same answers, and both give
no value (null) for a missing, zero, negative or non-finite rate, where a multiplication used to
answer 0 and a division used to fail the whole statement."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from graphql_api.config import ApiSettings
from helpers.servers import UNREACHABLE_URL, ServedApp
from tradewatch.cli.simulated_history import simulate_history
from tradewatch.market.currency import convert
from tradewatch.warehouse.db import get_pool
from tradewatch.warehouse.snapshots import compute_snapshots
from tradewatch.watchlist import load_watchlist

START = datetime(2025, 3, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
UNUSABLE_RATES = [0.0, -0.0, -150.0, math.nan, math.inf, -math.inf, None]
PAIRS = [("divine", "chaos"), ("chaos", "divine"), ("chaos", "chaos"), ("divine", "divine")]


def _sql(conn, value, from_currency: str, to_currency: str, rate):
    return conn.execute("SELECT analytics.convert_price(%s::double precision, %s, %s, %s::double precision)",
                        (value, from_currency, to_currency, rate)).fetchone()[0]


@pytest.mark.parametrize("rate", UNUSABLE_RATES, ids=repr)
def test_an_unusable_rate_converts_to_nothing_in_sql_and_in_python(database_url, rate):
    with psycopg.connect(database_url) as conn:
        for from_currency, to_currency in PAIRS:
            for value in (3.0, 0.0, None):
                expected = value if from_currency == to_currency else None
                assert _sql(conn, value, from_currency, to_currency, rate) == expected
                assert convert(value, from_currency, to_currency, rate) == expected


def test_sql_and_python_agree_on_usable_rates(database_url):
    with psycopg.connect(database_url) as conn:
        for rate in (1e-9, 0.5, 1.0, 183.25, 1e12):
            for from_currency, to_currency in PAIRS:
                for value in (0.0, 0.0123, 3.0, 5e6):
                    sql = _sql(conn, value, from_currency, to_currency, rate)
                    assert sql == pytest.approx(convert(value, from_currency, to_currency, rate), rel=1e-15)
        assert _sql(conn, 2.0, "divine", "chaos", 150.0) == 300.0
        assert _sql(conn, 300.0, "chaos", "divine", 150.0) == 2.0
        # a currency without a rate: a view cannot refuse a row, so no value (Python refuses it)
        assert _sql(conn, 2.0, "exalted", "chaos", 150.0) is None
        with pytest.raises(ValueError, match="only chaos and divine convert"):
            convert(2.0, "exalted", "chaos", 150.0)


def test_the_views_use_the_one_conversion(database_url):
    with psycopg.connect(database_url) as conn:
        users = {r[0] for r in conn.execute(
            "SELECT DISTINCT v.relname FROM pg_depend d JOIN pg_rewrite w ON w.oid = d.objid "
            "JOIN pg_class v ON v.oid = w.ev_class WHERE d.refobjid = "
            "'analytics.convert_price(double precision, text, text, double precision)'::regprocedure")}
    assert users == {"price_history", "reroll_profitability"}


class _Api(ServedApp):
    def data(self, query: str, variables: dict) -> dict:
        body = self.client.post("/graphql", json={"query": query, "variables": variables}).json()
        assert "errors" not in body, body["errors"]
        return body["data"]


SERIES = """query($items: [ID!], $from: DateTime, $to: DateTime, $currency: Currency) {
  priceSeries(items: $items, from: $from, to: $to, currency: $currency) { item { id } time close robustClose } }"""


@pytest.mark.parametrize("paid_with, other", [("divine", "chaos"), ("chaos", "divine")])
def test_an_hour_whose_divine_price_is_zero_has_no_converted_prices_anywhere(database_url, paid_with, other):
    """Through the views, the API and the notebooks: nulls for the zero-rate hour, the rate applied
    in the next hour. The tables refuse a zero rate (CHECK); one is forced in past them here, as a
    rate from any future source could be."""
    from graphql_api.app import create_app
    from tradewatch import frames

    watchlist = replace(load_watchlist(), paid_with=paid_with)
    pool = get_pool(database_url)
    simulate_history(pool, watchlist, START, START + 2 * HOUR, workers=1, divine_book=False)
    compute_snapshots(pool, watchlist, START, START + 2 * HOUR)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE warehouse.book_divine_prices DROP CONSTRAINT book_divine_prices_chaos_per_divine_check")
        for hour, rate in ((START, 0.0), (START + HOUR, 150.0)):
            conn.execute("INSERT INTO warehouse.book_divine_prices (game, league, observed_hour, chaos_per_divine, "
                         "listing_count, total_stock, simulated, raw_response_id) "
                         "VALUES ('poe1', 'Standard', %s, %s, 1, 1, true, 0)", (hour, rate))
        views = conn.execute(
            f"SELECT observed_hour, item_id, robust_min_price, robust_min_price_{other}, robust_min_price_{paid_with} "
            "FROM analytics.price_history ORDER BY observed_hour, item_id").fetchall()
    factor = 150.0 if other == "chaos" else 1 / 150.0
    priced = [v for v in views if v[2] is not None]
    assert len(priced) >= 2 * len(watchlist.items) - 2  # an empty book in the simulated market may leave one out
    for hour, _, stored, converted, same in priced:
        assert same == stored
        assert converted is None if hour == START else converted == pytest.approx(stored * factor, rel=1e-12)

    items = list(watchlist.items)
    frame = frames.prices(items, from_=START, to=START + 2 * HOUR, currency=other, url=database_url,
                          watchlist=watchlist)
    zero_hour, rated_hour = frame.loc[START], frame.loc[START + HOUR]
    assert zero_hour["robust_close"].isna().all() and zero_hour["close"].isna().all()
    stored = {(h, i): p for h, i, p, *_ in views}
    for item, robust in zip(rated_hour["item_id"], rated_hour["robust_close"]):
        if stored[(START + HOUR, item)] is not None:
            assert robust == pytest.approx(stored[(START + HOUR, item)] * factor, rel=1e-12)

    api = _Api(create_app(database_url, settings=ApiSettings(), watchlist=watchlist, pool_timeout=10,
                          trade_api_url=UNREACHABLE_URL))
    try:
        series = api.data(SERIES, {"items": items, "from": START.isoformat(), "to": (START + 2 * HOUR).isoformat(),
                                   "currency": other.upper()})["priceSeries"]
    finally:
        api.stop()
    assert len(series) == len(items)
    for s in series:
        item = s["item"]["id"]
        assert s["robustClose"][0] is None and s["close"][0] is None  # the zero-rate hour
        if stored[(START + HOUR, item)] is not None:
            assert s["robustClose"][1] == pytest.approx(stored[(START + HOUR, item)] * factor, rel=1e-9)
