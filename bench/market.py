"""Benchmark: the market overview over 30 days of full-size simulated Currency Exchange hours.

    .venv/bin/python bench/market.py                  # 720 hours (30 days), ~1,600 markets an hour, 9 leagues
    .venv/bin/python bench/market.py --hours 240 --reuse-db tw_bench_market_keep
    .venv/bin/python bench/market.py --hours 192 --markets 200   # bench/smoke.py's run: checks it runs

1. The simulator (real HTTP, `SimServer`) serves full-size PC hours; they are ingested and priced
   (`ingest_range`, `compute_exchange_prices`), then the market rollups are built over the range
   (`compute_market_hourly`, `compute_market_latest`).
2. Keeping the market current: the newest hour's `exchange_prices` run, then that hour's
   `exchange_market_hourly` (the hour packed) and `exchange_market_latest` (the hour published), what the
   eager assets run every hour, each timed (median of `--repeat` runs), plus the per-market totals' daily
   count spread over its 24 hours. Goal: market ≤ 20 % of the exchange_prices run.
3. The API over real HTTP (uvicorn, the read-only role): p50 of the first page of `market`, a
   `market` search (goal ≤ 25 ms each), `marketItem` (≤ 15 ms), a 30-day hourly `exchangePrices`
   of one item (≤ 10 ms); and the first read of an hour, when the API computes the league's overview from
   its packed hours (once per league and hour; no goal).

Uses TRADEWATCH_BENCH_DATABASE_URL (a maintenance database URL on a server you own) when set, else
an embedded PostgreSQL in a temporary directory. Prints the load average beside the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
# bench/ itself must not be on the path: bench/graphql.py would shadow the graphql package
sys.path = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from bench._context import RunContext  # noqa: E402
from tests.helpers.databases import create_database, drop_database, with_database, with_user  # noqa: E402
from tests.helpers.servers import ServedApp, free_port  # noqa: E402
from tradewatch.warehouse.db import close_pools, get_pool  # noqa: E402
from tradewatch.warehouse.embedded_pg import EmbeddedPostgres  # noqa: E402
from tradewatch.warehouse.migrate import upgrade  # noqa: E402

START = datetime(2025, 3, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
CONTEXT = RunContext()  # the load average at the start, the commit
GOALS_MS = {"market first page": 25, "market search": 25, "market, first read of an hour": None, "marketItem": 15, "exchangePrices 30 d hourly": 10}


def _ingest(pool, url: str, hours: int) -> None:
    from tradewatch.currency_exchange.client import CurrencyExchangeClient
    from tradewatch.currency_exchange.ingest import ingest_range
    from tradewatch.rate_limit import PostgresRateLimiter, Rule

    limiter = PostgresRateLimiter(pool, key="bench-market", pad=0.0, default_rules=[Rule("*", 1_000_000, 60.0, 0.0)])
    client = CurrencyExchangeClient(url, "TradeWatch-bench/1.0", limiter, backoff=0.01, timeout=30.0)
    try:
        report = ingest_range(pool, client, "pc", START, START + hours * HOUR, max_in_flight=4)
    finally:
        client.close()
    if report.missing:
        raise SystemExit(f"{len(report.missing)} hours not stored: {list(report.reasons().items())[:3]}")


def _median_seconds(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _p50_ms(api, query: str, variables: dict, n: int) -> float:
    times = []
    for i in range(n + 3):
        started = time.perf_counter()
        body = api.client.post("/graphql", json={"query": query, "variables": variables}).json()
        elapsed = time.perf_counter() - started
        if "errors" in body:
            raise SystemExit(f"the API refused the bench's query: {body['errors'][0]['message']}")
        if i >= 3:  # the first answers warm the pool and the caches
            times.append(elapsed)
    return 1000 * statistics.median(times)


def _cold_p50_ms(api, url: str, query: str, variables: dict, n: int) -> float:
    """p50 of `market` when the league's overview is computed for the request (the first read of an hour): the
    realm's market state is touched before each request, as a new hour or a rewritten one touches it."""
    times = []
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(n):
            conn.execute("UPDATE warehouse.market_state SET computed_at = clock_timestamp() WHERE realm = 'pc'")
            started = time.perf_counter()
            body = api.client.post("/graphql", json={"query": query, "variables": variables}).json()
            times.append(time.perf_counter() - started)
            if "errors" in body:
                raise SystemExit(f"the API refused the bench's query: {body['errors'][0]['message']}")
    return 1000 * statistics.median(times)


