"""Reroll profitability from both sources on a real PostgreSQL: hours with a stored order book
are priced from the book (`price_source = 'book'`), hours without one from the Currency
Exchange's executed vwaps (`'exchange'`), checked against values computed by hand."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from helpers.databases import insert_exchange_price
from tradewatch import frames
from tradewatch.cli.simulated_history import simulate_history
from tradewatch.warehouse.profitability import compute_profitability
from tradewatch.warehouse.snapshots import compute_snapshots
from tradewatch.watchlist import parse_watchlist

START = datetime(2025, 3, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
A, B, C, LIFE = ("deafening-essence-of-greed", "deafening-essence-of-woe", "deafening-essence-of-fear",
                 "primal-lifeforce")


@pytest.fixture
def watchlist(tmp_path):
    # three members, top 1, 3 lifeforce per reroll of one unit: small enough to price by hand
    return parse_watchlist({
        "league": "Standard", "paid_with": "chaos", "target_quantity": 100, "items": [A, B, C, LIFE],
        "strategies": [{"name": "s", "family": [A, B, C], "reroll_cost_item": LIFE, "reroll_cost_amount": 3,
                        "buy_quantity": 100, "top_k": 1}],
    }, tmp_path / "watchlist.yaml")


def _exchange(conn, hour: datetime, prices: dict[str, float], quote: str = "chaos", league: str = "Standard") -> None:
    for item, price in prices.items():
        insert_exchange_price(conn, league, hour, item, f"Metadata/Test/{item}", quote, price, 50)


def _rows(url: str) -> dict[tuple[datetime, str], dict]:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT * FROM warehouse.reroll_profitability ORDER BY observed_hour, policy")
        names = [d.name for d in cur.description]
        return {(r["observed_hour"], r["policy"]): r for r in (dict(zip(names, row)) for row in cur.fetchall())}


def test_hours_without_a_book_are_priced_from_executed_prices_and_say_so(pool, database_url, watchlist):
    simulate_history(pool, watchlist, START, START + HOUR, workers=1)  # a book for the first hour only
    compute_snapshots(pool, watchlist, START, START + HOUR)
    compute_profitability(pool, watchlist, START, START + 6 * HOUR)
    book_only = {k: v for k, v in _rows(database_url).items()}
    with psycopg.connect(database_url) as conn:
        _exchange(conn, START, {A: 50.0, B: 60.0, C: 70.0, LIFE: 0.5})  # the book's hour: ignored
        _exchange(conn, START + HOUR, {A: 1.0, B: 8.0, C: 10.0, LIFE: 1.0})
        _exchange(conn, START + HOUR, {A: 0.001}, quote="divine")  # another currency: ignored
        _exchange(conn, START + HOUR, {A: 0.01}, league="Hardcore")  # another league: ignored
        _exchange(conn, START + 2 * HOUR, {A: 1.0, B: 8.0, C: 10.0})  # the reroll item did not trade
        conn.execute("INSERT INTO warehouse.exchange_prices (realm, league, item_key, quote_currency, observed_hour, "
                     "item_first, vwap_price, volume, quote_volume) SELECT 'pc', 'Standard', item_key, 'chaos', %s, "
                     "true, NULL, 0, 0 FROM warehouse.exchange_items WHERE item_id = %s", (START + 2 * HOUR, LIFE))
        _exchange(conn, START + 3 * HOUR, {A: 1.0, B: 8.0, LIFE: 1.0})  # C did not trade: it sells for 0
    report = compute_profitability(pool, watchlist, START, START + 6 * HOUR)
    rows = _rows(database_url)
    assert (report.hours_with_snapshots, report.hours_from_exchange) == (1, 3)

    # the book's hour is priced from the book as before, whatever the exchange says
    for policy in ("top_k", "optimal"):
        assert rows[(START, policy)]["price_source"] == "book"
        assert rows[(START, policy)] | {"computed_at": None} == book_only[(START, policy)] | {"computed_at": None}

    # hour 1 by hand: buy A at 1, a reroll costs 3 × 1 = 3; top 1 sells only C (10): from A or B
    # a reroll lands on C half the time, so 2 rerolls: 10 - 1 - 6 = 3. Optimal sells B (8) too:
    # one reroll from A: (8 + 10) / 2 - 1 - 3 = 5.
    top, best = rows[(START + HOUR, "top_k")], rows[(START + HOUR, "optimal")]
    assert top["price_source"] == best["price_source"] == "exchange"
    assert (top["input_item_id"], top["quantity"]) == (A, 100)
    assert top["input_unit_cost"] == pytest.approx(1.0) and top["reroll_cost"] == pytest.approx(3.0)
    assert top["expected_rerolls"] == pytest.approx(2.0) and top["expected_sale_value"] == pytest.approx(10.0)
    assert top["expected_profit_per_unit"] == pytest.approx(3.0) and top["expected_profit_total"] == pytest.approx(300)
    assert top["roi"] == pytest.approx(3.0 / 7.0) and top["stop_set"] == [C]
    assert best["expected_rerolls"] == pytest.approx(1.0) and best["expected_sale_value"] == pytest.approx(9.0)
    assert best["expected_profit_per_unit"] == pytest.approx(5.0) and sorted(best["stop_set"]) == sorted([B, C])
    assert top["simulated"] is False

    # hour 2: the reroll item has no executed price, so the strategy is not priced (the book rule)
    assert (START + 2 * HOUR, "top_k") not in rows
    assert "price" in report.unavailable[START + 2 * HOUR]["s"]
    # hour 3: C has no executed price, so it is worth 0; top 1 sells B: 2 rerolls, 8 - 1 - 6 = 1
    top = rows[(START + 3 * HOUR, "top_k")]
    assert top["price_source"] == "exchange" and top["stop_set"] == [B]
    assert top["expected_profit_per_unit"] == pytest.approx(1.0)
    # hours with neither source: no rows
    assert not {h for h, _ in rows} & {START + 4 * HOUR, START + 5 * HOUR}

    # the Tableau view and the frames carry the source
    frame = frames.profitability(from_=START, to=START + 6 * HOUR, url=database_url, watchlist=watchlist)
    assert dict(zip(frame.index.to_pydatetime(), frame["price_source"])) == {
        START: "book", START + HOUR: "exchange", START + 3 * HOUR: "exchange"}


def test_a_book_stored_later_replaces_the_exchange_pricing_of_its_hour(pool, database_url, watchlist):
    with psycopg.connect(database_url) as conn:
        _exchange(conn, START, {A: 1.0, B: 8.0, C: 10.0, LIFE: 1.0})
    compute_profitability(pool, watchlist, START, START + HOUR)
    assert {r["price_source"] for r in _rows(database_url).values()} == {"exchange"}
    simulate_history(pool, watchlist, START, START + HOUR, workers=1)
    compute_snapshots(pool, watchlist, START, START + HOUR)
    report = compute_profitability(pool, watchlist, START, START + HOUR)
    assert report.deleted == 2 and {r["price_source"] for r in _rows(database_url).values()} == {"book"}


def test_a_window_is_evaluated_in_chunks_with_the_same_rows_and_report(pool, database_url, watchlist, monkeypatch):
    from tradewatch.warehouse import profitability

    simulate_history(pool, watchlist, START, START + 9 * HOUR, workers=1)
    compute_snapshots(pool, watchlist, START, START + 9 * HOUR)
    with psycopg.connect(database_url) as conn:  # hours 9 and 10 have no book: from the exchange
        for h in (9, 10):
            _exchange(conn, START + h * HOUR, {A: 1.0, B: 8.0, C: 10.0, LIFE: 1.0})
    whole = compute_profitability(pool, watchlist, START, START + 11 * HOUR)
    rows = {k: v | {"computed_at": None} for k, v in _rows(database_url).items()}
    monkeypatch.setattr(profitability, "CHUNK", 4 * HOUR)  # chunks of 4, 4 and 3 hours: two boundaries
    chunked = compute_profitability(pool, watchlist, START, START + 11 * HOUR)
    assert {k: v | {"computed_at": None} for k, v in _rows(database_url).items()} == rows
    assert len(rows) == chunked.rows == whole.rows and chunked.deleted == whole.rows
    assert (chunked.hours_with_snapshots, chunked.hours_from_exchange) == (whole.hours_with_snapshots, 2)
    assert chunked.results == whole.results and chunked.unavailable == whole.unavailable
