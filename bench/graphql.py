"""Benchmark: the GraphQL API side by side with PostGraphile 5 (the current auto-generated GraphQL
server for a PostgreSQL schema, on Grafast), PostGraphile 4 and the SQL floor, on 365 days x 21 items
of hourly snapshots (plus the profitability and Currency Exchange rows of the same hours), in one run.

    .venv/bin/python bench/graphql.py [--database-url URL] [--duration 3] [--rounds 2] [--connections 8]
                                      [--no-postgraphile] [--no-postgraphile4] [--no-what-if] [--only NAME]
                                      [--keep-db NAME] [--smoke]

Shapes: a 30-day hourly series of one item, a page of 100 snapshots, the latest prices of 21
items, a 30-day hourly exchangePrices of one item and the market overview's first page of 100 (the
shapes the goals name), the latest prices with their 24 h / 7 d changes (PostGraphile cannot compute
them: TradeWatch and the floor alone) and a page of 100 profitability rows. PostGraphile reads the
overview through a view of the same rows in the same order (MARKET_VIEW_SQL, created by the bench). Every server is asked the same question with the same columns and rows (the
bench checks the rows of the answers agree before measuring), over HTTP, by `wrk` with one body:
one connection for the latency (p50, p95), `--connections` connections (and as many wrk threads)
for the throughput (req/s). The servers take turns: each round measures every server once, the
next round in another order, and the figure is the median over the rounds, so load from elsewhere
on the machine falls on all of them alike. The floor is the same rows fetched with psycopg and
`json.dumps` in this process, one at a time, for as long and in the same turns. The load average
and the commit are printed with the table. Goals (issue 24): TradeWatch's p50 <= 0.8 x PostGraphile 5's and its req/s >= 1.25 x;
latest prices <= 3 x the floor, a page of 100 <= 2.5 x. Then evaluateStrategy over 7 and 31 days,
cold (a reroll cost not asked before: every hour computed) and cached (the same request again).

PostGraphile 5 (amber preset + postgraphile-plugin-connection-filter, under Node 22 from the npm
package `node`) and PostGraphile 4 are installed from the npm registry with `npm ci`, at the
versions locked in bench/postgraphile/v5 and bench/postgraphile/v4, into build/pg5 and build/pg4
(`npm` must be on PATH; `wrk` too). Both serve the schema `warehouse` of the same database, in
production mode, without GraphiQL or query logs. TradeWatch runs under uvicorn with the options
it is deployed with (tradewatch/cli/api_server.py), one process; each PostGraphile is one node
process.

The history is generated in SQL (price walks and ~25-rung books, the real column shapes) into a
database `tw_bench_graphql_<migration head>` (or `--keep-db NAME`), kept for the next run; the
overview's league holds 8 days of 400 catalogue items' Currency Exchange markets, rolled up by the
assets' own functions (a few seconds). The server is
--database-url, else TRADEWATCH_BENCH_DATABASE_URL, else TRADEWATCH_TEST_DATABASE_URL, else an
embedded PostgreSQL under .tradewatch/bench-pg. `--smoke`: 7 days of history, 1 s per figure, one
round, PostGraphile only when already installed; it checks the bench runs, its figures mean little.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file is named graphql.py: drop its folder from the path so `import graphql` finds graphql-core.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse
import filecmp
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graphql_api.queries.prices import LATEST_SQL  # noqa: E402
from bench._context import RunContext  # noqa: E402
from bench._databases import bench_server, kept_database, with_database  # noqa: E402
from tests.helpers.servers import free_port, stop_process_group  # noqa: E402
from tradewatch.bulk_exchange.catalog import item_category, item_name  # noqa: E402
from tradewatch.cli.api_server import uvicorn_arguments  # noqa: E402
from tradewatch.warehouse.migrate import upgrade  # noqa: E402
from tradewatch.watchlist import load_watchlist  # noqa: E402

DAYS = 365
SMOKE_DAYS = 7
END = datetime(2026, 1, 1, tzinfo=timezone.utc)  # fixed, so a kept database stays valid
WRK_SCRIPT = Path(__file__).resolve().parent / "graphql_post.lua"
NODE_PROJECTS = Path(__file__).resolve().parent / "postgraphile"  # package.json + package-lock.json per version


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


# The market overview's league: MARKET_ITEMS catalogue items (and the divine orb, whose chaos market is the
# rate) trading against chaos over the 8 days the overview's windows span, then the rollups built from them
# by the assets' own functions (tradewatch/warehouse/market_rollups.py)
MARKET_LEAGUE = "Bench Market"
MARKET_ITEMS = 400
MARKET_DAYS = 8
MARKET_FILL_SQL = """
INSERT INTO warehouse.exchange_prices
    (realm, league, item_key, quote_currency, observed_hour, item_first, vwap_price, min_price, max_price, volume,
     quote_volume)
