"""Benchmark: simulated history, then one single-run backfill of the derived assets.

    python bench/backfill.py --days 30            # the goal: backfill <= 15 s on 2 cores
    python bench/backfill.py --days 365           # a year: <= 60 s
    python bench/backfill.py --days 30 --mode inprocess
    python bench/backfill.py --days 365 --database-url postgresql://postgres@127.0.0.1:5432/tw_bench_year
    python bench/backfill.py --days 90 --database-url postgresql://postgres@127.0.0.1:5432/tw_bench_year --skip-simulate

1. `simulate_history` (what `tradewatch simulate-history --days N` runs) writes N days of
   hourly raw responses for the 21 watched items into a fresh database.
2. `price_snapshots` + `reroll_profitability` are backfilled over the whole range in ONE
   run, as the UI launches a single-run backfill: by default with
   `dagster asset materialize --partition-range A...B` (a separate process, the
   multiprocess executor, Dagster's storage in the same PostgreSQL); `--mode inprocess`
   uses `materialize(..., partition_key_range=...)` instead.

`--database-url` names the database to use (created when missing, kept afterwards) instead of a
fresh one; with `--skip-simulate` its stored raw responses are reused as they are (simulating a year
takes minutes): the range ends at the last stored hour, and the derived rows and Dagster's run history
are dropped before the backfill, so every run starts from the same state.

The range is the newest N days, ending with the newest complete hour; a size reaching before
the code location's first partition (TRADEWATCH_HISTORY_START) is refused at once.

Prints where the time goes: simulation, the computation inside each step (the assets'
`compute_seconds` metadata), each step's duration, and the rest (process start, code
loading, Dagster's events), then the load average and the commit. Uses
TRADEWATCH_BENCH_DATABASE_URL (a maintenance database URL on a server you own) when set, else
an embedded PostgreSQL in a temporary directory (bench/_databases.py); the fresh database is
dropped after the run.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._context import RunContext  # noqa: E402
from bench._databases import bench_server, fresh_database, kept_database  # noqa: E402
from bench._hours import SizeRefused, newest_complete_hour, newest_range  # noqa: E402
from tradewatch.warehouse.db import get_pool, psycopg2_url, redact  # noqa: E402
from tradewatch.cli.simulated_history import simulate_history  # noqa: E402
from tradewatch.hours import parse_partition_key, partition_key  # noqa: E402
from tradewatch.settings import load_settings  # noqa: E402
from tradewatch.warehouse.migrate import upgrade  # noqa: E402
from tradewatch.watchlist import load_watchlist  # noqa: E402


def _progress(done: int, total: int) -> None:
    if done == total or done % 240 == 0:
        sys.stderr.write(f"\r  simulate-history: {done}/{total} hours")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _step_report(instance, run_id: str) -> dict[str, float]:
    from dagster import DagsterEventType

    starts, durations = {}, {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        if event.event_type == DagsterEventType.STEP_START:
            starts[event.step_key] = record.timestamp
        elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            durations[event.step_key] = record.timestamp - starts.get(event.step_key, record.timestamp)
    return durations


def _timeline(instance, run_id: str, launched: float) -> str:
    """Seconds after launch at which the run started, its first step started and its last step ended."""
    from dagster import DagsterEventType

    marks: dict[str, float] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None:
            continue
        kind = event.event_type
        if kind == DagsterEventType.RUN_START:
            marks.setdefault("run start", record.timestamp)
        elif kind == DagsterEventType.STEP_START:
            marks.setdefault("first step start", record.timestamp)
        elif kind in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
            marks["last step end"] = record.timestamp
        elif kind in (DagsterEventType.RUN_SUCCESS, DagsterEventType.RUN_FAILURE):
            marks["run end"] = record.timestamp
    return ", ".join(f"{name} +{at - launched:.1f} s" for name, at in marks.items())


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of every child process it has waited for."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _latest_metadata(instance, asset: str, key: str):
    from dagster import AssetKey

    event = instance.get_latest_materialization_event(AssetKey(asset))
    return event.asset_materialization.metadata[key].value if event else None


def backfill_range(days: int, newest: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) of the newest `days` days up to `newest` (default: the newest complete hour);
    refused (SizeRefused) when it starts before the code location's first partition."""
    first = load_settings().history_start
    return newest_range(days, timedelta(days=1), parse_partition_key(first), option="--days",
                        first_source="TRADEWATCH_HISTORY_START, the first partition of the code location",
                        newest=newest if newest is not None else newest_complete_hour())


