"""Benchmark: fetch the default 21 items from the simulator under the real policy shape,
scaled down, through the PostgreSQL-backed limiter. Reports achieved time / theoretical
minimum and the number of 429s, for one process and for two processes sharing the limiter.

    .venv/bin/python bench/rate_limit.py [--scale 0.05] [--database-url URL]

The limiter's state lives in a fresh database (dropped afterwards) on the server named by
--database-url or TRADEWATCH_BENCH_DATABASE_URL (a maintenance database URL), else on an
embedded PostgreSQL started in a temporary directory (bench/_databases.py). Prints the load
average and the commit after its figures.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._context import RunContext  # noqa: E402
from bench._databases import bench_server, fresh_database  # noqa: E402
from trade_sim import SimConfig, SimServer  # noqa: E402
from tradewatch.warehouse.db import get_pool  # noqa: E402
from tradewatch.warehouse.migrate import upgrade  # noqa: E402
from tradewatch.rate_limit import PostgresRateLimiter, minimum_duration, parse_rules  # noqa: E402
from tradewatch.bulk_exchange.client import TradeApiClient  # noqa: E402
from tradewatch.watchlist import load_watchlist  # noqa: E402


def exchange_statuses(sim: SimServer) -> list[int]:
    return [status for _, status, path in sim.app.state.request_log if "/exchange/" in path]


def one_process(url: str, sim: SimServer, items: list[str], pad: float) -> float:
    limiter = PostgresRateLimiter(get_pool(url), key=f"bench-{uuid.uuid4().hex[:6]}", pad=pad, poll=pad)
    client = TradeApiClient(sim.url, "poe1", "Standard", "TradeWatch bench", limiter, backoff=0.05)
    started = time.monotonic()
    for item in items:
        client.exchange("divine", item)
    return time.monotonic() - started


def two_processes(url: str, sim: SimServer, items: list[str]) -> float:
    key = f"bench-{uuid.uuid4().hex[:6]}"
    workers = [subprocess.Popen([sys.executable, "-m", "tests.helpers.limiter_worker", url, sim.url, key,
                                 ",".join(half)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
               for half in (items[0::2], items[1::2])]
    outputs = [w.communicate(timeout=600)[0].split() for w in workers]
    return max(float(o[1]) for o in outputs) - min(float(o[0]) for o in outputs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05, help="time scale of the policy (1 = real; "
                        "0.01 is about the smallest the limiter's polling keeps up with)")
    parser.add_argument("--database-url", help="a maintenance database URL (default TRADEWATCH_BENCH_DATABASE_URL, "
                        "else an embedded PostgreSQL)")
    args = parser.parse_args()
    if args.scale <= 0:
        parser.error(f"--scale {args.scale}: the policy's time scale must be > 0 (1 = real time)")
    items = list(load_watchlist().items)
    context = RunContext()
    with bench_server(args.database_url) as server, fresh_database(server, "tw_bench_limiter") as url:
        upgrade(url)
        print(f"{len(items)} items, policy scaled x{args.scale}")
        print(f"{'run':<22}{'achieved s':>12}{'minimum s':>12}{'ratio':>8}{'429s':>6}")
        for label, runner in (("one process", lambda sim: one_process(url, sim, items, 0.02)),
                              ("two processes", lambda sim: two_processes(url, sim, items))):
            with SimServer(SimConfig(time_scale=args.scale)) as sim:
                probe = __import__("requests").post(sim.url + "/api/trade/exchange/Standard", json={}, timeout=5)
                rules = parse_rules(probe.headers)
                sim.app.state.limiter.reset()
                sim.app.state.request_log.clear()
                elapsed = runner(sim)
                floor = minimum_duration(rules, len(items))
                print(f"{label:<22}{elapsed:>12.2f}{floor:>12.2f}{elapsed / floor:>8.3f}"
                      f"{exchange_statuses(sim).count(429):>6}")
    print(context.line())


if __name__ == "__main__":
    main()