SELECT 'pc', %(league)s, i.item_key, 'chaos', h, true, p, p * 0.95, p * 1.05, v, v * p
FROM unnest(%(keys)s::int8[]) WITH ORDINALITY AS i(item_key, n)
CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '1 hour', interval '1 hour') AS h
CROSS JOIN LATERAL (SELECT (CASE WHEN i.item_key = %(divine)s THEN 150 ELSE 0.5 * i.n END)
                           * (1.2 + sin(extract(epoch FROM h) / 86400.0 / 3 + i.n)) + random() AS p,
                           (1 + (random() * 50)::int) * (1 + i.n %% 7) AS v
             WHERE (i.n * 7919 + extract(epoch FROM h)::bigint / 3600) %% 5 <> 0) price
"""
# What PostGraphile 5 is asked for the overview: the same rows as `market` (its join, its order: no value
# last, the value descending, then the name and the key), as a view it exposes as allBenchMarkets
MARKET_VIEW_SQL = """
CREATE OR REPLACE VIEW warehouse.bench_market AS
SELECT m.realm, m.league, m.item_key, c.id AS item_id, c.name, c.category, m.chaos_price AS price,
       m.chaos_change24h AS change24h, m.chaos_change7d AS change7d, m.volume24h, m.chaos_value24h AS value24h,
       m.low_confidence, m.chaos_sparkline AS sparkline, (m.chaos_value24h IS NULL) AS s_null,
       coalesce(-m.chaos_value24h, 0) AS s_key, lower(c.name) AS s_name
