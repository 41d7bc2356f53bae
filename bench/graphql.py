"""Benchmark: the GraphQL API against the floor (the same rows fetched with psycopg and
`json.dumps`), on 365 days x 21 items of hourly snapshots, measured in the same run.

    .venv/bin/python bench/graphql.py [--database-url URL] [--requests 300]

Queries: (a) a 30-day hourly priceSeries of one item, (b) a 7-day daily series of all
21 items, (c) latestPrices, (d) a 100-row snapshots page. Then evaluateStrategy over 7 and
31 days, cold (a reroll cost not asked before: every hour computed) and cached (the same
request again: closed hours from the results cache), and the core's evaluation of one hour
(`strategy_window.evaluate_window`, books as stored JSON text and as parsed rows). The API runs under uvicorn in
its own process and is called over HTTP (httpx, one keep-alive connection); the floor
runs in this process. Goal: (a) p50 <= 2x its floor.

The history is generated in SQL (price walks and ~25-rung books, the real column shapes)
into a database `tw_bench_graphql`, kept for the next run. Without --database-url (or
TRADEWATCH_TEST_DATABASE_URL) an embedded PostgreSQL under .tradewatch/bench-pg is used.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named graphql.py: drop its folder from the path so `import graphql` finds graphql-core.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import json
import os
import statistics
import subprocess
import time
from datetime import datetime, timedelta, timezone

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphql_api.queries.prices import LATEST_SQL  # noqa: E402
from tests.helpers.databases import with_database  # noqa: E402
from tests.helpers.servers import free_port  # noqa: E402
from tradewatch.warehouse.embedded_pg import EmbeddedPostgres  # noqa: E402
from tradewatch.warehouse.migrate import upgrade  # noqa: E402
from tradewatch.watchlist import load_watchlist  # noqa: E402

DB = "tw_bench_graphql"
DAYS = 365
END = datetime(2026, 1, 1, tzinfo=timezone.utc)  # fixed, so a kept database stays valid
START = END - timedelta(days=DAYS)

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


def prepare(server_url: str, watchlist) -> str:
    with psycopg.connect(server_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone():
            conn.execute(f'CREATE DATABASE "{DB}"')
    url = with_database(server_url, DB)
    upgrade(url)
    with psycopg.connect(url, autocommit=True) as conn:
        count = conn.execute("SELECT count(*) FROM warehouse.price_snapshots").fetchone()[0]
        expected = DAYS * 24 * len(watchlist.items)
        if count != expected:
            print(f"generating {expected} snapshot rows ...", file=sys.stderr, flush=True)
            started = time.perf_counter()
            conn.execute("TRUNCATE warehouse.price_snapshots")
            conn.execute(FILL_SQL, {"league": watchlist.league, "paid": watchlist.paid_with,
                                    "items": list(watchlist.items), "start": START, "end": END})
            conn.execute("VACUUM ANALYZE warehouse.price_snapshots")
            print(f"... done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return url


def start_api(url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, TRADEWATCH_API_DATABASE_URL=url, TRADEWATCH_DATABASE_URL=url, TRADEWATCH_GRAPHIQL="0")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "graphql_api.app:app", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"], cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/health", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the API did not start")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TRADEWATCH_TEST_DATABASE_URL"))
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    watchlist = load_watchlist()
    embedded = None
    server_url = args.database_url
    if not server_url:
        embedded = EmbeddedPostgres(ROOT / ".tradewatch" / "bench-pg", free_port())
        embedded.start()
        server_url = embedded.url("postgres")
    url = prepare(server_url, watchlist)
    proc, base = start_api(url)
    items = list(watchlist.items)
    greed = items[0]
    a_from, a_to = END - timedelta(days=30), END
    b_from, b_to = END - timedelta(days=7), END
    p = {"league": watchlist.league, "paid": watchlist.paid_with, "game": "poe1"}
    queries = {
        "(a) 30-day hourly priceSeries, 1 item": (
            '{ priceSeries(item: "%s", from: "%s", to: "%s") { time open high low close avgPrice stock '
            'listingCount } }' % (greed, a_from.isoformat(), a_to.isoformat()),
            "SELECT observed_hour, min_price, avg_price, total_stock, listing_count FROM warehouse.price_snapshots "
            "WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND item_id = %(item)s "
            "AND observed_hour >= %(start)s AND observed_hour < %(end)s ORDER BY observed_hour",
            {**p, "item": greed, "start": a_from, "end": a_to}),
        "(b) 7-day daily priceSeries, 21 items": (
            '{ priceSeries(items: %s, from: "%s", to: "%s", bucket: DAY) { item { id } time open high low close '
            'avgPrice stock listingCount } }' % (json.dumps(items), b_from.isoformat(), b_to.isoformat()),
            "SELECT item_id, date_trunc('day', observed_hour) AS t, "
            "(array_agg(min_price ORDER BY observed_hour))[1], max(min_price), min(min_price), "
            "(array_agg(min_price ORDER BY observed_hour DESC))[1], sum(spent) / nullif(sum(bought), 0), "
            "(array_agg(total_stock ORDER BY observed_hour DESC))[1], "
            "(array_agg(listing_count ORDER BY observed_hour DESC))[1] FROM warehouse.price_snapshots "
            "WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND item_id = ANY(%(items)s) "
            "AND observed_hour >= %(start)s AND observed_hour < %(end)s GROUP BY 1, 2 ORDER BY 1, 2",
            {**p, "items": items, "start": b_from, "end": b_to}),
        "(c) latestPrices, 21 items": (
            "{ latestPrices { item { id name } hour minPrice robustMinPrice avgPrice listingCount totalStock "
            "change24h change7d lowConfidence } }",
            LATEST_SQL, {**p, "items": items}),
        "(d) snapshots page, 100 rows": (
            '{ snapshots(from: "%s", to: "%s", first: 100) { nodes { item { id } hour observedAt listingCount '
            'totalStock minPrice robustMinPrice bought spent avgPrice } pageInfo { endCursor } } }'
            % (b_from.isoformat(), b_to.isoformat()),
            "SELECT item_id, observed_hour, observed_at, listing_count, total_stock, min_price, robust_min_price, "
            "bought, spent, avg_price FROM warehouse.price_snapshots WHERE game = %(game)s AND league = %(league)s "
            "AND paid_with = %(paid)s AND observed_hour >= %(start)s AND observed_hour < %(end)s "
            "ORDER BY observed_hour, item_id LIMIT 100",
            {**p, "start": b_from, "end": b_to}),
    }
    rows = []
    try:
        what_if(base)
        print_what_if(url)
        with httpx.Client(base_url=base, timeout=30) as client, psycopg.connect(url, autocommit=True) as conn:
            for name, (query, sql, params) in queries.items():
                def api_call(query=query):
                    response = client.post("/graphql", json={"query": query})
                    assert response.status_code == 200 and b'"errors"' not in response.content, response.text[:300]

                def floor_call(sql=sql, params=params):
                    json.dumps(conn.execute(sql, params).fetchall(), default=str)

                api, floor = measure(api_call, args.requests), measure(floor_call, args.requests)
                rows.append((name, api, floor))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if embedded is not None:
            embedded.stop()
    print(f"\n{'query':40} {'API p50':>8} {'p95':>7} {'req/s':>7} | {'floor p50':>9} {'p95':>7} {'q/s':>7} | ratio")
    for name, api, floor in rows:
        print(f"{name:40} {api['p50']:7.2f}ms {api['p95']:6.2f}ms {api['rps']:7.0f} | {floor['p50']:8.2f}ms "
              f"{floor['p95']:6.2f}ms {floor['rps']:7.0f} | {api['p50'] / floor['p50']:5.2f}x")


WHAT_IF = ("query($f: DateTime!, $t: DateTime!, $c: Float!) { evaluateStrategy(from: $f, to: $t, "
           "rerollCostAmount: $c) { summary { hours hoursEvaluated meanProfitPerUnitOptimal } } }")
_WHAT_IF_RESULTS: list[str] = []


def what_if(base: str, repeats: int = 3) -> None:
    """evaluateStrategy over 7 and 31 days: cold (a fresh reroll cost) and cached (the same again)."""
    with httpx.Client(base_url=base, timeout=60) as client:
        cost = 1.0
        for days in (7, 31):
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
    print()
    for line in _WHAT_IF_RESULTS:
        print(line)


if __name__ == "__main__":
    main()