def _uncount_week(pool) -> int:
    """Set the realm's per-market totals back by one counted week: that week's exchange-price rows subtracted (a
    market none of whose hours is left removed), its hours no longer counted. Returns the hours taken out."""
    from tradewatch.warehouse.market_rollups import CHAOS_KEY, PAIRS_SELECT

    with pool.connection() as conn, conn.transaction():
        cut = conn.execute("SELECT counted_before FROM warehouse.market_pairs_state WHERE realm = 'pc'").fetchone()[0]
        params = {"realm": "pc", "start": cut - 168 * HOUR, "end": cut, "chaos": CHAOS_KEY}
        day = PAIRS_SELECT.replace("{hours}", "observed_hour >= %(start)s AND observed_hour < %(end)s")
        conn.execute(f"""
            WITH d AS ({day})
            UPDATE warehouse.market_pairs m SET hours = m.hours - d.hours, volume = m.volume - d.volume,
                   quote_volume = m.quote_volume - d.quote_volume
            FROM d WHERE (m.realm, m.item_key, m.league, m.quote_currency) = (d.realm, d.item_key, d.league,
                                                                              d.quote_currency)""", params)
        # first/last hours: those of the hours left (the totals are only read through marketItem's figures)
        conn.execute("DELETE FROM warehouse.market_pairs WHERE realm = 'pc' AND hours = 0")
        hours = conn.execute("DELETE FROM warehouse.market_pairs_hours WHERE realm = 'pc' "
                             "AND observed_hour >= %(start)s", params).rowcount
        conn.execute("UPDATE warehouse.market_pairs_state SET counted_before = %(start)s WHERE realm = 'pc'", params)
    return hours


