"""Benchmark: a Currency Exchange backfill of 720 hours from the local simulator, at realistic size.

    python bench/currency_exchange.py                  # 720 hours, dagster CLI, 1,500 markets/hour
    python bench/currency_exchange.py --hours 168 --mode inprocess
    python bench/currency_exchange.py --hours 1 --markets 100   # the smallest run (bench-smoke)

The range is the newest N hours the feed has published (the last ends at least the simulator's
publication delay ago): never past the present, and a size reaching before the realm's first
hour (TRADEWATCH_CX_HISTORY_START, default 2024-07-26-20:00) is refused at once.

1. The simulator runs as its own process (`python -m trade_sim`), serving 1.0–1.6 MB
   documents (1,500 markets per hour on average), like a recent real PC hour.
2. `raw_currency_exchange` is backfilled over the range in ONE run, as the UI launches a
   single-run backfill (`dagster asset materialize --partition-range A...B`, the project's
   dagster.yaml, Dagster's storage in the same PostgreSQL), with the polite ceiling raised
   (TRADEWATCH_CX_MAX_PER_MINUTE, TRADEWATCH_CX_MAX_IN_FLIGHT: the simulator is local).
   Goal: ≤ 60 s on 2 cores.
3. `exchange_prices` over the same range, one run. Goal: ≤ 30 s.
4. The storage ratio (bytes stored / bytes received, and the table's size on disk), and the
   projection for the full PC history (every hour from its first to now, ~20,700): disk, and the time at the default
   polite ceiling against the public copy.

Uses TRADEWATCH_BENCH_DATABASE_URL (a maintenance database URL on a server you own) when set,
else an embedded PostgreSQL in a temporary directory (bench/_databases.py). Prints the load
average and the commit after its figures.

    python bench/currency_exchange.py --reuse-db tw_bench_cx_keep   # exchange_prices alone, after a first run

`--reuse-db NAME` keeps the database NAME (on the TRADEWATCH_BENCH_DATABASE_URL server) after the
run and, when it already holds every raw hour of the range, skips the raw backfill: to iterate on
`exchange_prices` alone (the range moves with the clock: hours it does not hold yet are fetched).
Each run uses a fresh Dagster home, so the prices run is always a full one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path

import psutil
import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._context import RunContext  # noqa: E402
from bench._databases import bench_server, database_name, fresh_database, kept_database, with_database  # noqa: E402
from bench._hours import SizeRefused, newest_complete_hour, newest_range  # noqa: E402
from tests.helpers.servers import free_port  # noqa: E402
from trade_sim import SimConfig  # noqa: E402
from tradewatch.hours import HOUR, parse_partition_key, partition_key  # noqa: E402
from tradewatch.settings import load_settings  # noqa: E402
from tradewatch.warehouse.db import psycopg2_url  # noqa: E402
from tradewatch.warehouse.migrate import upgrade  # noqa: E402
from tradewatch_assets.currency_exchange.partitions import first_hour  # noqa: E402

REALM = "pc"


def _bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The realm's first hour (of both the partitions and the simulated feed) and the newest it has published."""
    sim = SimConfig.from_env()
    first = max(parse_partition_key(first_hour(REALM)), sim.cx_first_hour)
    return first, newest_complete_hour(now, published_after=timedelta(seconds=sim.cx_publish_delay_seconds))


def hour_range(hours: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[start, end) of the newest `hours` hours the simulator has published by `now`; refused
    (SizeRefused) when they reach before the realm's first hour."""
    first, newest = _bounds(now)
    return newest_range(hours, HOUR, first, option="--hours", newest=newest,
                        first_source="the realm's first hour: TRADEWATCH_CX_HISTORY_START and the simulator's")


def full_history_hours(now: datetime | None = None) -> int:
    """How many hours the realm's whole history holds today."""
    first, newest = _bounds(now)
    return (newest + HOUR - first) // HOUR


def _start_sim(markets: int, probe: datetime) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "trade_sim", "--port", str(port), "--cx-markets-per-hour",
                             str(markets)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{port}/api/currency-exchange"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"{url}/{int(probe.timestamp())}", timeout=5)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the simulator did not start")


