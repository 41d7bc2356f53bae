"""Benchmark: the GraphQL API side by side with PostGraphile v4 (the auto-generated GraphQL
server people point at a Postgres table) and the raw SQL floor, on 365 days x 21 items of
hourly snapshots (plus the profitability and Currency Exchange rows of the same hours), in one run.

    .venv/bin/python bench/graphql.py [--database-url URL] [--duration 3] [--connections 4]
                                      [--no-postgraphile] [--no-what-if] [--only NAME]
    .venv/bin/python bench/graphql.py --smoke     # the smallest run (bench-smoke), 20-30 s

Root fields: a 30-day hourly priceSeries of one item, a page of 100 snapshots, latestPrices of
21 items, a 30-day hourly exchangePrices of one item, a page of 100 profitability rows. Both
servers are driven by `wrk` over HTTP with the same request body: one connection for the
latency (p50, p95), `--connections` connections for the throughput (req/s). The floor is the
same rows fetched with psycopg and `json.dumps` in this process, one at a time. Goals (issue 14):
every root field at least as fast as PostGraphile in p50 and req/s, aiming at <= 3x the floor;
the series >= 3x ahead of PostGraphile. Then evaluateStrategy over 7 and 31 days, cold (a
reroll cost not asked before: every hour computed) and cached (the same request again), and the
core's evaluation of one hour.

PostGraphile is installed by this script from the npm registry into build/postgraphile (versions
pinned below; `npm` and `wrk` must be on PATH) and serves the schema `warehouse` of the same
database with postgraphile-plugin-connection-filter. TradeWatch runs under uvicorn (one process,
as deployed); PostGraphile under node (one process).

The history is generated in SQL (price walks and ~25-rung books, the real column shapes) into a
database `tw_bench_graphql`, kept for the next run. Its hours end on a fixed date (END below, in
the past), so that the kept database stays valid. The server is the one --database-url or
TRADEWATCH_BENCH_DATABASE_URL names (a maintenance database URL), else an embedded PostgreSQL
whose data is kept under .tradewatch/bench-pg (bench/_databases.py).
Figures measured on a shared machine are pessimistic for both servers alike; the load average and
the commit are printed under the table.

`--smoke` checks that the bench runs, not how fast: 31 days of history in a fresh database
(dropped afterwards), one 1-second wrk run per shape and server (its req/s is on 1 connection),
evaluateStrategy over 7 days once, and PostGraphile only when build/postgraphile already holds it
(it is not installed from npm in smoke mode).
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named graphql.py: drop its folder from the path so `import graphql` finds graphql-core.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
from contextlib import ExitStack
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
import tempfile
import time
from datetime import datetime, timedelta, timezone

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphql_api.queries.exchange import SERIES_SQL as EXCHANGE_SQL  # noqa: E402
from graphql_api.queries.prices import LATEST_SQL  # noqa: E402
from bench._context import RunContext  # noqa: E402
from bench._databases import bench_server, fresh_database, kept_database, with_database  # noqa: E402
from tests.helpers.servers import free_port, stop_process_group  # noqa: E402
from tradewatch.warehouse.migrate import upgrade  # noqa: E402
from tradewatch.watchlist import load_watchlist  # noqa: E402

DB = "tw_bench_graphql"
DAYS = 365
SMOKE_DAYS = 31  # the longest span a shape asks for (the 31-day what-if)
END = datetime(2026, 1, 1, tzinfo=timezone.utc)  # fixed, so a kept database stays valid
POSTGRAPHILE = {"postgraphile": "4.14.1", "postgraphile-plugin-connection-filter": "2.3.0"}
POSTGRAPHILE_DIR = ROOT / "build" / "postgraphile"
WRK_SCRIPT = Path(__file__).resolve().parent / "graphql_post.lua"

FILL_SQL = """
INSERT INTO warehouse.price_snapshots
    (game, league, paid_with, observed_hour, item_id, observed_at, listing_count, total_stock, min_price,
     robust_min_price, target_quantity, bought, spent, avg_price, book, simulated, raw_response_id)
SELECT 'poe1', %(league)s, %(paid)s, h, i.item_id, h + interval '5 minutes', 20 + (random() * 30)::int,
       5000 + (random() * 20000)::int, p * 0.97, p, 500, 500, p * 1.02 * 500, p * 1.02,
       (SELECT jsonb_agg(jsonb_build_array(p * (1 + k * 0.01), 100, 1000 + k * 10)) FROM generate_series(1, 25) k),
       true, 0