def run(url: str, hours: int, repeat: int, queries: int, fresh: bool, markets: int | None = None) -> None:
    from trade_sim import SimConfig, SimServer
    from tradewatch.warehouse.exchange_prices import compute_exchange_prices
    from tradewatch.warehouse.market_rollups import compute_market_hourly, compute_market_latest

    pool = get_pool(url)
    end = START + hours * HOUR
    newest = end - HOUR
    if fresh:
        sized = {} if markets is None else {"cx_markets_per_hour": markets}
        with SimServer(SimConfig(time_scale=0.01, **sized)) as sim:
            t = time.perf_counter()
            _ingest(pool, sim.url + "/api/currency-exchange", hours)
            size = "full-size" if markets is None else f"~{markets}-market"
            print(f"ingested {hours} {size} hours in {time.perf_counter() - t:.0f} s", flush=True)
        t = time.perf_counter()
        compute_exchange_prices(pool, "pc", START, end)
        print(f"exchange_prices over the range: {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        compute_market_hourly(pool, "pc", START, end)
        compute_market_latest(pool, "pc")
        print(f"market rollups over the range: {time.perf_counter() - t:.1f} s", flush=True)
        with pool.connection() as conn:
            conn.execute("ANALYZE warehouse.exchange_prices")
            conn.execute("ANALYZE warehouse.market_hours")
    with pool.connection() as conn:
        rows, leagues = conn.execute("SELECT count(*), count(DISTINCT league) FROM warehouse.market_latest "
                                     "WHERE realm = 'pc'").fetchone()
        markets = conn.execute("SELECT avg(market_count) FROM warehouse.raw_currency_exchange").fetchone()[0]
    print(f"{hours} hours, {float(markets):.0f} markets an hour on average, latest market: {rows} rows in "
          f"{leagues} leagues", flush=True)

    # 2. keeping current: the newest hour, as the hourly automation runs it: its exchange_prices, then its
    # exchange_market_hourly (the hour packed; the per-market totals' count moves only when a UTC week is complete)
    # and exchange_market_latest (the hour published). Before each run the published hour is set back to the hour
    # before (untimed). The week's count of the totals is timed apart and spread over the hours it counts.
    prices = _median_seconds(lambda: compute_exchange_prices(pool, "pc", newest, end), repeat)
    with pool.connection() as conn:  # the totals counted as the hourly runs leave them (a --reuse-db may differ)
        for table in ("market_pairs", "market_pairs_hours", "market_pairs_state"):
            conn.execute(f"DELETE FROM warehouse.{table} WHERE realm = 'pc'")
    compute_market_hourly(pool, "pc", newest, end)
    hourly_times, latest_times, count_times = [], [], []
    for _ in range(repeat):
        compute_market_latest(pool, "pc", newest - HOUR)
        t = time.perf_counter()
        hourly_report = compute_market_hourly(pool, "pc", newest, end)
        hourly_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        report = compute_market_latest(pool, "pc")
        latest_times.append(time.perf_counter() - t)
        if report.mode != "published" or "rebuilt" in hourly_report.pairs:
            raise SystemExit(f"the hour was not kept as the automation keeps it ({report.mode}, {hourly_report.pairs})")
        # the totals' weekly count: the count set back one week (that week's rows taken out of the totals), then
        # the hourly run that counts it again
        week_hours = _uncount_week(pool)
        t = time.perf_counter()
        counted = compute_market_hourly(pool, "pc", newest, end)
        count_times.append(time.perf_counter() - t - hourly_times[-1])
        if "counted to" not in counted.pairs:
            raise SystemExit(f"the totals' week was not counted ({counted.pairs})")
    hourly, latest, count = (statistics.median(x) for x in (hourly_times, latest_times, count_times))
    share = (hourly + latest + count / max(week_hours, 1)) / prices
    print(f"keeping current (median of {repeat}): exchange_prices {1000 * prices:.1f} ms; market hourly "
          f"{1000 * hourly:.1f} ms + hour published {1000 * latest:.1f} ms + the totals' week "
          f"{1000 * count:.0f} ms / {week_hours} hours = {100 * share:.0f} % of it (goal <= 20 %)", flush=True)

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE warehouse.market_pairs")
        conn.execute("VACUUM ANALYZE warehouse.market_hours")
        # loaded by migration 0016 and by the writer: never analyzed where autovacuum is off (this server may be
        # a test server), and with no statistics the planner probes the catalogue once per row of `market`
        conn.execute("ANALYZE warehouse.exchange_catalogue")

    # 3. the API
    from graphql_api.app import create_app
    from graphql_api.config import ApiSettings
    from pydantic import SecretStr as Secret
    from tradewatch.warehouse.roles import API_ROLE, apply_api_password
    from tradewatch.watchlist import load_watchlist

    apply_api_password(url, Secret("bench-api-pw"))
    api = ServedApp(create_app(with_user(url, API_ROLE, "bench-api-pw"), settings=ApiSettings(),
                               watchlist=load_watchlist()))
    try:
        league = "Settlers"
        page = api.client.post("/graphql", json={"query": 'query { market(league: "Settlers", first: 1) { nodes { '
                                                          'item { id metadataPath name } } } }'}).json()
        top = page["data"]["market"]["nodes"][0]["item"]
        market_q = """query($league: String!, $search: String) { market(league: $league, search: $search) {
          totalCount hour pageInfo { hasNextPage endCursor }
          nodes { item { id name category metadataPath tradeId named goldFee image } price change24h change7d
                  volume24h value24h lowConfidence sparkline } } }"""
        item_q = """query($id: ID!) { marketItem(id: $id) { item { id name goldFee }
          leagues { league price priceDivine volume lowConfidence firstHour lastHour }
          markets { league quoteCurrency hours volume } } }"""
        series_q = """query($league: String!, $items: [ID!], $from: DateTime!, $to: DateTime!) {
          exchangePrices(league: $league, items: $items, from: $from, to: $to, bucket: HOUR) {
            points time vwap volume } }"""
        figures = {
            "market first page": _p50_ms(api, market_q, {"league": league}, queries),
            "market search": _p50_ms(api, market_q, {"league": league, "search": "orb"}, queries),
            "market, first read of an hour": _cold_p50_ms(api, url, market_q, {"league": league}, queries),
            "marketItem": _p50_ms(api, item_q, {"id": top["name"]}, queries),
            "exchangePrices 30 d hourly": _p50_ms(api, series_q, {
                "league": league, "items": [top["metadataPath"]], "from": (end - 720 * HOUR).isoformat(),
                "to": end.isoformat()}, queries),
        }
    finally:
        api.stop()
    for name, ms in figures.items():
        goal = f"goal <= {GOALS_MS[name]} ms" if GOALS_MS[name] else "once per league and hour; no goal"
        print(f"{name:30s} p50 {ms:6.1f} ms ({goal})", flush=True)
    print(CONTEXT.line(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=int, default=720, help="hours of history (default 720 = 30 days)")
    parser.add_argument("--markets", type=int, default=None,
                        help="markets per hour on average (default: the simulator's full size, ~1,600; the goals are "
                             "for that size)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each keeping-current step (median)")
    parser.add_argument("--queries", type=int, default=30, help="requests per API figure (p50)")
    parser.add_argument("--reuse-db", default=None, metavar="NAME",
                        help="keep database NAME (on TRADEWATCH_BENCH_DATABASE_URL) and reuse it when it is filled")
    args = parser.parse_args()
    if args.markets is not None and args.markets < 1:
        parser.error(f"--markets {args.markets}: at least 1")
    if args.hours < 192:
        parser.error("--hours must be at least 192 (the overview's eight 24-hour windows)")
    configured = os.environ.get("TRADEWATCH_BENCH_DATABASE_URL")
    server = None
    if configured is None:
        if args.reuse_db:
            parser.error("--reuse-db needs TRADEWATCH_BENCH_DATABASE_URL (an embedded server is gone after the run)")
        server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="tw_bench_pg_")) / "pg", free_port())
        server.start()
        configured = server.url("postgres")
    try:
        if args.reuse_db:
            url = with_database(configured, args.reuse_db)
            with psycopg.connect(configured, autocommit=True) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.reuse_db,)).fetchone():
                    conn.execute(f'CREATE DATABASE "{args.reuse_db}"')
            upgrade(url)
            with psycopg.connect(url) as conn:
                stored = conn.execute("SELECT count(*) FROM warehouse.raw_currency_exchange WHERE realm = 'pc' "
                                      "AND observed_hour >= %s AND observed_hour < %s",
                                      (START, START + args.hours * HOUR)).fetchone()[0]
            if stored and args.markets is not None:
                raise SystemExit(f"--markets {args.markets}: database {args.reuse_db} already holds {stored} hours at the "
                                 "size they were ingested with; --markets applies to a fresh ingest, so drop the "
                                 "database or leave --markets out")
            run(url, args.hours, args.repeat, args.queries, stored < args.hours, args.markets)
        else:
            name, url = create_database(configured, "tw_bench_market")
            try:
                upgrade(url)
                run(url, args.hours, args.repeat, args.queries, True, args.markets)
            finally:
                close_pools()
                drop_database(configured, name)
    finally:
        close_pools()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
