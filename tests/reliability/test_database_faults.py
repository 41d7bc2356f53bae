"""Faults at the database: crashes, killed sessions and killed processes in the middle of a write.

The promise under test (DESIGN.md): raw responses are committed one by one, so what was
committed survives anything; derived windows are replaced in one transaction, so a
reader sees the old rows or the new ones, never a mix; and re-running after any failure
produces exactly what an uninterrupted run produces.

To hit the middle of a write every time rather than by luck, the test holds one row of
the key the writer will reach (an INSERT in a transaction it leaves open). The writer's
statement then waits on that row's lock, visible in `pg_stat_activity`, with everything
before it already written inside its transaction; that is when the fault strikes:

* (a) raw ingest, PostgreSQL crashes (`pg_ctl stop -m immediate`, i.e. no shutdown
  checkpoint, crash recovery on start) and restarts. This uses an embedded server of
  the test's own; the shared test server is never stopped.
* (b) `compute_snapshots` and `compute_profitability` over a range of hours, their
  backend terminated with `pg_terminate_backend` during the COPY that replaces the window.
* (c) a separate process running the derived computation, or the ingest, killed with
  SIGKILL mid-write (`tests/helpers/reliability_worker.py`).

After each: nothing half-written is visible, what was committed before is intact, and a
re-run yields rows identical (all columns but `computed_at`) to an uninterrupted run on
a fresh database. Figures go to the `database_faults` section of the reliability report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator

import psycopg
import pytest

from helpers.databases import create_database, drop_database
from helpers.servers import free_port
from tradewatch.warehouse.db import get_pool
from tradewatch.warehouse.embedded_pg import EmbeddedPostgres
from tradewatch.cli.simulated_history import simulate_history
from tradewatch.hours import HOUR, floor_hour, utc_now
from tradewatch.bulk_exchange.ingest import ingest_hour
from helpers.databases import migrate
from tradewatch.warehouse.profitability import compute_profitability
from tradewatch.rate_limit import PostgresRateLimiter
from tradewatch.warehouse.snapshots import compute_snapshots
from tradewatch.bulk_exchange.client import TradeApiClient
from tradewatch.watchlist import Watchlist, load_watchlist

SECTION = "database_faults"
ROOT = Path(__file__).resolve().parents[2]
START = datetime(2025, 3, 1, tzinfo=timezone.utc)
HOURS = 12
END = START + HOURS * HOUR
LAST = END - HOUR
BOUND = 60.0  # seconds: no wait in this module may take longer
GRACE = timedelta(minutes=15)
# The rate limiter is not under test here (see test_source_faults): a policy that never binds.
NO_LIMIT = "1000:1:1"
HELD_RAW_POSITION = 8  # the ingest is hit while storing the 9th watched item

# --- the rows compared: every column but computed_at (kept last, to tell one write from another) ---

SNAPSHOT_ROWS = """
SELECT s.game, s.league, s.paid_with, s.observed_hour, s.item_id, s.observed_at, s.listing_count, s.total_stock,
       s.min_price, s.robust_min_price, s.target_quantity, s.bought, s.spent, s.avg_price, s.book::text, s.simulated,
       r.observed_hour, r.item_id,  -- raw_response_id as the raw row it names (ids differ between databases)
       s.computed_at
FROM warehouse.price_snapshots s LEFT JOIN warehouse.raw_trade_responses r ON r.id = s.raw_response_id
ORDER BY s.observed_hour, s.item_id
"""
PROFIT_ROWS = """
SELECT game, league, paid_with, strategy, policy, observed_hour, input_item_id, input_unit_cost, quantity, reroll_cost,
       expected_rerolls, expected_sale_value, expected_profit_per_unit, expected_profit_total, roi,
       break_even_reroll_cost, stop_set, simulated, computed_at
FROM warehouse.reroll_profitability ORDER BY strategy, policy, observed_hour
"""
RAW_ROWS = """
SELECT observed_hour, item_id, status_code, request_path, request_body, compression, body_sha256, body, body_origin
FROM warehouse.raw_trade_responses ORDER BY observed_hour, item_id
"""

# --- rows the test holds in an open transaction, so that a writer reaching the same key waits ---

HOLD_RAW = """
INSERT INTO warehouse.raw_trade_responses (game, league, observed_hour, item_id, paid_with, request_path, request_body,
    status_code, compression, body_sha256, body, body_origin, rate_limit_headers, fetched_at, duration_ms, attempt,
    response_bytes)