def _tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of a process and all its descendants (the dagster run and its pricing workers)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass  # exited between the listing and the reading
    return total


def _materialize(mode: str, asset: str, first: str, last: str, env: dict) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes of the run's process tree, sampled every 0.2 s; 0 in-process)."""
    started = time.perf_counter()
    peak = 0
    if mode == "cli":
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "tradewatch_assets.definitions",
                 "--select", asset, "--partition-range", f"{first}...{last}"],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            watched = psutil.Process(proc.pid)
            while True:
                try:
                    proc.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    peak = max(peak, _tree_rss(watched))
            if proc.returncode != 0:
                out.seek(0)
                print(out.read()[-6000:].decode(errors="replace"))
                raise SystemExit(f"the {asset} run failed")
    else:
        from dagster import DagsterInstance, materialize

        import tradewatch_assets.definitions as d

        selected = [a for a in d.defs.assets if a.key.to_user_string() == asset]
        result = materialize(selected, instance=DagsterInstance.get(), resources=d.defs.resources,
                             tags={"dagster/asset_partition_range_start": first,
                                   "dagster/asset_partition_range_end": last})
        assert result.success
    return time.perf_counter() - started, peak


def _stored_hours(url: str, start: datetime, end: datetime) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM warehouse.raw_currency_exchange WHERE realm = %s "
            "AND observed_hour >= %s AND observed_hour < %s", (REALM, start, end)).fetchone()[0]


