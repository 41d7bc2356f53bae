"""Price snapshots, reroll profitability, simulated history and the Tableau views, on a real PostgreSQL."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from tradewatch.cli.simulated_history import simulate_history
from tradewatch.market.pricing import depth_cost, offers_from_ladder, summarize_book
from tradewatch.warehouse.profitability import compute_profitability
from tradewatch.bulk_exchange.raw_store import RawKey, insert_response
from tradewatch.warehouse.snapshots import SnapshotError, compute_snapshots
from tradewatch.bulk_exchange.client import ExchangeResponse, exchange_body, exchange_path
from tradewatch.watchlist import load_watchlist, parse_watchlist
from helpers.raw_rows import body_values, select_raw

DATA = Path(__file__).parent / "data"
START = datetime(2025, 3, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
GREED = "deafening-essence-of-greed"


@pytest.fixture
def watchlist():
    return load_watchlist()


def _history(pool, watchlist, hours: int = 4):
    # one process: a worker pool costs more than it saves for a few hours
    return simulate_history(pool, watchlist, START, START + hours * HOUR, workers=1)


def _rows(url: str, table: str, order: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'warehouse' "
            "AND table_name = %s AND column_name <> 'computed_at' ORDER BY ordinal_position", (table,))]
        return conn.execute(f"SELECT {', '.join(columns)} FROM warehouse.{table} ORDER BY {order}").fetchall()


def _snapshot_rows(url):
    return _rows(url, "price_snapshots", "observed_hour, item_id")


def _profit_rows(url):
    return _rows(url, "reroll_profitability", "observed_hour, strategy, policy")


def _response(body: dict, item: str, paid_with: str, hour: datetime) -> ExchangeResponse:
    return ExchangeResponse(
        request_path=exchange_path("poe1", "Standard"), request_body=exchange_body(paid_with, item), status_code=200,
        body=body, rate_limit_headers={}, fetched_at=hour + timedelta(minutes=5), duration_ms=12.0, attempt=1,
        response_bytes=len(json.dumps(body)), raw_body=json.dumps(body).encode())


# --- snapshots -------------------------------------------------------------------------------


def test_snapshots_of_simulated_books_equal_summarize_book_of_the_stored_response(pool, database_url, watchlist):
    _history(pool, watchlist, hours=2)
    report = compute_snapshots(pool, watchlist, START, START + 2 * HOUR)
    assert report.rows == 2 * len(watchlist.items) and not report.missing and not report.bad_prices
    with psycopg.connect(database_url) as conn:
        pairs = select_raw(
            conn, "s.item_id, s.min_price, s.robust_min_price, s.listing_count, s.total_stock, s.bought, s.spent, "
            "s.avg_price, s.book, s.simulated, s.observed_at, response_body, r.fetched_at",
            "JOIN warehouse.price_snapshots s ON r.id = s.raw_response_id")
    assert len(pairs) == report.rows
    for item, min_p, robust, listings, stock, bought, spent, avg, book, simulated, observed_at, body, fetched in pairs:
        expected = summarize_book(body, item, "divine", 500)
        assert (min_p, robust, listings, stock, bought, avg) == (
            expected.min_price, expected.robust_min_price, expected.listing_count, expected.total_stock,
            expected.bought, expected.avg_price)
        assert spent == pytest.approx(expected.spent, rel=1e-12)
        # the stored ladder is enough to re-price any quantity later
        assert depth_cost(offers_from_ladder(book), 500).bought == bought
        assert simulated is True and observed_at == fetched


def test_the_real_example_response_multi_offer_listings_and_an_empty_book(pool, database_url, tmp_path):
    watchlist = parse_watchlist({"league": "Standard", "paid_with": "chaos", "target_quantity": 10,
                                 "items": ["divine", "exalted", "primal-lifeforce"]}, tmp_path / "wl.yaml")
    real = json.loads((DATA / "exchange_response_poe1_ancestor_have_chaos_want_divine.json").read_text())
    key = RawKey("poe1", "Standard", "chaos")
    with pool.connection() as conn:
        insert_response(conn, key, START, "divine", _response(real, "divine", "chaos", START))
        insert_response(conn, key, START, "exalted", _response({"id": "x", "result": {}, "total": 0}, "exalted",
                                                                "chaos", START))
    report = compute_snapshots(pool, watchlist, START, START + HOUR)
    rows = {r[4]: r for r in _snapshot_rows(database_url)}
    # the body is stored as received: equal-price listings are walked in the server's order
    with psycopg.connect(database_url) as conn:
        [(stored,)] = select_raw(conn, "response_body", "WHERE item_id = 'divine'")
    assert stored == real
    expected = summarize_book(real, "divine", "chaos", 10)
    divine = rows["divine"]
    assert (divine[6], divine[8], divine[9], divine[11], divine[13]) == (
        expected.listing_count, expected.min_price, expected.robust_min_price, expected.bought, expected.avg_price)
    assert expected.listing_count == 3
    empty = rows["exalted"]
    assert empty[6] == 0 and empty[8] is None and empty[9] is None and empty[13] is None and empty[14] == []
    # an item without a stored response has no row: it is reported missing instead
    assert "primal-lifeforce" not in rows
    assert report.missing == {"2025-03-01-00:00": ("primal-lifeforce",)}
    assert report.hours[0].empty_books == ("exalted",)


def test_rematerializing_a_window_replaces_it_without_duplicates(pool, database_url, watchlist):
    _history(pool, watchlist, hours=2)
    compute_snapshots(pool, watchlist, START, START + 2 * HOUR)
    first = _snapshot_rows(database_url)
    again = compute_snapshots(pool, watchlist, START, START + 2 * HOUR)
    assert again.deleted == again.rows == len(first)
    assert _snapshot_rows(database_url) == first
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM warehouse.raw_trade_responses WHERE item_id = %s AND observed_hour = %s",
                     (GREED, START))
    compute_snapshots(pool, watchlist, START, START + 2 * HOUR)
    after = _snapshot_rows(database_url)
    assert len(after) == len(first) - 1
    assert not any(r[3] == START and r[4] == GREED for r in after)


def test_a_range_run_equals_the_same_hours_run_one_by_one(pool, database_url, watchlist):
    _history(pool, watchlist, hours=4)
    compute_snapshots(pool, watchlist, START, START + 4 * HOUR)
    compute_profitability(pool, watchlist, START, START + 4 * HOUR)
    ranged = (_snapshot_rows(database_url), _profit_rows(database_url))
    with psycopg.connect(database_url) as conn:
        conn.execute("TRUNCATE warehouse.price_snapshots, warehouse.reroll_profitability")
    for i in range(4):
        compute_snapshots(pool, watchlist, START + i * HOUR, START + (i + 1) * HOUR)
        compute_profitability(pool, watchlist, START + i * HOUR, START + (i + 1) * HOUR)
    assert (_snapshot_rows(database_url), _profit_rows(database_url)) == ranged
    assert len(ranged[1]) == 4 * 2  # one strategy, two policies, four hours


def test_a_failure_mid_range_leaves_the_earlier_state_intact(pool, database_url, watchlist):
    _history(pool, watchlist, hours=3)
    compute_snapshots(pool, watchlist, START, START + 3 * HOUR)
    before = _snapshot_rows(database_url)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE warehouse.raw_trade_responses SET compression = %s, body_sha256 = %s, body = %s "
                     "WHERE item_id = %s AND observed_hour = %s",
                     (*body_values(json.dumps({"error": {"code": 4, "message": "boom"}}).encode()), GREED,
                      START + HOUR))
    with pytest.raises(SnapshotError, match=rf"{GREED} in hour 2025-03-01-01:00 .*API error"):
        compute_snapshots(pool, watchlist, START, START + 3 * HOUR)
    assert _snapshot_rows(database_url) == before


# --- profitability -----------------------------------------------------------------------------


def test_profitability_rows_for_both_policies_and_none_when_a_strategy_cannot_be_priced(pool, database_url,
                                                                                      watchlist):
    _history(pool, watchlist, hours=2)
    compute_snapshots(pool, watchlist, START, START + 2 * HOUR)
    with psycopg.connect(database_url) as conn:  # hour 2: no price for the reroll item
        conn.execute("DELETE FROM warehouse.price_snapshots WHERE item_id = 'primal-lifeforce' AND observed_hour = %s",
                     (START + HOUR,))
    report = compute_profitability(pool, watchlist, START, START + 2 * HOUR)
    rows = _profit_rows(database_url)
    assert [(r[3], r[4], r[5]) for r in rows] == [("deafening-top5", "optimal", START), ("deafening-top5", "top_k", START)]
    assert "primal-lifeforce" in report.unavailable[START + HOUR]["deafening-top5"]
    top_k, optimal = report.results[("deafening-top5", START)]
    assert optimal.expected_profit_per_unit >= top_k.expected_profit_per_unit - 1e-9
    assert len(top_k.stop_set) == 5


# --- simulated history -------------------------------------------------------------------------


def test_simulated_history_is_marked_and_never_overwrites_a_real_observation(pool, database_url, watchlist):
    real_body = {"id": "real", "result": {}, "total": 0}
    with pool.connection() as conn:
        insert_response(conn, RawKey("poe1", "Standard", "divine"), START + HOUR, GREED,
                        _response(real_body, GREED, "divine", START + HOUR))
    written = simulate_history(pool, watchlist, START, START + 3 * HOUR, workers=2)
    books = len(watchlist.items) + 1  # and the book of divine paid in chaos, as the hourly fetch stores it
    assert written == 3 * books - 1
    with psycopg.connect(database_url) as conn:
        rows = select_raw(conn, "observed_hour, item_id, simulated, response_body, status_code, request_body, paid_with")
    assert len(rows) == 3 * books
    for hour, item, simulated, body, status, request, paid_with in rows:
        if (hour, item) == (START + HOUR, GREED):
            assert simulated is False and body == real_body
        else:
            assert simulated is True and status == 200 and "result" in body
            assert request == exchange_body(paid_with, item)
            assert (item, paid_with) == ("divine", "chaos") or (item in watchlist.items and paid_with == "divine")
    assert sum(item == "divine" for _, item, *_ in rows) == 3
    assert simulate_history(pool, watchlist, START, START + 3 * HOUR, workers=1) == 0  # gaps only


def test_the_simulate_history_command_ends_at_the_current_hour_with_a_progress_bar(database_url, capsys,
                                                                                  monkeypatch):
    from tradewatch.cli.main import main
    from tradewatch.hours import floor_hour, utc_now

    monkeypatch.setenv("TRADEWATCH_DATABASE_URL", database_url)
    assert main(["simulate-history", "--days", "1"]) == 0
    out = capsys.readouterr()
    assert "528 simulated responses written" in out.out and "100%" in out.err  # 24 hours x (21 items + divine)
    with psycopg.connect(database_url) as conn:
        first, last, n = conn.execute("SELECT min(observed_hour), max(observed_hour), count(*) "
                                      "FROM warehouse.raw_trade_responses WHERE simulated").fetchone()
    now = floor_hour(utc_now())
    assert (n, last, first) == (528, now - HOUR, now - 24 * HOUR)


# --- Tableau views and the reader role ---------------------------------------------------------


def test_the_reader_role_reads_both_views_and_nothing_else(pool, database_url, watchlist):
    from tradewatch.warehouse.roles import apply_reader_password
    from pydantic import SecretStr as Secret

    _history(pool, watchlist, hours=1)
    compute_snapshots(pool, watchlist, START, START + HOUR)
    compute_profitability(pool, watchlist, START, START + HOUR)
    apply_reader_password(database_url, Secret("reader-test-pw"))
    url = database_url.replace("://", "://tradewatch_reader:reader-test-pw@", 1).replace("@postgres@", "@", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "tradewatch_reader"
        # sessions start read-only since migration 0006; the privileges must refuse on their own
        conn.execute("SET default_transaction_read_only = off")
        history = conn.execute("SELECT * FROM analytics.price_history ORDER BY item_id").fetchall()
        columns = [d.name for d in conn.execute("SELECT * FROM analytics.price_history LIMIT 0").description]
        assert columns == ["league", "game", "item_id", "item_name", "observed_hour", "observed_at", "paid_with",
                           "min_price", "robust_min_price", "listing_count", "total_stock", "target_quantity",
                           "bought", "spent", "avg_price", "chaos_per_divine", "min_price_chaos", "min_price_divine",
                           "robust_min_price_chaos", "robust_min_price_divine", "avg_price_chaos", "avg_price_divine"]
        assert len(history) == 21
        assert {r[3] for r in history} >= {"Deafening Essence of Greed", "Primal Crystallised Lifeforce"}
        profit = conn.execute("SELECT * FROM analytics.reroll_profitability").fetchall()
        columns = [d.name for d in conn.execute("SELECT * FROM analytics.reroll_profitability LIMIT 0").description]
        assert columns == ["league", "strategy", "policy", "observed_hour", "input_item_id", "input_unit_cost",
                           "reroll_cost", "expected_rerolls", "expected_sale_value", "expected_profit_per_unit",
                           "expected_profit_total", "roi", "break_even_reroll_cost", "chaos_per_divine",
                           "expected_profit_per_unit_chaos", "expected_profit_per_unit_divine",
                           "break_even_reroll_cost_chaos", "break_even_reroll_cost_divine", "price_source"]
        assert {r[2] for r in profit} == {"top_k", "optimal"}
        for statement in (
            "SELECT count(*) FROM warehouse.price_snapshots",
            "SELECT count(*) FROM warehouse.raw_trade_responses",
            "SELECT * FROM public.tradewatch_schema_version",
            "DELETE FROM analytics.alerts",  # a one-table view: only the privilege check refuses it
            "INSERT INTO warehouse.items VALUES ('poe1', 'x', 'x', NULL)",
            "CREATE TABLE analytics.mine (x int)",
            "CREATE TABLE public.mine (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_the_migration_succeeds_when_the_reader_role_already_exists(empty_database_url):
    from helpers.databases import migrate
    from tradewatch.warehouse.migrate import head_revision

    # the session's template database already created the cluster-wide role
    assert migrate(empty_database_url) == head_revision()
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'tradewatch_reader'").fetchone()[0] == 1


def test_the_api_role_reads_what_the_api_serves_and_cannot_write(pool, database_url, watchlist):
    from tradewatch.warehouse.roles import apply_api_password
    from pydantic import SecretStr as Secret

    _history(pool, watchlist, hours=1)
    compute_snapshots(pool, watchlist, START, START + HOUR)
    apply_api_password(database_url, Secret("api-test-pw"))
    url = database_url.replace("://", "://tradewatch_api:api-test-pw@", 1).replace("@postgres@", "@", 1)
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "tradewatch_api"
        assert conn.execute("SELECT count(*) FROM warehouse.price_snapshots").fetchone()[0] == 21
        assert conn.execute("SELECT count(*) FROM warehouse.raw_trade_responses").fetchone()[0] == 22  # and the divine book
        assert conn.execute("SELECT count(*) FROM analytics.price_history").fetchone()[0] == 21
        for statement in (
            "DELETE FROM warehouse.price_snapshots",
            "UPDATE warehouse.raw_trade_responses SET league = 'x'",
            "SELECT count(*) FROM warehouse.rate_limit_hits",
            "CREATE TABLE warehouse.mine (x int)",
        ):
            with pytest.raises(psycopg.Error):
                conn.execute(statement)


def test_worker_processes_write_the_same_snapshots_and_report_the_same_errors(pool, database_url, watchlist,
                                                                              monkeypatch):
    import tradewatch.warehouse.snapshots as snapshots

    monkeypatch.setattr(snapshots, "_CHUNK", 10)  # several chunks in flight, results taken in order
    _history(pool, watchlist, hours=3)
    alone = compute_snapshots(pool, watchlist, START, START + 3 * HOUR, workers=1)
    rows = _snapshot_rows(database_url)
    spread = compute_snapshots(pool, watchlist, START, START + 3 * HOUR, workers=2)
    assert _snapshot_rows(database_url) == rows
    assert (spread.hours, spread.latest, spread.rows) == (alone.hours, alone.latest, alone.rows)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE warehouse.raw_trade_responses SET body = %s WHERE item_id = %s AND observed_hour = %s",
                     (b"not zlib", GREED, START + 2 * HOUR))
    with pytest.raises(SnapshotError, match=rf"{GREED} in hour 2025-03-01-02:00 .*does not decompress"):
        compute_snapshots(pool, watchlist, START, START + 3 * HOUR, workers=2)
    assert _snapshot_rows(database_url) == rows
