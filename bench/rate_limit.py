"""Benchmark: fetch the default 21 items from the simulator under the real policy shape,
scaled down, through the PostgreSQL-backed limiter. Reports achieved time / theoretical
minimum and the number of 429s, for one process and for two processes sharing the limiter.

    .venv/bin/python bench/rate_limit.py [--scale 0.05] [--database-url URL]

Without --database-url (or TRADEWATCH_TEST_DATABASE_URL) an embedded PostgreSQL is
started in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from trade_sim import SimConfig, SimServer  # noqa: E402
from tradewatch.warehouse.db import close_pools, get_pool  # noqa: E402
from tradewatch.warehouse.embedded_pg import EmbeddedPostgres  # noqa: E402
from tradewatch.warehouse.migrate import upgrade  # noqa: E402
from tradewatch.rate_limit import PostgresRateLimiter, minimum_duration, parse_rules  # noqa: E402
from tradewatch.bulk_exchange.client import TradeApiClient  # noqa: E402
from tradewatch.watchlist import load_watchlist  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    parser.add_argument("--scale", type=float, default=0.05, help="time scale of the policy (1 = real)")
    parser.add_argument("--database-url", default=os.environ.get("TRADEWATCH_TEST_DATABASE_URL"))
    args = parser.parse_args()
    items = list(load_watchlist().items)
    server = None
    base = args.database_url
    if not base:
        server = EmbeddedPostgres(Path(tempfile.mkdtemp()) / "pg", free_port())
        server.start()
        base = server.url("postgres")
    name = f"tw_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    try:
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
    finally:
        close_pools()
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if server:
            server.stop()


if __name__ == "__main__":
    main()