VALUES (%s, %s, %s, %s, %s, '/held-by-the-test', '{}', 0, 'zlib', '', '', 'received', '{}', now(), 0, 1, 0)
"""
HOLD_SNAPSHOT = """
INSERT INTO warehouse.price_snapshots (game, league, paid_with, observed_hour, item_id, observed_at, listing_count,
    total_stock, target_quantity, bought, spent, book, raw_response_id)
VALUES (%s, %s, %s, %s, %s, now(), 0, 0, 0, 0, 0, '[]', 0)
"""
HOLD_PROFIT = """
INSERT INTO warehouse.reroll_profitability (game, league, paid_with, strategy, policy, observed_hour, input_item_id,
    input_unit_cost, quantity, reroll_cost, expected_rerolls, expected_sale_value, expected_profit_per_unit,
    expected_profit_total, stop_set)
VALUES (%s, %s, %s, %s, 'optimal', %s, 'held-by-the-test', 0, 0, 0, 0, 0, 0, 0, '{}')
"""


@pytest.fixture
def reference_url(pg_server_url, _template_db):
    """A second fresh, migrated database: where the uninterrupted run goes."""
    name, url = create_database(pg_server_url, "tw_ref", template=_template_db)
    yield url
    drop_database(pg_server_url, name)


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return conn.execute(query).fetchall()


def without_timestamp(table: list[tuple]) -> list[tuple]:
    return [row[:-1] for row in table]


def wait_until(predicate: Callable[[], object], what: str, timeout: float = BOUND, poll: float = 0.02):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


def waiting_writer(admin: psycopg.Connection, statement: str, application_name: str | None = None) -> int | None:
    """The pid of a session of this database whose `statement` waits on a lock (our held row), if any."""
    row = admin.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND wait_event_type = 'Lock' AND query LIKE %s AND (%s::text IS NULL OR application_name = %s)",
        (f"%{statement}%", application_name, application_name),
    ).fetchone()
    return row[0] if row else None


@dataclass(frozen=True)
class InFlight:
    """What one writer's open transaction had done when the fault struck."""

    deleted: int  # rows of the table it had deleted (the old window), still visible to everyone else
    copied_bytes: int  # COPY data it had received
    copied_rows: int  # rows its COPY had processed (PostgreSQL may report a batch only once flushed)


def in_flight(admin: psycopg.Connection, pid: int, table: str) -> InFlight:
    """Look inside the open transaction of backend `pid`, which is COPYing into `table`."""
    progress = admin.execute("SELECT bytes_processed, tuples_processed FROM pg_stat_progress_copy WHERE pid = %s",
                             (pid,)).fetchone() or (0, 0)
    # A row deleted by a transaction still in progress stays visible to others, its xmax naming that transaction.
    deleted = admin.execute(
        f"SELECT count(*) FROM {table} WHERE xmax = (SELECT backend_xid FROM pg_stat_activity WHERE pid = %s)",
        (pid,),
    ).fetchone()[0]
    return InFlight(deleted=deleted, copied_bytes=int(progress[0]), copied_rows=int(progress[1]))


@contextmanager
def held_row(url: str, sql: str, params: tuple) -> Iterator[psycopg.Connection]:
    """Insert one row in a transaction left open; rolled back (never committed) on exit."""
    conn = psycopg.connect(url, connect_timeout=10)
    try:
        conn.execute(sql, params)
        yield conn
    finally:
        try:
            conn.rollback()
        except psycopg.Error:
            pass  # the server crashed under it: the row died with the transaction
        conn.close()


def last_copied_item(url: str, hour: datetime) -> str:
    # compute_snapshots writes in ORDER BY observed_hour, item_id (the database's collation): hold its last row
    return rows(url, f"SELECT item_id FROM warehouse.raw_trade_responses WHERE observed_hour = '{hour.isoformat()}' "
                     "ORDER BY item_id DESC LIMIT 1")[0][0]


@dataclass
class Interrupted:
    error: BaseException | None
    writer: InFlight
    seen_during_write: list[tuple]