FROM unnest(%(items)s::text[]) WITH ORDINALITY AS i(item_id, n)
CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour', interval '1 hour') AS h
CROSS JOIN LATERAL (SELECT 0.01 * i.n * (1.2 + sin(extract(epoch FROM h) / 86400.0 / 7 + i.n)
                           + 0.1 * random()) AS p) price
"""

PROFIT_FILL_SQL = """
INSERT INTO warehouse.reroll_profitability
    (game, league, paid_with, strategy, policy, observed_hour, input_item_id, input_unit_cost, quantity, reroll_cost,
     expected_rerolls, expected_sale_value, expected_profit_per_unit, expected_profit_total, roi,
     break_even_reroll_cost, stop_set, simulated)
SELECT 'poe1', %(league)s, %(paid)s, s.name, pol, h, %(input)s, p, 500, p * 0.2, 3.5, p * 1.4, p * 0.1, p * 50,
       0.1 * random(), p * 0.4, %(stop)s::text[], true
FROM unnest(%(strategies)s::text[]) AS s(name)
CROSS JOIN unnest(ARRAY['top_k', 'optimal']) AS pol
CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour', interval '1 hour') AS h
CROSS JOIN LATERAL (SELECT 0.05 * (1.2 + sin(extract(epoch FROM h) / 86400.0 / 5)) + 0.001 * random() AS p) price
"""

EXCHANGE_FILL_SQL = ("""
INSERT INTO warehouse.exchange_items (item_key, item_path, item_id, mapped)
SELECT 900000 + n, 'Metadata/Bench/' || item_id, item_id, true FROM unnest(%(items)s::text[]) WITH ORDINALITY AS i(item_id, n)
ON CONFLICT DO NOTHING
""", """
INSERT INTO warehouse.exchange_prices
    (realm, league, item_key, quote_currency, observed_hour, item_first, vwap_price, min_price, max_price, volume,
     quote_volume)
SELECT 'pc', %(league)s, 900000 + i.n, 'chaos', h, true, p, p * 0.95, p * 1.05, v, v * p
FROM unnest(%(items)s::text[]) WITH ORDINALITY AS i(item_id, n)
CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour', interval '1 hour') AS h
CROSS JOIN LATERAL (SELECT 2 * i.n * (1.2 + sin(extract(epoch FROM h) / 86400.0 / 7 + i.n)) + random() AS p,
                           100 + (random() * 900)::int AS v) price
""")


def _fill(conn, table: str, expected: int, sql: str | tuple[str, ...], params: dict) -> None:
    count = conn.execute(f"SELECT count(*) FROM warehouse.{table}").fetchone()[0]
    if count == expected:
        return
    print(f"generating {expected} rows of warehouse.{table} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    conn.execute(f"TRUNCATE warehouse.{table}")
    for statement in (sql,) if isinstance(sql, str) else sql:
        conn.execute(statement, params)
    conn.execute(f"VACUUM ANALYZE warehouse.{table}")
    print(f"... done in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def prepare(url: str, watchlist, days: int = DAYS) -> str:
    """The database at `url`, migrated and holding `days` of history up to END (filled when it does not)."""
    upgrade(url)
    hours = days * 24
    items = list(watchlist.items)
    common = {"league": watchlist.league, "paid": watchlist.paid_with, "items": items,
              "start": END - timedelta(days=days), "end": END}
    strategies = [s.name for s in watchlist.strategies]
    with psycopg.connect(url, autocommit=True) as conn:
        _fill(conn, "price_snapshots", hours * len(items), FILL_SQL, common)
        spec = watchlist.strategies[0]
        _fill(conn, "reroll_profitability", hours * 2 * len(strategies), PROFIT_FILL_SQL,
              {**common, "strategies": strategies, "input": spec.family[0], "stop": list(spec.family[:3])})
        _fill(conn, "exchange_prices", hours * len(items), EXCHANGE_FILL_SQL, common)
    return url


def _wait_until_answering(base: str, proc: subprocess.Popen, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.post(base + "/graphql", json={"query": "{ __typename }"}, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    stop_process_group(proc)
    raise SystemExit(f"{what} did not start answering on {base} within {seconds:.0f} s")


def start_api(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, TRADEWATCH_API_DATABASE_URL=url, TRADEWATCH_DATABASE_URL=url, TRADEWATCH_GRAPHIQL="0")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "graphql_api.app:app", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    _wait_until_answering(base, proc, "the API")
    return proc, base


def install_postgraphile(folder: Path = POSTGRAPHILE_DIR) -> Path:
    """PostGraphile's CLI, installed with npm into `folder` at the pinned versions (once)."""
    installed = True
    for package, version in POSTGRAPHILE.items():
        manifest = folder / "node_modules" / package / "package.json"
        installed &= manifest.exists() and json.loads(manifest.read_text()).get("version") == version
    if not installed:
        if shutil.which("npm") is None:
            raise SystemExit("npm is not on PATH: install Node.js 18+ (it brings npm), or run with --no-postgraphile")
        folder.mkdir(parents=True, exist_ok=True)
        print(f"installing PostGraphile into {folder} ...", file=sys.stderr, flush=True)
        subprocess.run(["npm", "install", "--prefix", str(folder), "--no-audit", "--no-fund", "--save-exact",
                        *(f"{p}@{v}" for p, v in POSTGRAPHILE.items())], check=True, stdout=subprocess.DEVNULL)
    return folder / "node_modules" / ".bin" / "postgraphile"


