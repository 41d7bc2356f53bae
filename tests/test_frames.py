"""tradewatch.frames: history as pandas DataFrames, read as the read-only role from a real PostgreSQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import psycopg
import pytest
from pydantic import SecretStr

from helpers.databases import history_database, with_user, insert_exchange_price
from tradewatch import frames
from tradewatch.settings import load_settings
from tradewatch.warehouse.alerts import compute_alerts
from tradewatch.warehouse.db import get_pool
from tradewatch.warehouse.roles import READER_ROLE, apply_reader_password
from tradewatch.watchlist import AlertRule, load_watchlist

GREED = "deafening-essence-of-greed"
# a fixed window: what the frames read never depends on today's simulated market
END = datetime(2026, 11, 20, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def history(pg_server_url):
    wl = load_watchlist()
    wl = replace(wl, alerts=(AlertRule(name="greed-priced", item=GREED, above=0.0),))
    with history_database(pg_server_url, wl, "tw_frames", days=2, seed=11, end=END) as made:
        with psycopg.connect(made.url) as conn:
            # the divine's price in chaos: 100 + the hour's index, for every hour of the history
            hours = int((made.end - made.start) / timedelta(hours=1))
            for i in range(hours):
                hour = made.start + timedelta(hours=i)
                for item, quote, price in (("divine", "chaos", 100.0 + i), (GREED, "chaos", 3.0 + i)):
                    insert_exchange_price(conn, "Standard", hour, item, f"Metadata/{item}", quote, price, 10)
        compute_alerts(get_pool(made.url), wl, made.start, made.end)
        apply_reader_password(made.url, SecretStr("reader-test-pw"))
        yield made, wl, with_user(made.url, READER_ROLE, "reader-test-pw")


def test_prices_are_a_utc_indexed_typed_frame_equal_to_the_stored_snapshots(history):
    made, wl, reader = history
    frame = frames.prices(GREED, from_=made.start, to=made.end, url=reader, watchlist=wl)
    assert isinstance(frame.index, pd.DatetimeIndex) and str(frame.index.tz) == "UTC" and frame.index.name == "hour"
    assert frame["close"].dtype == "float64" and frame["listing_count"].dtype == "Int64"
    assert frame["item_id"].dtype == "string" and set(frame["currency"]) == {"divine"}
    with psycopg.connect(made.url) as conn:
        stored = conn.execute("SELECT observed_hour, min_price, robust_min_price FROM warehouse.price_snapshots "
                              "WHERE item_id = %s ORDER BY observed_hour", (GREED,)).fetchall()
    assert len(frame) == len(stored) == 48
    assert list(frame.index.to_pydatetime()) == [h for h, *_ in stored]
    nan = float("nan")
    np.testing.assert_array_equal(frame["close"], [nan if p is None else p for _, p, _ in stored])
    np.testing.assert_array_equal(frame["robust_close"], [nan if r is None else r for *_, r in stored])


def test_prices_in_chaos_are_the_divine_prices_times_that_hours_divine_price(history):
    made, wl, reader = history
    divine = frames.prices(from_=made.start, to=made.end, url=reader, watchlist=wl)
    chaos = frames.prices(from_=made.start, to=made.end, currency="chaos", url=reader, watchlist=wl)
    rate = frames.divine_price(from_=made.start, to=made.end, url=reader, watchlist=wl)["chaos_per_divine"]
    assert len(rate) == 48 and rate.iloc[0] == 100.0
    merged = divine.reset_index().merge(chaos.reset_index(), on=["hour", "item_id"], suffixes=("_div", "_c"))
    assert len(merged) == len(divine) == 21 * 48
    ratio = merged["robust_close_c"] / merged["robust_close_div"]
    # every item's chaos/divine ratio in one hour is that hour's divine price
    assert (ratio - merged["hour"].map(rate)).abs().max() < 1e-9
    daily = frames.prices(GREED, from_=made.start, to=made.end, bucket="day", url=reader, watchlist=wl)
    assert daily["hours"].sum() == 48


def test_exchange_profitability_and_alerts_frames(history):
    made, wl, reader = history
    ex = frames.exchange_prices(GREED, from_=made.start, to=made.end, url=reader, watchlist=wl)
    assert len(ex) == 48 and ex["vwap_price"].iloc[1] == 4.0 and set(ex["currency"]) == {"chaos"}
    profit = frames.profitability(strategy="deafening-top5", policy="optimal", from_=made.start, to=made.end,
                                  url=reader, watchlist=wl)
    assert len(profit) == 48 and profit["expected_profit_per_unit"].dtype == "float64"
    fired = frames.alerts(from_=made.start, to=made.end, url=reader, watchlist=wl)
    with psycopg.connect(made.url) as conn:
        (first_priced,), = conn.execute("SELECT min(observed_hour) FROM warehouse.price_snapshots WHERE item_id = %s "
                                        "AND robust_min_price > 0", (GREED,)).fetchall()
    # the simulated market prices every item in every hour: the rule fires once, at the first hour
    assert first_priced == made.start
    assert list(fired["rule"]) == ["greed-priced"] and fired.index[0] == pd.Timestamp(made.start)


def test_the_reader_url_is_the_reader_role_then_the_api_role_then_the_warehouse():
    assert frames.reader_url(load_settings({"TRADEWATCH_READER_DATABASE_URL": "postgresql://r@h/d",
                                            "TRADEWATCH_API_DATABASE_URL": "postgresql://a@h/d"}, None)) \
        == "postgresql://r@h/d"
    assert frames.reader_url(load_settings({"TRADEWATCH_API_DATABASE_URL": "postgresql://a@h/d",
                                            "TRADEWATCH_DATABASE_URL": "postgresql://w@h/d"}, None)) \
        == "postgresql://a@h/d"


def test_a_reader_session_cannot_write(history):
    made, wl, _ = history
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        frames._read("CREATE TABLE analytics.x (a int)", {}, made.url)


def test_the_views_have_every_price_in_chaos_and_in_divine(history):
    made, wl, reader = history
    with psycopg.connect(reader) as conn:
        rows = conn.execute("SELECT robust_min_price, robust_min_price_chaos, robust_min_price_divine, "
                            "chaos_per_divine FROM analytics.price_history WHERE robust_min_price IS NOT NULL").fetchall()
        profit = conn.execute("SELECT expected_profit_per_unit, expected_profit_per_unit_chaos, chaos_per_divine "
                              "FROM analytics.reroll_profitability").fetchall()
    assert len(rows) > 900
    for divine, in_chaos, in_divine, rate in rows:
        assert in_divine == divine and in_chaos == pytest.approx(divine * rate)
    assert profit and all(c == pytest.approx(p * rate) for p, c, rate in profit)