def terminate_mid_write(url: str, work: Callable[[], object], table: str, query: str) -> Interrupted:
    """Run `work` in a thread; once its COPY into `table` waits on the held row, read what a reader sees,
    then pg_terminate_backend the writer. Returns what `work` raised."""
    outcome: dict[str, BaseException] = {}

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - handed to the test to assert on
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="derived-write", daemon=True)
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
        thread.start()
        try:
            pid = wait_until(lambda: waiting_writer(admin, f"COPY {table}"), f"the COPY into {table} to be in progress")
            writer = in_flight(admin, pid, table)
            seen = rows(url, query)  # a reader while the window is half replaced
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
        finally:
            thread.join(BOUND)
    assert not thread.is_alive(), "the interrupted write never returned"
    return Interrupted(outcome.get("error"), writer, seen)


def trade_client(pool, sim, watchlist: Watchlist) -> TradeApiClient:
    limiter = PostgresRateLimiter(pool, key="reliability", pad=0.02, poll=0.02)
    return TradeApiClient(sim.url, watchlist.game, watchlist.league, "TradeWatch tests", limiter, backoff=0.05)


def exchange_requests(sim) -> int:
    return sum(1 for *_, path in sim.app.state.request_log if "/exchange/" in path)


def worker(mode: str, *args: str, app: str) -> subprocess.Popen:
    """tests/helpers/reliability_worker.py in its own process; its sessions carry `app` as application_name."""
    return subprocess.Popen([sys.executable, "-m", "tests.helpers.reliability_worker", mode, *args], cwd=ROOT,
                            env={**os.environ, "PGAPPNAME": app}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    try:
        proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
        pass


def sessions_of(url: str, app: str) -> int:
    return rows(url, f"SELECT count(*) FROM pg_stat_activity WHERE application_name = '{app}'")[0][0]


def with_history(watchlist: Watchlist, *urls: str) -> None:
    # the same simulated raw hours everywhere: one process, so every database gets them in one order
    for url in urls:
        simulate_history(get_pool(url), watchlist, START, END, workers=1)


def record(figures, name: str, value, unit: str = "", note: str = "") -> None:
    figures.record(SECTION, name, value, unit, note)


def uninterrupted_ingest(url: str, start_sim):
    """Ingest the current hour without faults into `url`; returns what the faulted run needs,
    including a second simulator serving the same market (fixed_hour: identical bodies)."""
    watchlist = load_watchlist()
    items = list(watchlist.items)
    hour = floor_hour(utc_now())
    sim = start_sim(policy=NO_LIMIT, fixed_hour=hour)
    reference_sim = start_sim(policy=NO_LIMIT, fixed_hour=hour)
    reference = ingest_hour(get_pool(url), trade_client(get_pool(url), reference_sim, watchlist),
                            watchlist, hour, utc_now(), GRACE)
    assert reference.fetched == items
    return watchlist, items, items[HELD_RAW_POSITION], hour, sim


# --- (a) the database crashes during a raw write ---

def test_a_database_crash_mid_ingest_keeps_the_committed_items_and_a_rerun_fills_only_the_rest(
        tmp_path, database_url, start_sim, figures):
    # the uninterrupted run, on the shared test server's fresh database
    watchlist, items, held, hour, sim = uninterrupted_ingest(database_url, start_sim)

    # the server this test may crash: its own, on a free port
    server = EmbeddedPostgres(tmp_path / "pg", free_port())
    pool = None
    try:
        server.start()
        url = server.url()
        migrate(url)
        pool = get_pool(url)
        outcome: dict[str, object] = {}

        def ingest() -> None:
            try:
                outcome["report"] = ingest_hour(pool, trade_client(pool, sim, watchlist), watchlist, hour, utc_now(),
                                                GRACE)
            except BaseException as exc:  # noqa: BLE001 - asserted on below
                outcome["error"] = exc

        thread = threading.Thread(target=ingest, name="ingest", daemon=True)
        with held_row(url, HOLD_RAW, (watchlist.game, watchlist.league, hour, held, watchlist.paid_with)):
            with psycopg.connect(url, autocommit=True, connect_timeout=10) as admin:
                thread.start()
                wait_until(lambda: waiting_writer(admin, "INSERT INTO warehouse.raw_trade_responses"),
                           f"the ingest to be writing {held}")
                committed = admin.execute(RAW_ROWS).fetchall()
            # crash: SIGQUIT to every backend, no shutdown checkpoint; the next start replays the WAL
            stopped = server._run("pg_ctl", "-D", str(server.pgdata), "-m", "immediate", "-w", "stop")
            assert stopped.returncode == 0, stopped.stderr
            crashed_at = time.monotonic()
            server.start()
            recovery_seconds = time.monotonic() - crashed_at
        thread.join(BOUND)
        assert not thread.is_alive(), "the ingest never returned after the crash"

        # the ingest failed cleanly: a database error, not a hang and not a partial report
        error = outcome.get("error")
        assert isinstance(error, psycopg.Error), outcome
        assert sorted(r[1] for r in committed) == sorted(items[:HELD_RAW_POSITION])
        after_crash = rows(url, RAW_ROWS)
        # every item committed before the crash survived it, byte for byte; the one being written did not
        assert after_crash == committed

        before = exchange_requests(sim)
        started = time.monotonic()
        rerun = ingest_hour(pool, trade_client(pool, sim, watchlist), watchlist, hour, utc_now(), GRACE)
        rerun_seconds = time.monotonic() - started
        # the re-run (through the same process-wide pool, which must reconnect) asks only for what is missing
        assert rerun.fetched == items[HELD_RAW_POSITION:]
        assert sorted(rerun.already_stored) == sorted(items[:HELD_RAW_POSITION])
        assert exchange_requests(sim) - before == len(items) - HELD_RAW_POSITION

        final = rows(url, RAW_ROWS)
        expected = rows(database_url, RAW_ROWS)
        assert {(r[0], r[1]) for r in final} == {(hour, i) for i in items}
        assert final == expected  # same items and hour, same requests, identical bodies
        duplicates = rows(url, "SELECT item_id FROM warehouse.raw_trade_responses GROUP BY observed_hour, item_id "
                               "HAVING count(*) > 1")
        assert duplicates == []
    finally:
        if pool is not None:
            pool.close()
        server.stop()

    record(figures, "raw ingest: server crashes injected", 1, note="pg_ctl stop -m immediate while an INSERT waits")
    record(figures, "raw ingest: items committed before the crash, still there", len(committed),
           note=f"of {len(items)}; the item being written ({held}) rolled back")
    record(figures, "raw ingest: interrupted run's outcome", type(error).__name__,
           note="ingest raised, nothing half-stored")
    record(figures, "raw ingest: crash recovery (server start)", round(recovery_seconds, 2), "s")
    record(figures, "raw ingest: recovery re-run", round(rerun_seconds, 2), "s",
           f"fetched the {len(rerun.fetched)} missing items only")
    record(figures, "raw ingest: rows identical to an uninterrupted run", len(final), note="same bodies, no duplicates")


# --- (b) the backend of a derived write is terminated mid-transaction ---

def test_a_derived_write_terminated_mid_transaction_leaves_the_old_window_and_a_rerun_matches_a_clean_run(
        database_url, reference_url, figures):
    watchlist = load_watchlist()
    key = (watchlist.game, watchlist.league, watchlist.paid_with)
    with_history(watchlist, database_url, reference_url)
    clean = get_pool(reference_url)
    compute_snapshots(clean, watchlist, START, END)
    compute_profitability(clean, watchlist, START, END)
    expected_snapshots = without_timestamp(rows(reference_url, SNAPSHOT_ROWS))
    expected_profit = without_timestamp(rows(reference_url, PROFIT_ROWS))
    assert len(expected_snapshots) == HOURS * len(watchlist.items)
    assert len(expected_profit) == HOURS * 2 * len(watchlist.strategies)

    pool = get_pool(database_url)
    # an earlier run committed every hour but the last; now the whole range is recomputed
    compute_snapshots(pool, watchlist, START, LAST)
    compute_profitability(pool, watchlist, START, LAST)
    old_snapshots, old_profit = rows(database_url, SNAPSHOT_ROWS), rows(database_url, PROFIT_ROWS)
    assert len(old_snapshots) == (HOURS - 1) * len(watchlist.items)

    checked = 0
    reruns: dict[str, float] = {}
    struck: dict[str, InFlight] = {}
    for name, table_query, hold, hold_key, compute, expected, old in (
        ("price_snapshots", SNAPSHOT_ROWS, HOLD_SNAPSHOT, (*key, LAST, last_copied_item(database_url, LAST)),
         compute_snapshots, expected_snapshots, old_snapshots),
        ("reroll_profitability", PROFIT_ROWS, HOLD_PROFIT, (*key, watchlist.strategies[-1].name, LAST),
         compute_profitability, expected_profit, old_profit),
    ):
        with held_row(database_url, hold, hold_key):
            hit = terminate_mid_write(database_url, lambda: compute(pool, watchlist, START, END),
                                      f"warehouse.{name}", table_query)
        assert isinstance(hit.error, psycopg.OperationalError), hit.error  # the run fails, loudly
        # readers during the write and after the failure see the old window: same rows, same write
        assert hit.seen_during_write == old
        assert rows(database_url, table_query) == old
        # ... although the fault struck half way through the replace: the whole old window already
        # deleted and the new rows sent, inside the transaction that was then killed
        assert hit.writer.deleted == len(old)
        assert hit.writer.copied_bytes > 0
        struck[name] = hit.writer

        started = time.monotonic()
        compute(pool, watchlist, START, END)  # the same pool: its killed connection must not come back
        reruns[name] = time.monotonic() - started
        now = rows(database_url, table_query)
        assert without_timestamp(now) == expected
        assert len({r[-1] for r in now}) == 1  # one transaction wrote the whole window
        checked += len(expected)

    record(figures, "derived: backends terminated mid-COPY", 2,
           note="pg_terminate_backend, snapshots then profitability")
    record(figures, "derived: old rows already deleted by the terminated transactions",
           sum(w.deleted for w in struck.values()),
           note=", ".join(f"{k} {w.deleted}" for k, w in struck.items()) + "; all still visible to readers")
    record(figures, "derived: new rows already sent in the terminated transactions",
           sum(w.copied_bytes for w in struck.values()) // 1024, "kB",
           note=", ".join(f"{k} {w.copied_rows} rows reported by COPY progress" for k, w in struck.items())
           + "; none ever visible")
    record(figures, "derived: hour partitions checked for half-writes (terminated)", 2 * HOURS,
           note="during the write and after: exactly the old rows (same computed_at)")
    record(figures, "derived: rows identical to a clean run after re-run (terminated)", checked,
           note="all columns but computed_at")
    for name, seconds in reruns.items():
        record(figures, f"derived: recovery re-run of {HOURS} h of {name}", round(seconds, 2), "s")


# --- (c) the process running a write is killed with SIGKILL ---

def test_a_derived_run_killed_with_sigkill_mid_write_leaves_no_half_window_and_a_rerun_completes(
        database_url, reference_url, figures):
    watchlist = load_watchlist()
    key = (watchlist.game, watchlist.league, watchlist.paid_with)
    middle = START + (HOURS // 2) * HOUR
    with_history(watchlist, database_url, reference_url)
    clean = get_pool(reference_url)
    compute_snapshots(clean, watchlist, START, END)
    compute_profitability(clean, watchlist, START, END)
    expected_snapshots = without_timestamp(rows(reference_url, SNAPSHOT_ROWS))
    expected_profit = without_timestamp(rows(reference_url, PROFIT_ROWS))

    pool = get_pool(database_url)
    # committed successes: the first half of the range
    compute_snapshots(pool, watchlist, START, middle)
    compute_profitability(pool, watchlist, START, middle)
    committed_snapshots, committed_profit = rows(database_url, SNAPSHOT_ROWS), rows(database_url, PROFIT_ROWS)
    assert {r[3] for r in committed_snapshots} == {START + h * HOUR for h in range(HOURS // 2)}

    app = f"tw-killed-{uuid.uuid4().hex[:8]}"
    with held_row(database_url, HOLD_SNAPSHOT, (*key, LAST, last_copied_item(database_url, LAST))):
        proc = worker("derived", database_url, middle.isoformat(), END.isoformat(), app=app)
        try:
            with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as admin:
                pid = wait_until(lambda: waiting_writer(admin, "COPY warehouse.price_snapshots", app),
                                 "the worker's COPY to be in progress")
                writer = in_flight(admin, pid, "warehouse.price_snapshots")
            proc.send_signal(signal.SIGKILL)
            proc.wait(BOUND)
            assert proc.returncode == -signal.SIGKILL
        finally:
            stop(proc)
    # The held row is gone; the orphaned backend finishes its COPY, finds its client gone before any
    # COMMIT and rolls back. Wait (bounded) until it has left.
    wait_until(lambda: sessions_of(database_url, app) == 0, "the killed worker's sessions to end")
    assert writer.copied_bytes > 0  # the killed half was on its way in
    assert rows(database_url, SNAPSHOT_ROWS) == committed_snapshots  # the half in flight: not one row
    assert rows(database_url, PROFIT_ROWS) == committed_profit

    started = time.monotonic()
    rerun = worker("derived", database_url, middle.isoformat(), END.isoformat(), app=app)
    try:
        out, err = rerun.communicate(timeout=BOUND)
    finally:
        stop(rerun)
    rerun_seconds = time.monotonic() - started
    assert rerun.returncode == 0, err
    done = json.loads(out.split("done", 1)[1])
    assert done["snapshots"] == (HOURS - HOURS // 2) * len(watchlist.items)
    snapshots, profit = rows(database_url, SNAPSHOT_ROWS), rows(database_url, PROFIT_ROWS)
    assert without_timestamp(snapshots) == expected_snapshots
    assert without_timestamp(profit) == expected_profit
    # the first half is still the first run's write, untouched by the crash and the re-run
    assert [r for r in snapshots if r[3] < middle] == committed_snapshots

    record(figures, "SIGKILL: derived worker killed mid-COPY", 1,
           note=f"{writer.copied_bytes // 1024} kB of new rows already sent in its transaction")
    record(figures, "SIGKILL: hour partitions checked for half-writes (derived)", HOURS,
           note="committed half intact, killed half empty")
    record(figures, "SIGKILL: rows identical to a clean run after re-run (derived)",
           len(expected_snapshots) + len(expected_profit), note="snapshots + profitability")
    record(figures, "SIGKILL: recovery re-run of the killed window (derived)", round(rerun_seconds, 2), "s",
           "a new process, interpreter start included")


def test_an_ingest_killed_with_sigkill_mid_write_keeps_the_committed_items_and_a_rerun_fills_the_rest(
        database_url, reference_url, start_sim, figures):
    watchlist, items, held, hour, sim = uninterrupted_ingest(reference_url, start_sim)

    app = f"tw-killed-{uuid.uuid4().hex[:8]}"
    with held_row(database_url, HOLD_RAW, (watchlist.game, watchlist.league, hour, held, watchlist.paid_with)):
        proc = worker("ingest", database_url, sim.url, hour.isoformat(), app=app)
        try:
            with psycopg.connect(database_url, autocommit=True, connect_timeout=10) as admin:
                wait_until(lambda: waiting_writer(admin, "INSERT INTO warehouse.raw_trade_responses", app),
                           f"the worker to be writing {held}")
                committed = admin.execute(RAW_ROWS).fetchall()
            proc.send_signal(signal.SIGKILL)
            proc.wait(BOUND)
            assert proc.returncode == -signal.SIGKILL
        finally:
            stop(proc)
    # with the held row gone the orphaned INSERT goes through, but its COMMIT never comes
    wait_until(lambda: sessions_of(database_url, app) == 0, "the killed worker's sessions to end")
    assert sorted(r[1] for r in committed) == sorted(items[:HELD_RAW_POSITION])
    assert rows(database_url, RAW_ROWS) == committed

    before = exchange_requests(sim)
    pool = get_pool(database_url)
    started = time.monotonic()
    rerun = ingest_hour(pool, trade_client(pool, sim, watchlist), watchlist, hour, utc_now(), GRACE)
    rerun_seconds = time.monotonic() - started
    assert rerun.fetched == items[HELD_RAW_POSITION:]
    assert exchange_requests(sim) - before == len(items) - HELD_RAW_POSITION
    final = rows(database_url, RAW_ROWS)
    assert final == rows(reference_url, RAW_ROWS)

    record(figures, "SIGKILL: ingest worker killed mid-INSERT", 1,
           note=f"{len(committed)} items committed before it stayed; {held} rolled back")
    record(figures, "SIGKILL: raw rows identical to an uninterrupted run (ingest)", len(final))
    record(figures, "SIGKILL: recovery re-run (ingest)", round(rerun_seconds, 2), "s",
           f"fetched the {len(rerun.fetched)} missing items only")
