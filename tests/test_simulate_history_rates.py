"""`tradewatch simulate-history` writes what the hourly fetch writes: the watched items' books and
the book of divine paid in chaos, so after a snapshot backfill every price of an hour whose divine
book has an ask has a chaos value; with `--currency-exchange` also the Currency Exchange history of
the same hours, priced, whose divine price then takes over from the book's: every price has one.

The clock is fixed (the command ends its history at the current hour): the same hours every day."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from tradewatch.cli.main import main
from tradewatch.warehouse.db import get_pool
from tradewatch.warehouse.snapshots import compute_snapshots
from tradewatch.watchlist import load_watchlist

NOW = datetime(2026, 3, 10, 13, 20, tzinfo=timezone.utc)
END = NOW.replace(minute=0)
START = END - timedelta(days=1)
HOURS = 24


@pytest.fixture
def frozen_clock(monkeypatch):
    import tradewatch.hours

    monkeypatch.setattr(tradewatch.hours, "utc_now", lambda: NOW)


def _rates(conn) -> dict[datetime, tuple[float, str]]:
    return {h: (rate, source) for h, rate, source in conn.execute(
        "SELECT observed_hour, chaos_per_divine, source FROM analytics.exchange_divine_price "
        "WHERE realm = 'pc' AND league = 'Standard'")}


def _priced_in_chaos(conn) -> list[tuple]:
    return conn.execute("SELECT observed_hour, item_id, robust_min_price, robust_min_price_chaos, chaos_per_divine "
                        "FROM analytics.price_history WHERE robust_min_price IS NOT NULL").fetchall()


def test_simulated_history_and_a_snapshot_backfill_give_prices_chaos_values(database_url, monkeypatch,
                                                                            frozen_clock, capsys):
    monkeypatch.setenv("TRADEWATCH_DATABASE_URL", database_url)
    watchlist = load_watchlist()
    assert main(["simulate-history", "--days", "1"]) == 0
    assert f"{HOURS * (len(watchlist.items) + 1)} simulated responses written" in capsys.readouterr().out
    with psycopg.connect(database_url) as conn:
        divine_books = conn.execute(
            "SELECT count(*), bool_and(simulated), min(observed_hour), max(observed_hour) "
            "FROM warehouse.raw_trade_responses WHERE item_id = 'divine' AND paid_with = 'chaos'").fetchone()
    assert divine_books == (HOURS, True, START, END - timedelta(hours=1))

    compute_snapshots(get_pool(database_url), watchlist, START, END)  # what a backfill of price_snapshots runs
    with psycopg.connect(database_url) as conn:
        rates = _rates(conn)
        priced = _priced_in_chaos(conn)
        # the simulated market leaves the divine book without asks in some hours (2 of these 24)
        asked = {h for (h,) in conn.execute("SELECT observed_hour FROM warehouse.book_divine_prices "
                                            "WHERE listing_count > 0")}
    assert set(rates) == asked and len(asked) >= HOURS - 3
    assert {source for _, source in rates.values()} == {"book"} and all(rate > 0 for rate, _ in rates.values())
    assert len(priced) >= HOURS * (len(watchlist.items) - 1)
    for hour, _, divine, chaos, rate in priced:
        if hour in rates:
            assert rate == rates[hour][0] and chaos == pytest.approx(divine * rate, rel=1e-12)
        else:
            assert rate is None and chaos is None

    # the Currency Exchange history of the same hours: its executed divine price comes first
    assert main(["simulate-history", "--days", "1", "--currency-exchange"]) == 0
    out = capsys.readouterr().out
    assert "0 simulated responses written" in out  # the books were stored already
    assert f"{HOURS} simulated Currency Exchange hours of realm pc written and priced" in out
    with psycopg.connect(database_url) as conn:
        exchange = _rates(conn)
        priced_again = _priced_in_chaos(conn)
        documents = conn.execute("SELECT count(*), bool_and(simulated) FROM warehouse.raw_currency_exchange "
                                 "WHERE realm = 'pc'").fetchone()
    assert documents == (HOURS, True)
    # every hour has a divine price now, the exchange's
    assert len(exchange) == HOURS and {source for _, source in exchange.values()} == {"exchange"}
    assert len(priced_again) == len(priced)
    for hour, _, divine, chaos, rate in priced_again:
        assert rate == exchange[hour][0] and chaos == pytest.approx(divine * rate, rel=1e-12)