def run(hours: int, mode: str, markets: int, in_flight: int, url: str, reused: bool = False) -> None:
    context = RunContext()
    start, end = hour_range(hours)
    sim, cx_url = _start_sim(markets, start)
    home = Path(tempfile.mkdtemp(prefix="tw_bench_dagster_"))
    try:
        upgrade(url)
        first, last = partition_key(start), partition_key(end - HOUR)
        reuse_raw = reused and _stored_hours(url, start, end) == hours
        (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
        env = {**os.environ, "DAGSTER_HOME": str(home), "TRADEWATCH_DATABASE_URL": url,
               "TRADEWATCH_DAGSTER_PG_URL": psycopg2_url(url), "TRADEWATCH_CX_URL": cx_url,
               "TRADEWATCH_CX_MAX_PER_MINUTE": "100000", "TRADEWATCH_CX_MAX_IN_FLIGHT": str(in_flight)}
        os.environ.update(env)
        print(f"{hours} hours {first} … {last}, ~{markets} markets/hour, {in_flight} in flight, mode {mode}")
        if reuse_raw:
            print(f"raw_currency_exchange: reusing the {hours} hours stored in database {database_name(url)} (no backfill)")
            raw_s = None
        else:
            raw_s, raw_rss = _materialize(mode, "raw_currency_exchange", first, last, env)
        with psycopg.connect(url) as conn:
            n, received, stored, markets_total = conn.execute(
                "SELECT count(*), sum(response_bytes), sum(stored_bytes), sum(market_count) "
                "FROM warehouse.raw_currency_exchange WHERE realm = %s AND observed_hour >= %s AND observed_hour < %s",
                (REALM, start, end)).fetchone()
            if n == 0:
                raise SystemExit(f"raw_currency_exchange stored none of the hours {first} … {last}: see the run's log")
            table = conn.execute("SELECT pg_total_relation_size('warehouse.raw_currency_exchange')").fetchone()[0]
        if raw_s is not None:
            print(f"raw_currency_exchange: {n} hours in {raw_s:.1f} s wall ({n / raw_s:.1f} hours/s; goal ≤ 60 s for 720); "
                  f"{received / 1e6:.1f} MB received ({received / n / 1e6:.2f} MB/hour, {markets_total / n:.0f} markets/hour), "
                  f"{stored / 1e6:.1f} MB stored = {stored / received:.1%} (table on disk {table / 1e6:.1f} MB = "
                  f"{table / received:.1%}); peak RSS of the run's processes {raw_rss / 1e6:.0f} MB")
        with psycopg.connect(url, autocommit=True) as conn:
            # a reused database holds the prices of the last run: start from an empty table, as a first run does
            conn.execute("TRUNCATE warehouse.exchange_prices")
            conn.execute("VACUUM ANALYZE warehouse.raw_currency_exchange")
        prices_s, prices_rss = _materialize(mode, "exchange_prices", first, last, env)
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT count(*) FROM warehouse.exchange_prices").fetchone()[0]
            prices_table = conn.execute("SELECT pg_total_relation_size('warehouse.exchange_prices')").fetchone()[0]
        # the same asset over its first hour alone: the run's fixed cost (CLI start, code loading, run
        # setup), which a 20,000-hour run pays once, not 20,000 / hours times
        fixed_s = prices_s if hours == 1 else _materialize(mode, "exchange_prices", first, first, env)[0]
        per_hour = (prices_s - fixed_s) / max(hours - 1, 1)
        print(f"exchange_prices: {rows} rows in {prices_s:.1f} s wall (goal ≤ 30 s for 720 hours; "
              f"≤ 21.6 s for the full history in ≤ 10 min), {prices_s / hours * 1000:.1f} ms/hour; "
              + ("one hour alone " if hours > 1 else "")
              + (f"{fixed_s:.1f} s, so {per_hour * 1000:.1f} ms per further hour; " if hours > 1 else
                 "(one hour alone: the cost per further hour needs 2 or more); ")
              + f"table {prices_table / 1e6:.1f} MB; "
              f"peak RSS of the run's processes {prices_rss / 1e6:.0f} MB")
        per_hour_raw, per_hour_prices = table / n, prices_table / hours
        full = full_history_hours()
        ceiling = load_settings({}, None).cx_max_per_minute
        print(f"projection for the full PC history ({full:,} hours): raw {per_hour_raw * full / 1e9:.1f} GB "
              f"+ prices {per_hour_prices * full / 1e9:.1f} GB on disk; "
              f"fetch at the default polite ceiling ({ceiling}/min) {full / ceiling / 60:.1f} h; "
              f"at this run's local speed "
              + (f"{full / n * raw_s / 60:.1f} min raw + " if raw_s is not None else "")
              + f"{full / hours * prices_s / 60:.1f} min prices (linear)"
              + (f", {(fixed_s + per_hour * full) / 60:.1f} min (one run's fixed cost + {full:,} × "
                 "the cost per further hour; goal ≤ 10 min)" if hours > 1 else ""))
        print(context.line())
    finally:
        sim.kill()
        sim.wait()
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, default=720, help="the newest N published hours (default 720; "
                        "1 is the smallest)")
    parser.add_argument("--mode", choices=["cli", "inprocess"], default="cli")
    parser.add_argument("--markets", type=int, default=1500, help="markets per hour on average (default 1500)")
    parser.add_argument("--in-flight", type=int, default=8, help="hours fetched at once (default 8)")
    parser.add_argument("--reuse-db", metavar="NAME", help="keep database NAME; skip the raw backfill when it holds "
                        "the range already (needs TRADEWATCH_BENCH_DATABASE_URL)")
    args = parser.parse_args()
    configured = os.environ.get("TRADEWATCH_BENCH_DATABASE_URL")
    if args.reuse_db and not configured:
        parser.error("--reuse-db needs TRADEWATCH_BENCH_DATABASE_URL (an embedded server is gone after the run)")
    try:
        hour_range(args.hours)
    except SizeRefused as exc:
        parser.error(str(exc))
    with ExitStack() as stack:
        server = stack.enter_context(bench_server())
        if args.reuse_db:
            try:
                url = kept_database(with_database(server, args.reuse_db))
            except ValueError as exc:
                parser.error(f"--reuse-db: {exc}")
        else:
            url = stack.enter_context(fresh_database(server, "tw_bench_cx"))
        run(args.hours, args.mode, args.markets, args.in_flight, url, reused=bool(args.reuse_db))


if __name__ == "__main__":
    main()