# the derived tables a backfill writes (and the alerts that follow them), emptied before a reused run
_DERIVED = ("warehouse.price_snapshots", "warehouse.book_divine_prices", "warehouse.reroll_profitability")


# Dagster's run history and asset records in its (public) schema; its schema version, instance
# settings and concurrency pools stay, and so does the warehouse's tradewatch_schema_version
_DAGSTER_HISTORY = ("runs", "run_tags", "event_logs", "asset_keys", "asset_event_tags", "asset_check_executions",
                    "snapshots", "bulk_actions", "backfill_tags", "dynamic_partitions", "jobs", "job_ticks",
                    "instigators", "asset_daemon_asset_evaluations")


def _reset_for_reuse(url: str, days: int):
    """Empty the derived tables and Dagster's run history of a reused bench database; the range to backfill."""
    with psycopg.connect(url, autocommit=True) as conn:
        last = conn.execute("SELECT max(observed_hour) FROM warehouse.raw_trade_responses").fetchone()[0]
        if last is None:
            raise SystemExit("--skip-simulate: the database has no stored raw responses; run once without "
                             "--skip-simulate to fill it")
        try:
            start, end = backfill_range(days, newest=last)
        except SizeRefused as exc:
            raise SystemExit(f"--skip-simulate: {exc}") from None
        conn.execute(f"TRUNCATE {', '.join(_DERIVED)}")
        present = {name for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
        dagster_tables = [name for name in _DAGSTER_HISTORY if name in present]
        if dagster_tables:  # Dagster's runs, events and asset records (its schema and settings are kept)
            conn.execute(f"TRUNCATE {', '.join(dagster_tables)}")
    return start, end


def run(days: int, mode: str, url: str, skip_simulate: bool = False) -> None:
    context = RunContext()
    upgrade(url)
    pool = get_pool(url)
    watchlist = load_watchlist()
    if skip_simulate:
        start, end = _reset_for_reuse(url, days)
    else:
        start, end = backfill_range(days)
    first, last = partition_key(start), partition_key(end - timedelta(hours=1))
    hours = days * 24
    print(f"{days} day{'s' if days != 1 else ''} = {hours} partitions × {len(watchlist.items)} items, "
          f"{first} … {last}; database {redact(url)}")

    t0 = time.perf_counter()
    written = 0 if skip_simulate else simulate_history(pool, watchlist, start, end, progress=_progress)
    simulate_s = time.perf_counter() - t0
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE warehouse.raw_trade_responses")  # what a server's autovacuum would do
        size, per_row, body = conn.execute(
            "SELECT pg_size_pretty(pg_total_relation_size('warehouse.raw_trade_responses')), "
            "pg_total_relation_size('warehouse.raw_trade_responses') / greatest(count(*), 1), avg(length(body))::int "
            "FROM warehouse.raw_trade_responses").fetchone()
    print(f"simulate-history: {written} responses in {simulate_s:.1f} s ({written / max(simulate_s, 1e-9):.0f}/s), "
          f"raw table {size}"
          f" = {per_row} bytes per stored response (compressed body {body} bytes; goal <= 40 % of 15,750 = 6,300)")

    home = Path(tempfile.mkdtemp(prefix="tw_bench_dagster_"))
    try:
        _backfill(days, mode, url, pool, home, first, last, hours, simulate_s, context)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _backfill(days: int, mode: str, url: str, pool, home: Path, first: str, last: str, hours: int,
              simulate_s: float, context: RunContext) -> None:
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(home), "TRADEWATCH_DATABASE_URL": url,
           "TRADEWATCH_DAGSTER_PG_URL": psycopg2_url(url)}
    os.environ.update({k: env[k] for k in ("DAGSTER_HOME", "TRADEWATCH_DATABASE_URL", "TRADEWATCH_DAGSTER_PG_URL")})

    load_before = os.getloadavg()
    cpu_before = _cpu_seconds()
    t0, launched = time.perf_counter(), time.time()
    if mode == "cli":
        done = subprocess.run(
            [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "tradewatch_assets.definitions",
             "--select", "price_snapshots,reroll_profitability", "--partition-range", f"{first}...{last}"],
            cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")
            raise SystemExit("the backfill run failed")
    else:
        from dagster import materialize

        from tradewatch_assets.definitions import defs

        import tradewatch_assets.definitions as d
        from dagster import DagsterInstance

        instance = DagsterInstance.get()
        result = materialize([d.price_snapshots, d.reroll_profitability], instance=instance,
                             resources=defs.resources, tags={"dagster/asset_partition_range_start": first,
                                                             "dagster/asset_partition_range_end": last})
        assert result.success
    backfill_s = time.perf_counter() - t0
    cpu_s = _cpu_seconds() - cpu_before

    from dagster import DagsterInstance

    instance = DagsterInstance.get()
    run_record = instance.get_run_records(limit=1)[0]
    steps = _step_report(instance, run_record.dagster_run.run_id)
    snap_compute = _latest_metadata(instance, "price_snapshots", "compute_seconds")
    prof_compute = _latest_metadata(instance, "reroll_profitability", "compute_seconds")
    with pool.connection() as conn:
        n_snap = conn.execute("SELECT count(*) FROM warehouse.price_snapshots").fetchone()[0]
        n_prof = conn.execute("SELECT count(*) FROM warehouse.reroll_profitability").fetchone()[0]
    from dagster import AssetKey

    materializations = len(instance.get_materialized_partitions(AssetKey("price_snapshots")))
    step_total = sum(steps.values())
    with pool.connection() as conn:
        events = conn.execute("SELECT dagster_event_type, count(*) FROM event_logs WHERE run_id = %s "
                              "GROUP BY 1 ORDER BY 2 DESC", (run_record.dagster_run.run_id,)).fetchall()
    goal = {30: " (goal <= 15 s)", 365: " (goal <= 60 s)"}.get(days, "")
    print(f"backfill ({mode}): one run, {backfill_s:.1f} s wall{goal}; {n_snap} snapshot rows, {n_prof} profitability rows; "
          f"{materializations} price_snapshots partitions materialized")
    for step, seconds in steps.items():
        print(f"  step {step}: {seconds:.1f} s")
    print(f"  compute inside steps: snapshots {snap_compute:.1f} s, profitability {prof_compute:.1f} s")
    print(f"  Dagster inside steps (metadata, events, checks): {step_total - snap_compute - prof_compute:.1f} s")
    print(f"  outside steps (process start, code loading, run setup): {backfill_s - step_total:.1f} s")
    print(f"  timeline: {_timeline(instance, run_record.dagster_run.run_id, launched)}, process exit +{backfill_s:.1f} s")
    total_events = sum(n for _, n in events)
    print(f"  Dagster events of the run: {total_events} = {total_events / hours:.2f} per partition ("
          + ", ".join(f"{kind or 'log'} {n}" for kind, n in events[:6]) + ")")
    print(f"  snapshots: {snap_compute * 1000 / max(n_snap, 1):.3f} ms per stored response (goal <= 0.18)")
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  peak RSS: this process {own:.0f} MB, largest child process {child:.0f} MB")
    print(f"  CPU time of the backfill (user + system, every process it ran): {cpu_s:.1f} s "
          f"(wall on a loaded machine stretches; CPU time much less)")
    print("  load average (1, 5, 15 min): before the backfill " + " ".join(f"{v:.2f}" for v in load_before)
          + ", after " + " ".join(f"{v:.2f}" for v in os.getloadavg()))
    print(f"TOTAL simulate {simulate_s:.1f} s + backfill {backfill_s:.1f} s = {simulate_s + backfill_s:.1f} s")
    print(context.line())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30, help="the newest N days, up to the newest complete hour "
                        "(default 30; 1 is the smallest)")
    parser.add_argument("--mode", choices=["cli", "inprocess"], default="cli")
    parser.add_argument("--database-url", help="use (and keep) this database instead of a fresh one")
    parser.add_argument("--skip-simulate", action="store_true",
                        help="reuse the raw responses already stored in --database-url")
    args = parser.parse_args()
    if args.skip_simulate and not args.database_url:
        parser.error("--skip-simulate needs --database-url (the database whose raw responses are reused)")
    if not args.skip_simulate:  # a reused database's range ends at its last stored hour: checked there
        try:
            backfill_range(args.days)
        except SizeRefused as exc:
            parser.error(str(exc))
    with ExitStack() as stack:
        if args.database_url:
            try:
                url = kept_database(args.database_url)
            except ValueError as exc:
                parser.error(f"--database-url: {exc}")
        else:
            url = stack.enter_context(fresh_database(stack.enter_context(bench_server()), "tw_bench_backfill"))
        run(args.days, args.mode, url, args.skip_simulate)


if __name__ == "__main__":
    main()