def start_postgraphile(cli: Path, url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # node-postgres knows no `passfile=` parameter (the embedded server's URLs name their password file
    # that way) but reads the file named by PGPASSFILE
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    env = dict(os.environ)
    if "passfile" in query:
        env["PGPASSFILE"] = query.pop("passfile")[0]
        url = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
    proc = subprocess.Popen([str(cli), "--connection", url, "--schema", "warehouse", "--host", "127.0.0.1",
                             "--port", str(port), "--append-plugins", "postgraphile-plugin-connection-filter",
                             "--disable-query-log", "--disable-graphiql"], cwd=cli.parent.parent.parent,
                            stdout=subprocess.DEVNULL, start_new_session=True, env=env)
    base = f"http://127.0.0.1:{port}"
    _wait_until_answering(base, proc, "PostGraphile")
    return proc, base


def check_answer(base: str, body: dict) -> None:
    response = httpx.post(base + "/graphql", json=body, timeout=30)
    if response.status_code != 200 or b'"errors"' in response.content:
        raise SystemExit(f"{base} answered {response.status_code}: {response.text[:500]}")


def wrk(base: str, body: dict, seconds: float, connections: int) -> dict:
    """p50, p95 (ms) and req/s of `body` POSTed over and over by wrk on `connections` connections."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(body, file)
    try:
        out = subprocess.run(["wrk", "-t", str(min(2, connections)), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                              "-s", str(WRK_SCRIPT), base + "/graphql", "--", file.name],
                             check=True, capture_output=True, text=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(file.name)
    found = re.search(r"^WRK_JSON (.*)$", out, re.M)
    if found is None:
        raise SystemExit(f"wrk printed no figures:\n{out}")
    figures = json.loads(found.group(1))
    if figures["non_2xx"] or figures["socket_errors"]:
        raise SystemExit(f"{base}: {figures['non_2xx']} non-2xx answers, {figures['socket_errors']} socket errors")
    return figures


def measure_server(base: str, body: dict, seconds: float, connections: int, smoke: bool = False) -> dict:
    check_answer(base, body)
    if smoke:  # one short run: the figures only need to come out, not to be right
        latency = wrk(base, body, seconds, 1)
        return {"p50": latency["p50_ms"], "p95": latency["p95_ms"], "rps": latency["rps"]}
    wrk(base, body, 1, 1)  # warm-up: pools, prepared statements, caches, the JIT
    latency = wrk(base, body, seconds, 1)
    throughput = wrk(base, body, seconds, connections)
    return {"p50": latency["p50_ms"], "p95": latency["p95_ms"], "rps": throughput["rps"]}


def measure(fn, n: int) -> dict:
    for _ in range(max(10, n // 10)):  # warm-up: pools, prepared statements, caches
        fn()
    times = []
    started = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - started
    times.sort()
    return {"p50": statistics.median(times), "p95": times[int(len(times) * 0.95) - 1], "rps": n / total}


SNAPSHOT_SQL = """SELECT item_id, observed_hour, observed_at, listing_count, total_stock, min_price, robust_min_price,
bought, spent, avg_price FROM warehouse.price_snapshots WHERE game = %(game)s AND league = %(league)s
AND paid_with = %(paid)s AND observed_hour >= %(start)s AND observed_hour < %(end)s ORDER BY observed_hour, item_id
LIMIT 100"""
SERIES_SQL = """SELECT observed_hour, min_price, avg_price, total_stock, listing_count FROM warehouse.price_snapshots
WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND item_id = %(item)s
AND observed_hour >= %(start)s AND observed_hour < %(end)s ORDER BY observed_hour"""
PROFIT_SQL = """SELECT strategy, policy, observed_hour, input_item_id, input_unit_cost, quantity, reroll_cost,
expected_rerolls, expected_sale_value, expected_profit_per_unit, expected_profit_total, roi, break_even_reroll_cost,
stop_set FROM warehouse.reroll_profitability WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s
AND observed_hour >= %(start)s AND observed_hour < %(end)s ORDER BY observed_hour, strategy, policy LIMIT 100"""


def cases(watchlist) -> dict[str, tuple[dict, dict, str, dict]]:
    """name -> (TradeWatch body, PostGraphile body, floor SQL, its parameters): the same question to each."""
    items = list(watchlist.items)
    greed = items[0]
    month, week = (END - timedelta(days=30)).isoformat(), (END - timedelta(days=7)).isoformat()
    end = END.isoformat()
    p = {"league": watchlist.league, "paid": watchlist.paid_with, "game": watchlist.game}
    cond = f'game: "{watchlist.game}", league: "{watchlist.league}", paidWith: "{watchlist.paid_with}"'
    key = 900000 + 1  # the bench's exchange_items key of the first item
    latest_aliases = " ".join(
        f'i{n}: allPriceSnapshots(condition: {{{cond}, itemId: "{item}"}}, orderBy: OBSERVED_HOUR_DESC, first: 1) '
        '{ nodes { itemId observedHour observedAt minPrice robustMinPrice avgPrice listingCount totalStock } }'
        for n, item in enumerate(items))
    return {
        "30-day hourly series, 1 item": (
            {"query": '{ priceSeries(item: "%s", from: "%s", to: "%s") { time open high low close avgPrice stock '
                      'listingCount } }' % (greed, month, end)},
            {"query": '{ allPriceSnapshots(condition: {%s, itemId: "%s"}, filter: {observedHour: '
                      '{greaterThanOrEqualTo: "%s", lessThan: "%s"}}, orderBy: OBSERVED_HOUR_ASC) { nodes { '
                      'observedHour minPrice avgPrice totalStock listingCount } } }' % (cond, greed, month, end)},
            SERIES_SQL, {**p, "item": greed, "start": END - timedelta(days=30), "end": END}),
        "page of 100 snapshots": (
            {"query": '{ snapshots(from: "%s", to: "%s", first: 100) { nodes { item { id } hour observedAt '
                      'listingCount totalStock minPrice robustMinPrice bought spent avgPrice } pageInfo { endCursor '
                      '} } }' % (week, end)},
            {"query": '{ allPriceSnapshots(condition: {%s}, filter: {observedHour: {greaterThanOrEqualTo: "%s", '
                      'lessThan: "%s"}}, orderBy: [OBSERVED_HOUR_ASC, ITEM_ID_ASC], first: 100) { nodes { itemId '
                      'observedHour observedAt listingCount totalStock minPrice robustMinPrice bought spent avgPrice } '
                      'pageInfo { endCursor } } }' % (cond, week, end)},
            SNAPSHOT_SQL, {**p, "start": END - timedelta(days=7), "end": END}),
        "latest prices, 21 items": (
            {"query": "{ latestPrices { item { id name } hour minPrice robustMinPrice avgPrice listingCount "
                      "totalStock change24h change7d lowConfidence } }"},
            # PostGraphile has no "newest per item": one aliased first-1 connection per item (no changes)
            {"query": "{ %s }" % latest_aliases},
            LATEST_SQL, {**p, "items": items}),
        "exchangePrices 30-day hourly, 1 item": (
            {"query": '{ exchangePrices(items: ["%s"], from: "%s", to: "%s") { item { id } time vwap minPrice '
                      'maxPrice volume quoteVolume } }' % (greed, month, end)},
            {"query": '{ allExchangePrices(condition: {realm: "pc", league: "%s", itemKey: "%d", quoteCurrency: '
                      '"chaos"}, filter: {observedHour: {greaterThanOrEqualTo: "%s", lessThan: "%s"}}, orderBy: '
                      'OBSERVED_HOUR_ASC) { nodes { observedHour vwapPrice minPrice maxPrice volume quoteVolume } } }'
                      % (watchlist.league, key, month, end)},
            EXCHANGE_SQL, {"unit": "hour", "realm": "pc", "league": watchlist.league, "currency": "chaos",
                           "items": [greed], "start": END - timedelta(days=30), "end": END}),
        "profitability page of 100": (
            {"query": '{ profitability(from: "%s", to: "%s", first: 100) { nodes { strategy policy hour inputItem '
                      '{ id } inputUnitCost quantity rerollCost expectedRerolls expectedSaleValue '
                      'expectedProfitPerUnit expectedProfitTotal roi breakEvenRerollCost stopSet } pageInfo { '
                      'endCursor hasNextPage } } }' % (week, end)},
            {"query": '{ allRerollProfitabilities(condition: {%s}, filter: {observedHour: {greaterThanOrEqualTo: '
                      '"%s", lessThan: "%s"}}, orderBy: [OBSERVED_HOUR_ASC, STRATEGY_ASC, POLICY_ASC], first: 100) '
                      '{ nodes { strategy policy observedHour inputItemId inputUnitCost quantity rerollCost '
                      'expectedRerolls expectedSaleValue expectedProfitPerUnit expectedProfitTotal roi '
                      'breakEvenRerollCost stopSet } pageInfo { endCursor hasNextPage } } }' % (cond, week, end)},
            PROFIT_SQL, {**p, "start": END - timedelta(days=7), "end": END}),
    }


def verdict(name: str, tw: dict, pg: dict | None, floor: dict) -> str:
    """The goals of issue 14 for one root field, each with a tick or a cross."""
    out = []
    if pg is not None:
        ahead = pg["p50"] / tw["p50"]
        goal = 3.0 if "series" in name else 1.0
        out.append(f"p50 {ahead:.2f}x PG (goal >= {goal:g}) {'ok' if ahead >= goal else 'MISSED'}")
        rps = tw["rps"] / pg["rps"]
        out.append(f"req/s {rps:.2f}x PG (goal >= {goal:g}) {'ok' if rps >= goal else 'MISSED'}")
    to_floor = tw["p50"] / floor["p50"]
    out.append(f"{to_floor:.1f}x floor (aim <= 3) {'ok' if to_floor <= 3 else 'over'}")
    return "; ".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a maintenance database URL (default TRADEWATCH_BENCH_DATABASE_URL, "
                        "else an embedded PostgreSQL kept under .tradewatch/bench-pg)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of wrk per measurement")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections for the req/s figure")
    parser.add_argument("--requests", type=int, default=300, help="floor queries per measurement")
    parser.add_argument("--no-postgraphile", action="store_true", help="TradeWatch and the floor only")
    parser.add_argument("--no-what-if", action="store_true", help="skip evaluateStrategy")
    parser.add_argument("--only", help="only the root fields whose name contains this")
    parser.add_argument("--smoke", action="store_true", help="the smallest run: checks the bench works, "
                        f"{SMOKE_DAYS} days in a fresh database, 1 s per figure")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not on PATH: install it (apt-get install wrk, or `make system-deps`)")
    if args.duration <= 0 or args.connections < 1 or args.requests < 1:
        parser.error("--duration, --connections and --requests must be positive")
    if args.smoke:
        args.duration, args.requests, args.connections = 1.0, 20, 1
        if not args.no_postgraphile and not (POSTGRAPHILE_DIR / "node_modules").is_dir():
            print(f"smoke: PostGraphile skipped, {POSTGRAPHILE_DIR / 'node_modules'} is absent (a full run installs "
                  "it from npm); TradeWatch and the SQL floor only", flush=True)
            args.no_postgraphile = True
    context = RunContext()
    watchlist = load_watchlist()
    procs: list[subprocess.Popen] = []
    rows = []
    with ExitStack() as stack:
        server_url = stack.enter_context(bench_server(args.database_url, keep_in=ROOT / ".tradewatch" / "bench-pg"))
        if args.smoke:
            url = prepare(stack.enter_context(fresh_database(server_url, "tw_bench_graphql_smoke")), watchlist,
                          SMOKE_DAYS)
        else:
            url = prepare(kept_database(with_database(server_url, DB)), watchlist)
        stack.callback(lambda: [stop_process_group(proc) for proc in procs])
        api, base = start_api(url)
        procs.append(api)
        pg_base = None
        if not args.no_postgraphile:
            pg_proc, pg_base = start_postgraphile(install_postgraphile(), url)
            procs.append(pg_proc)
        with psycopg.connect(url, autocommit=True) as conn:
            for name, (tw_body, pg_body, sql, params) in cases(watchlist).items():
                if args.only and args.only not in name:
                    continue
                floor = measure(lambda sql=sql, params=params: json.dumps(conn.execute(sql, params).fetchall(),
                                                                          default=str), args.requests)
                tw = measure_server(base, tw_body, args.duration, args.connections, args.smoke)
                pg = measure_server(pg_base, pg_body, args.duration, args.connections, args.smoke) if pg_base else None
                rows.append((name, tw, pg, floor))
                print(f"{name}: TradeWatch {tw}, PostGraphile {pg}, floor {floor}", file=sys.stderr, flush=True)
        if not args.no_what_if:
            what_if(base, repeats=1 if args.smoke else 3, spans=(7,) if args.smoke else (7, 31))
            print_what_if(url)
    print(f"\nwrk: p50/p95 on 1 connection, req/s on {args.connections}; floor: psycopg + json.dumps, one at a time"
          f" ({os.cpu_count()} cores)")
    print(f"{'query':38} {'TW p50':>8} {'p95':>7} {'req/s':>6} | {'PG p50':>8} {'p95':>7} {'req/s':>6} | "
          f"{'floor':>7} | goals")
    for name, tw, pg, floor in rows:
        pg_text = f"{pg['p50']:6.2f}ms {pg['p95']:5.2f}ms {pg['rps']:6.0f}" if pg else f"{'-':>8} {'-':>7} {'-':>6}"
        print(f"{name:38} {tw['p50']:6.2f}ms {tw['p95']:5.2f}ms {tw['rps']:6.0f} | {pg_text} | "
              f"{floor['p50']:5.2f}ms | {verdict(name, tw, pg, floor)}")
    if _WHAT_IF_RESULTS:
        print()
        for line in _WHAT_IF_RESULTS:
            print(line)
    print(context.line())


WHAT_IF = ("query($f: DateTime!, $t: DateTime!, $c: Float!) { evaluateStrategy(from: $f, to: $t, "
           "rerollCostAmount: $c) { summary { hours hoursEvaluated meanProfitPerUnitOptimal } } }")
_WHAT_IF_RESULTS: list[str] = []


def what_if(base: str, repeats: int = 3, spans: tuple[int, ...] = (7, 31)) -> None:
    """evaluateStrategy over 7 and 31 days: cold (a fresh reroll cost) and cached (the same again)."""
    with httpx.Client(base_url=base, timeout=60) as client:
        cost = 1.0
        for days in spans:
            variables = {"f": (END - timedelta(days=days)).isoformat(), "t": END.isoformat()}
            cold, cached = [], []
            for _ in range(repeats):
                cost += 1.0
                for bucket in (cold, cached):
                    started = time.perf_counter()
                    response = client.post("/graphql", json={"query": WHAT_IF, "variables": {**variables, "c": cost}})
                    bucket.append(time.perf_counter() - started)
                    assert response.status_code == 200 and b'"errors"' not in response.content, response.text[:300]
            _WHAT_IF_RESULTS.append(f"evaluateStrategy {days:2d} d ({days * 24} hours): cold {statistics.median(cold):.3f} s, "
                                    f"cached {statistics.median(cached) * 1000:.1f} ms (median of {repeats})")


def print_what_if(url: str) -> None:
    import orjson
    from tradewatch.market.strategy_window import books_by_hour, evaluate_window
    from tradewatch.watchlist import load_watchlist

    spec = load_watchlist().strategies[0]
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT observed_hour, item_id, robust_min_price, book::text FROM warehouse.price_snapshots "
                            "WHERE observed_hour >= %s AND observed_hour < %s AND item_id = ANY(%s)",
                            (END - timedelta(days=7), END, [*spec.family, spec.reroll_cost_item])).fetchall()
    for label, books in (("stored JSON text", books_by_hour(rows)),
                         ("rows parsed by orjson (the API)", books_by_hour((h, i, p, orjson.loads(b)) for h, i, p, b in rows))):
        times = []
        for _ in range(5):
            started = time.perf_counter()
            list(evaluate_window([spec], books))
            times.append((time.perf_counter() - started) / len(books) * 1000)
        _WHAT_IF_RESULTS.append(f"one hour's evaluation, {label}: {statistics.median(times):.3f} ms")


if __name__ == "__main__":
    main()