FROM warehouse.bench_market_rows m JOIN warehouse.exchange_catalogue c ON c.game = 'poe1' AND c.item_key = m.item_key
"""
# PostGraphile reads the overview's rows stored in a table (its best case: TradeWatch computes them from the
# packed hourly rows on the first read of an hour and keeps them in memory; warehouse.market_latest is a view that
# computes them in SQL on every read)
MARKET_ROWS_SQL = """
DROP TABLE IF EXISTS warehouse.bench_market_rows CASCADE;
CREATE TABLE warehouse.bench_market_rows AS SELECT * FROM warehouse.market_latest;
ALTER TABLE warehouse.bench_market_rows ADD PRIMARY KEY (realm, league, item_key);
GRANT SELECT ON warehouse.bench_market_rows TO tradewatch_api;
"""


def _fill_market(conn, url: str) -> None:
    """The overview's league (MARKET_LEAGUE), once: its exchange prices and the market rollups over them."""
    from tradewatch.market.exchange import DIVINE_PATH
    from tradewatch.currency_exchange.catalog import item_storage_key
    from tradewatch.warehouse.db import close_pools, get_pool
    from tradewatch.warehouse.market_rollups import CHAOS_KEY, compute_market_hourly, compute_market_latest

    divine = item_storage_key(DIVINE_PATH)
    keys = [divine] + [k for (k,) in conn.execute(
        "SELECT item_key FROM warehouse.exchange_catalogue WHERE game = 'poe1' AND item_key NOT IN (%s, %s) "
        "ORDER BY item_path LIMIT %s", (CHAOS_KEY, divine, MARKET_ITEMS)).fetchall()]
    start = END - timedelta(days=MARKET_DAYS)
    listed = conn.execute("SELECT count(*) FROM warehouse.market_latest WHERE realm = 'pc' AND league = %s",
                          (MARKET_LEAGUE,)).fetchone()[0]
    if conn.execute("SELECT to_regclass('warehouse.bench_market_rows') IS NULL").fetchone()[0]:
        listed = -1
    stored = conn.execute("SELECT count(DISTINCT item_key) FROM warehouse.exchange_prices WHERE realm = 'pc' "
                          "AND league = %s", (MARKET_LEAGUE,)).fetchone()[0]
    if listed != len(keys) or stored != len(keys):
        print(f"generating {MARKET_DAYS} days of {len(keys)} Currency Exchange markets and the market rollups ...",
              file=sys.stderr, flush=True)
        started = time.perf_counter()
        conn.execute("DELETE FROM warehouse.exchange_prices WHERE realm = 'pc' AND league = %s", (MARKET_LEAGUE,))
        conn.execute(MARKET_FILL_SQL, {"league": MARKET_LEAGUE, "keys": keys, "divine": divine, "start": start,
                                       "end": END})
        conn.execute("ANALYZE warehouse.exchange_prices")
        pool = get_pool(url)
        compute_market_hourly(pool, "pc", start, END)
        compute_market_latest(pool, "pc")
        conn.execute("VACUUM ANALYZE warehouse.market_hours")
        conn.execute(MARKET_ROWS_SQL)
        conn.execute("VACUUM ANALYZE warehouse.bench_market_rows")
        close_pools()
        print(f"... done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    # loaded by the migrations and by exchange_prices, and never analyzed where autovacuum has not come by yet:
    # without statistics both servers' planners guess a handful of catalogue rows for the join
    conn.execute("ANALYZE warehouse.exchange_catalogue")
    conn.execute(MARKET_VIEW_SQL)


def _fill(conn, table: str, expected: int, sql: str | tuple[str, ...], params: dict, where: str = "true") -> None:
    count = conn.execute(f"SELECT count(*) FROM warehouse.{table} WHERE {where}").fetchone()[0]
    if count == expected:
        return
    print(f"generating {expected} rows of warehouse.{table} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    if where == "true":
        conn.execute(f"TRUNCATE warehouse.{table}")
    else:
        conn.execute(f"DELETE FROM warehouse.{table} WHERE {where}")
    for statement in (sql,) if isinstance(sql, str) else sql:
        conn.execute(statement, params)
    conn.execute(f"VACUUM ANALYZE warehouse.{table}")
    print(f"... done in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def database_name(days: int) -> str:
    """The bench's database: one per migration head (a database of another branch's migrations is
    never upgraded under it) and size."""
    from tradewatch.warehouse.migrate import head_revision

    head = head_revision() or "base"
    return f"tw_bench_graphql_{re.sub(r'[^a-z0-9]', '_', head.lower())}" + ("" if days == DAYS else f"_{days}d")


def prepare(server_url: str, watchlist, days: int, name: str | None = None) -> str:
    url = kept_database(with_database(server_url, name or database_name(days)))  # bench/_databases.py: keeps the URL's parameters
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
        _fill(conn, "exchange_prices", hours * len(items), EXCHANGE_FILL_SQL, common,
              where=f"league <> '{MARKET_LEAGUE}'")
        _fill_market(conn, url)
    return url


def _wait_until_answering(base: str, proc: subprocess.Popen, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.post(base + "/graphql", json={"query": "{ __typename }"}, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    stop_process_group(proc)
    raise SystemExit(f"{what} did not start answering on {base} within {seconds:.0f} s")


def start_api(url: str) -> tuple[subprocess.Popen, str]:
    """TradeWatch under uvicorn with the options it is deployed with (one process)."""
    port = free_port()
    env = dict(os.environ, TRADEWATCH_API_DATABASE_URL=url, TRADEWATCH_DATABASE_URL=url, TRADEWATCH_GRAPHIQL="0")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "graphql_api.app:app", "--host", "127.0.0.1",
                             "--port", str(port), "--log-level", "warning", *uvicorn_arguments()],
                            cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    _wait_until_answering(base, proc, "the API")
    return proc, base


@dataclass(frozen=True)
class NodeServer:
    """One PostGraphile version: its locked npm project under bench/postgraphile/<version>,
    installed into build/<folder>."""

    label: str
    version: str   # folder under bench/postgraphile
    folder: str    # under build/

    @property
    def project(self) -> Path:
        return NODE_PROJECTS / self.version

    @property
    def target(self) -> Path:
        return ROOT / "build" / self.folder

    def installed(self) -> bool:
        """Whether build/<folder> holds the locked packages (`npm ci` of this very lock succeeded)."""
        stamp = self.target / ".installed-lock.json"
        return (self.target / "node_modules").is_dir() and stamp.exists() and filecmp.cmp(
            stamp, self.project / "package-lock.json", shallow=False)

    def install(self) -> None:
        """The project's files copied into build/<folder> and, once (again when the lock changed),
        `npm ci` there."""
        self.target.mkdir(parents=True, exist_ok=True)
        for name in os.listdir(self.project):
            shutil.copy2(self.project / name, self.target / name)
        if self.installed():
            return
        if shutil.which("npm") is None:
            raise SystemExit("npm is not on PATH: install Node.js (it brings npm), or run with --no-postgraphile")
        print(f"installing {self.label} into {self.target} (npm ci) ...", file=sys.stderr, flush=True)
        try:
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=self.target, check=True,
                           stdout=subprocess.DEVNULL, timeout=900)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise SystemExit(f"could not install {self.label} with npm ({exc}); run with --no-postgraphile "
                             f"to measure without it") from None
        shutil.copy2(self.project / "package-lock.json", self.target / ".installed-lock.json")

    def command(self, url: str, port: int) -> list[str]:
        modules = self.target / "node_modules"
        if self.version == "v5":
            # Node 22 from the npm package `node` (PostGraphile 5 needs >= 22; the system's may be older)
            return [str(modules / ".bin" / "node"), str(modules / "postgraphile" / "dist" / "cli-run.js"),
                    "--config", str(self.target / "graphile.config.mjs"), "--connection", url,
                    "--schema", "warehouse", "--host", "127.0.0.1", "--port", str(port)]
        return [shutil.which("node") or "node", str(modules / "postgraphile" / "cli.js"), "--connection", url,
                "--schema", "warehouse", "--host", "127.0.0.1", "--port", str(port),
                "--append-plugins", "postgraphile-plugin-connection-filter", "--disable-query-log",
                "--disable-graphiql"]

    def start(self, url: str) -> tuple[subprocess.Popen, str]:
        port = free_port()
        # node-postgres knows no `passfile=` parameter (the embedded server's URLs name their password
        # file that way) but reads the file named by PGPASSFILE
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        env = dict(os.environ, NODE_ENV="production")
        if "passfile" in query:
            env["PGPASSFILE"] = query.pop("passfile")[0]
            url = urlunsplit(parts._replace(query=urlencode(query, doseq=True)))
        proc = subprocess.Popen(self.command(url, port), cwd=self.target, stdout=subprocess.DEVNULL,
                                start_new_session=True, env=env)
        base = f"http://127.0.0.1:{port}"
        _wait_until_answering(base, proc, self.label)
        return proc, base


POSTGRAPHILE5 = NodeServer("PostGraphile 5", "v5", "pg5")
POSTGRAPHILE4 = NodeServer("PostGraphile 4", "v4", "pg4")


def answer(base: str, body: dict) -> dict:
    response = httpx.post(base + "/graphql", json=body, timeout=30)
    if response.status_code != 200 or b'"errors"' in response.content:
        raise SystemExit(f"{base} answered {response.status_code}: {response.text[:500]}")
    return response.json()["data"]


def wrk(base: str, body: dict, seconds: float, connections: int) -> dict:
    """p50, p95 (ms) and req/s of `body` POSTed over and over by wrk on `connections` connections
    (one wrk thread per connection)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(body, file)
    try:
        out = subprocess.run(["wrk", "-t", str(connections), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
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


def measure(fn, seconds: float) -> dict:
    """p50, p95 (ms) and calls/s of `fn` called one at a time for `seconds` (after a short warm-up)."""
    for _ in range(10):  # warm-up: prepared statements, caches
        fn()
    times = []
    started, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - started < seconds:
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    total = time.perf_counter() - started
    cpu = (time.process_time() - cpu) * 1000 / len(times)
    times.sort()
    return {"p50": statistics.median(times), "p95": times[max(0, int(len(times) * 0.95) - 1)],
            "rps": len(times) / total, "cpu": cpu}


SNAPSHOT_SQL = """SELECT item_id, observed_hour, observed_at, listing_count, total_stock, min_price, robust_min_price,
bought, spent, avg_price FROM warehouse.price_snapshots WHERE game = %(game)s AND league = %(league)s
AND paid_with = %(paid)s AND observed_hour >= %(start)s AND observed_hour < %(end)s ORDER BY observed_hour, item_id
LIMIT 100"""
SERIES_SQL = """SELECT observed_hour, min_price, avg_price, total_stock, listing_count FROM warehouse.price_snapshots
WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND item_id = %(item)s
AND observed_hour >= %(start)s AND observed_hour < %(end)s ORDER BY observed_hour"""
# the same columns as the latest-prices case asks: the newest row of each item, one index probe per item
LATEST_FLOOR_SQL = """SELECT l.* FROM unnest(%(items)s::text[]) AS i(item_id) CROSS JOIN LATERAL (
SELECT item_id, observed_hour, observed_at, min_price, robust_min_price, avg_price, listing_count, total_stock
FROM warehouse.price_snapshots s WHERE s.item_id = i.item_id AND s.game = %(game)s AND s.league = %(league)s
AND s.paid_with = %(paid)s ORDER BY s.observed_hour DESC LIMIT 1) l"""
EXCHANGE_SQL = """SELECT p.observed_hour, p.vwap_price, p.min_price, p.max_price, p.volume, p.quote_volume
FROM warehouse.exchange_items x JOIN warehouse.exchange_prices p ON p.item_key = x.item_key
WHERE x.item_id = %(item)s AND p.realm = 'pc' AND p.league = %(league)s AND p.quote_currency = 'chaos'
AND p.observed_hour >= %(start)s AND p.observed_hour < %(end)s ORDER BY p.observed_hour"""
MARKET_SQL = """SELECT item_id, name, category, price, change24h, change7d, volume24h, value24h, low_confidence, sparkline
FROM warehouse.bench_market WHERE realm = 'pc' AND league = %(league)s ORDER BY s_null, s_key, s_name, item_key
LIMIT 100"""
PROFIT_SQL = """SELECT strategy, policy, observed_hour, input_item_id, input_unit_cost, quantity, reroll_cost,
expected_rerolls, expected_sale_value, expected_profit_per_unit, expected_profit_total, roi, break_even_reroll_cost,
stop_set FROM warehouse.reroll_profitability WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s
AND observed_hour >= %(start)s AND observed_hour < %(end)s ORDER BY observed_hour, strategy, policy LIMIT 100"""


@dataclass(frozen=True)
class Case:
    """One shape: the same question to each server and the floor, and how to read the rows of each
    answer as (key, value) pairs, so that the bench can check they agree."""

    tradewatch: dict
    postgraphile: dict | None  # None: a question PostGraphile cannot be asked (TradeWatch and the floor only)
    sql: str
    params: dict
    tw_rows: object      # TradeWatch's data -> [(key, number)]
    pg_rows: object      # PostGraphile's data -> [(key, number)]
    shared: bool = True  # one of the shapes the goals of issue 24 name


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _series_tw(data: dict) -> list:
    series = data["priceSeries"][0]
    return [(_t(t), p) for t, p in zip(series["time"], series["close"])]


def _page_tw(data: dict) -> list:
    return [((n["item"]["id"], _t(n["hour"])), n["minPrice"]) for n in data["snapshots"]["nodes"]]


def _latest_tw(data: dict) -> list:
    return sorted(((n["item"]["id"], _t(n["hour"])), n["minPrice"]) for n in data["latestPrices"])


def _series_pg(data: dict) -> list:
    return [(_t(n["observedHour"]), n["minPrice"]) for n in data["allPriceSnapshots"]["nodes"]]


def _page_pg(data: dict) -> list:
    return [((n["itemId"], _t(n["observedHour"])), n["minPrice"]) for n in data["allPriceSnapshots"]["nodes"]]


def _latest_pg(data: dict) -> list:
    return sorted(((n["itemId"], _t(n["observedHour"])), n["minPrice"])
                  for alias in data.values() for n in alias["nodes"])


def _exchange_tw(data: dict) -> list:
    series = data["exchangePrices"][0]
    return [(_t(t), p) for t, p in zip(series["time"], series["vwap"])]


def _exchange_pg(data: dict) -> list:
    return [(_t(n["observedHour"]), n["vwapPrice"]) for n in data["allExchangePrices"]["nodes"]]


def _market_tw(data: dict) -> list:
    page = data["market"]
    return [("total", page["totalCount"])] + [(n["item"]["id"], n["price"]) for n in page["nodes"]]


def _market_pg(data: dict) -> list:
    page = data["allBenchMarkets"]
    return [("total", page["totalCount"])] + [(n["itemId"], n["price"]) for n in page["nodes"]]


def _profit_tw(data: dict) -> list:
    return [((n["strategy"], n["policy"].lower(), _t(n["hour"])), n["roi"]) for n in data["profitability"]["nodes"]]


def _profit_pg(data: dict) -> list:
    return [((n["strategy"], n["policy"].lower(), _t(n["observedHour"])), n["roi"])
            for n in data["allRerollProfitabilities"]["nodes"]]


def same_rows(a: list, b: list) -> bool:
    """Whether two answers hold the same rows: the same keys in the same order, numbers equal to 1e-9."""
    return len(a) == len(b) and all(
        ka == kb and (va == vb or (va is not None and vb is not None and math.isclose(float(va), float(vb),
                                                                                     rel_tol=1e-9)))
        for (ka, va), (kb, vb) in zip(a, b))


def cases(watchlist) -> dict[str, Case]:
    """name -> the same question to each server and the floor."""
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
        "30-day hourly series, 1 item": Case(
            {"query": '{ priceSeries(item: "%s", from: "%s", to: "%s") { time open high low close avgPrice stock '
                      'listingCount } }' % (greed, month, end)},
            {"query": '{ allPriceSnapshots(condition: {%s, itemId: "%s"}, filter: {observedHour: '
                      '{greaterThanOrEqualTo: "%s", lessThan: "%s"}}, orderBy: OBSERVED_HOUR_ASC) { nodes { '
                      'observedHour minPrice avgPrice totalStock listingCount } } }' % (cond, greed, month, end)},
            SERIES_SQL, {**p, "item": greed, "start": END - timedelta(days=30), "end": END},
            _series_tw, _series_pg),
        "page of 100 snapshots": Case(
            {"query": '{ snapshots(from: "%s", to: "%s", first: 100) { nodes { item { id } hour observedAt '
                      'listingCount totalStock minPrice robustMinPrice bought spent avgPrice } pageInfo { endCursor '
                      '} } }' % (week, end)},
            {"query": '{ allPriceSnapshots(condition: {%s}, filter: {observedHour: {greaterThanOrEqualTo: "%s", '
                      'lessThan: "%s"}}, orderBy: [OBSERVED_HOUR_ASC, ITEM_ID_ASC], first: 100) { nodes { itemId '
                      'observedHour observedAt listingCount totalStock minPrice robustMinPrice bought spent avgPrice } '
                      'pageInfo { endCursor } } }' % (cond, week, end)},
            SNAPSHOT_SQL, {**p, "start": END - timedelta(days=7), "end": END},
            _page_tw, _page_pg),
        # the newest row of each item with the same columns; PostGraphile has no "newest per item", so it
        # gets one aliased first-1 connection per item, and the changes (which it cannot compute) are not
        # asked of TradeWatch either (the floor's statement computes them: the dashboard's full question)
        "latest prices, 21 items": Case(
            {"query": "{ latestPrices { item { id } hour observedAt minPrice robustMinPrice avgPrice listingCount "
                      "totalStock } }"},
            {"query": "{ %s }" % latest_aliases},
            LATEST_FLOOR_SQL, {**p, "items": items},
            _latest_tw, _latest_pg),
        "latest prices + 24 h / 7 d changes": Case(
            {"query": "{ latestPrices { item { id name } hour minPrice robustMinPrice avgPrice listingCount "
                      "totalStock change24h change7d lowConfidence } }"},
            None, LATEST_SQL, {**p, "items": items, "names": [item_name(i) for i in items],
                               "categories": [item_category(i) for i in items]},
            _latest_tw, _latest_pg, shared=False),
        "exchangePrices 30-day hourly, 1 item": Case(
            {"query": '{ exchangePrices(items: ["%s"], from: "%s", to: "%s") { item { id } time vwap minPrice '
                      'maxPrice volume quoteVolume } }' % (greed, month, end)},
            {"query": '{ allExchangePrices(condition: {realm: "pc", league: "%s", itemKey: "%d", quoteCurrency: '
                      '"chaos"}, filter: {observedHour: {greaterThanOrEqualTo: "%s", lessThan: "%s"}}, orderBy: '
                      'OBSERVED_HOUR_ASC) { nodes { observedHour vwapPrice minPrice maxPrice volume quoteVolume } } }'
                      % (watchlist.league, key, month, end)},
            EXCHANGE_SQL, {"league": watchlist.league, "item": greed, "start": END - timedelta(days=30), "end": END},
            _exchange_tw, _exchange_pg),
        # PostGraphile reads the same rows through warehouse.bench_market (MARKET_VIEW_SQL), in the same order
        "market overview, first page of 100": Case(
            {"query": '{ market(league: "%s", first: 100) { totalCount nodes { item { id name category } price '
                      'change24h change7d volume24h value24h lowConfidence sparkline } pageInfo { endCursor '
                      'hasNextPage } } }' % MARKET_LEAGUE},
            {"query": '{ allBenchMarkets(condition: {realm: "pc", league: "%s"}, orderBy: [S_NULL_ASC, S_KEY_ASC, '
                      'S_NAME_ASC, ITEM_KEY_ASC], first: 100) { totalCount nodes { itemId name category price change24H '
                      'change7D volume24H value24H lowConfidence sparkline } pageInfo { endCursor hasNextPage } } }'
                      % MARKET_LEAGUE},
            MARKET_SQL, {"league": MARKET_LEAGUE}, _market_tw, _market_pg),
        "profitability page of 100": Case(
            {"query": '{ profitability(from: "%s", to: "%s", first: 100) { nodes { strategy policy hour inputItem '
                      '{ id } inputUnitCost quantity rerollCost expectedRerolls expectedSaleValue '
                      'expectedProfitPerUnit expectedProfitTotal roi breakEvenRerollCost stopSet } pageInfo { '
                      'endCursor hasNextPage } } }' % (week, end)},
            {"query": '{ allRerollProfitabilities(condition: {%s}, filter: {observedHour: {greaterThanOrEqualTo: '
                      '"%s", lessThan: "%s"}}, orderBy: [OBSERVED_HOUR_ASC, STRATEGY_ASC, POLICY_ASC], first: 100) '
                      '{ nodes { strategy policy observedHour inputItemId inputUnitCost quantity rerollCost '
                      'expectedRerolls expectedSaleValue expectedProfitPerUnit expectedProfitTotal roi '
                      'breakEvenRerollCost stopSet } pageInfo { endCursor hasNextPage } } }' % (cond, week, end)},
            PROFIT_SQL, {**p, "start": END - timedelta(days=7), "end": END},
            _profit_tw, _profit_pg, shared=False),
    }


FLOOR_GOALS = {"latest prices, 21 items": 3.0, "page of 100 snapshots": 2.5}


def verdict(name: str, case: Case, tw: dict, pg5: dict | None, floor: dict) -> str:
    """The goals of issue 24 for one shape, each with ok or MISSED."""
    out = []
    if pg5 is not None:
        p50 = tw["p50"] / pg5["p50"]
        rps = tw["rps"] / pg5["rps"]
        if case.shared:
            out.append(f"p50 {p50:.2f}x PG5 (<= 0.8 {'ok' if p50 <= 0.8 else 'MISSED'})")
            out.append(f"req/s {rps:.2f}x PG5 (>= 1.25 {'ok' if rps >= 1.25 else 'MISSED'})")
        else:
            out.append(f"p50 {p50:.2f}x PG5, req/s {rps:.2f}x")
    to_floor = tw["p50"] / floor["p50"]
    goal = FLOOR_GOALS.get(name)
    out.append(f"{to_floor:.1f}x floor" + (f" (<= {goal:g} {'ok' if to_floor <= goal else 'MISSED'})" if goal else ""))
    return "; ".join(out)


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                             timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (out.stdout.strip() + (" (with uncommitted changes)" if dirty else "")) if out.returncode == 0 \
            else "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def _median(figures: list[dict]) -> dict:
    return {k: statistics.median(f[k] for f in figures) for k in ("p50", "p95", "rps", "cpu") if k in figures[0]}


FLOOR = "floor"


@dataclass(frozen=True)
class Served:
    base: str
    pid: int

    def cpu_seconds(self) -> float:
        """CPU time used so far by the server's process and its children (user + system)."""
        import psutil

        try:
            process = psutil.Process(self.pid)
            total = sum(process.cpu_times()[:2])
            for child in process.children(recursive=True):
                try:
                    total += sum(child.cpu_times()[:2])
                except psutil.NoSuchProcess:
                    pass
            return total
        except psutil.NoSuchProcess:
            return math.nan


def measure_servers(servers: dict[str, Served], case: Case, floor, seconds: float, rounds: int,
                    connections: int) -> dict:
    """Per server, and for the floor (`floor()`, one query and its JSON in this process): the median over
    `rounds` of p50, p95 (1 connection), req/s (`connections`; the floor: one at a time) and the server's
    own CPU time per request during the req/s run (`cpu`, ms; PostgreSQL's share not included: much the
    same for all, and less sensitive to the machine's load than the times). Each round measures every
    one once, the order turning one place per round."""
    if case.postgraphile is None:
        servers = {"TradeWatch": servers["TradeWatch"]}
    bodies = {label: case.tradewatch if label == "TradeWatch" else case.postgraphile for label in servers}
    reference = case.tw_rows(answer(servers["TradeWatch"].base, case.tradewatch))
    for label, served in servers.items():
        if label != "TradeWatch":
            rows = case.pg_rows(answer(served.base, bodies[label]))
            if not same_rows(reference, rows):
                raise SystemExit(f"{label} answers other rows than TradeWatch ({len(rows)} against "
                                 f"{len(reference)}): the queries are not equivalent")
        wrk(served.base, bodies[label], 1, connections)  # warm-up: pools, prepared statements, caches, the JIT
    figures: dict[str, list[dict]] = {label: [] for label in (*servers, FLOOR)}
    labels = list(figures)
    for n in range(rounds):
        for label in labels[n % len(labels):] + labels[:n % len(labels)]:
            if label == FLOOR:
                figures[label].append(measure(floor, seconds))
                continue
            served = servers[label]
            latency = wrk(served.base, bodies[label], seconds, 1)
            cpu = served.cpu_seconds()
            throughput = wrk(served.base, bodies[label], seconds, connections)
            cpu = (served.cpu_seconds() - cpu) * 1000 / max(1, throughput["requests"])
            figures[label].append({"p50": latency["p50_ms"], "p95": latency["p95_ms"], "rps": throughput["rps"],
                                   "cpu": cpu})
    return {label: _median(found) for label, found in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a maintenance database URL (default TRADEWATCH_BENCH_DATABASE_URL, "
                        "else an embedded PostgreSQL kept under .tradewatch/bench-pg)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of wrk per figure")
    parser.add_argument("--rounds", type=int, default=2, help="turns of every server per shape (median taken)")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (and threads) for req/s")
    parser.add_argument("--no-postgraphile", action="store_true", help="TradeWatch and the floor only")
    parser.add_argument("--no-postgraphile4", action="store_true", help="leave PostGraphile 4 out")
    parser.add_argument("--no-what-if", action="store_true", help="skip evaluateStrategy")
    parser.add_argument("--only", help="only the shapes whose name contains this")
    parser.add_argument("--keep-db", metavar="NAME", help="the database to fill and keep (default "
                        "tw_bench_graphql_<migration head>)")
    parser.add_argument("--smoke", action="store_true",
                        help=f"{SMOKE_DAYS} days of history, 1 s per figure, one round, PostGraphile only when "
                             "installed already: checks that the bench runs")
    args = parser.parse_args()
    for name in ("duration", "rounds", "connections"):
        if getattr(args, name) <= 0:
            raise SystemExit(f"--{name} must be positive, not {getattr(args, name)}")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not on PATH: install it (apt-get install wrk)")
    days = SMOKE_DAYS if args.smoke else DAYS
    if args.smoke:
        args.duration, args.rounds = 1.0, 1
    node_servers = [] if args.no_postgraphile else [POSTGRAPHILE5] + ([] if args.no_postgraphile4 else [POSTGRAPHILE4])
    if args.smoke:
        for server in [s for s in node_servers if not s.installed()]:
            print(f"smoke run: {server.label} is not installed in {server.target}; measuring without it",
                  file=sys.stderr)
            node_servers.remove(server)
    watchlist = load_watchlist()
    started_load, measured_commit = load_average(), commit()  # the code the servers run: as it is now
    context = RunContext()
    procs: list[subprocess.Popen] = []
    rows = []
    with ExitStack() as stack:
        server_url = stack.enter_context(bench_server(args.database_url, keep_in=ROOT / ".tradewatch" / "bench-pg"))
        stack.callback(lambda: [stop_process_group(proc) for proc in procs])
        url = prepare(server_url, watchlist, days, args.keep_db)
        for server in node_servers:
            server.install()
        api, base = start_api(url)
        procs.append(api)
        servers = {"TradeWatch": Served(base, api.pid)}
        for server in node_servers:
            proc, server_base = server.start(url)
            procs.append(proc)
            servers[server.label] = Served(server_base, proc.pid)
        with psycopg.connect(url, autocommit=True) as conn:
            for name, case in cases(watchlist).items():
                if args.only and args.only not in name:
                    continue
                found = measure_servers(
                    servers, case, lambda case=case: json.dumps(conn.execute(case.sql, case.params).fetchall(),
                                                                default=str),
                    args.duration, args.rounds, args.connections)
                floor = found.pop(FLOOR)
                rows.append((name, case, found, floor))
                print(f"{name}: {found}, floor {floor} (load {load_average()})", file=sys.stderr, flush=True)
        if not args.no_what_if:
            what_if(servers["TradeWatch"].base, days)
            print_what_if(url)
    print_table(rows, [s.label for s in node_servers], args, started_load, measured_commit)
    for line in _WHAT_IF_RESULTS:
        print(line)
    print(context.line())


def print_table(rows: list, node_labels: list[str], args, started_load: str, measured_commit: str) -> None:
    print(f"\ncommit {measured_commit}; load average {started_load} at the start, {load_average()} at the end "
          f"({os.cpu_count()} cores)")
    print(f"wrk: p50/p95 on 1 connection, req/s on {args.connections} connections ({args.connections} threads), "
          f"median of {args.rounds} rounds of {args.duration:g} s, servers and floor taking turns; cpu: the server "
          f"process's own CPU time per request in the req/s run; floor: psycopg + json.dumps in the bench's "
          f"process, one at a time")
    short = {"TradeWatch": "TW", "PostGraphile 5": "PG5", "PostGraphile 4": "PG4"}
    labels = ["TradeWatch", *node_labels]
    header = f"{'shape':36}" + "".join(f" | {short[l] + ' p50':>9} {'p95':>7} {'req/s':>6} {'cpu':>6}" for l in labels)
    print(header + f" | {'floor':>7} {'cpu':>6} | goals")
    for name, case, found, floor in rows:
        cells = "".join(f" | {found[l]['p50']:7.2f}ms {found[l]['p95']:5.2f}ms {found[l]['rps']:6.0f} "
                        f"{found[l]['cpu']:4.2f}ms" if l in found else f" | {'-':>9} {'-':>7} {'-':>6} {'-':>6}"
                        for l in labels)
        print(f"{name:36}{cells} | {floor['p50']:5.2f}ms {floor['cpu']:4.2f}ms | "
              f"{verdict(name, case, found['TradeWatch'], found.get('PostGraphile 5'), floor)}")


WHAT_IF = ("query($f: DateTime!, $t: DateTime!, $c: Float!) { evaluateStrategy(from: $f, to: $t, "
           "rerollCostAmount: $c) { summary { hours hoursEvaluated meanProfitPerUnitOptimal } } }")
_WHAT_IF_RESULTS: list[str] = []


def what_if(base: str, history_days: int, repeats: int = 3) -> None:
    """evaluateStrategy over 7 and 31 days (those the history holds): cold (a fresh reroll cost) and
    cached (the same again)."""
    with httpx.Client(base_url=base, timeout=60) as client:
        cost = 1.0
        for days in (d for d in (7, 31) if d <= history_days):
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
