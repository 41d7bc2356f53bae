"""Benchmark: the simulated Currency Exchange feed alone (what bench/currency_exchange.py's
720-hour backfill costs on the server side).

    .venv/bin/python bench/currency_exchange_sim.py [--hours 720] [--workers 4]

The hours are the newest N the simulator has published (anchored on the present, like the
backfill's); a size reaching before the feed's first hour is refused at once.

1. `currency_exchange_document` for N consecutive hours at the default size (no HTTP):
   time per document, bytes and markets per hour.
2. The same hours fetched over real HTTP from a SimServer (fresh server, so its document
   cache is cold) with `--workers` concurrent clients: wall time, requests per second, MB/s.
Then the load average and the commit.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._context import RunContext  # noqa: E402
from bench._hours import SizeRefused, newest_complete_hour, newest_range  # noqa: E402
from trade_sim import SimConfig, SimServer, currency_exchange_document  # noqa: E402
from tradewatch.hours import HOUR  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=720, help="the newest N published hours (default 720; "
                        "1 is the smallest)")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: at least 1 client is needed")
    config = SimConfig()
    newest = newest_complete_hour(published_after=timedelta(seconds=config.cx_publish_delay_seconds))
    try:
        start, _ = newest_range(args.hours, HOUR, config.cx_first_hour, option="--hours", newest=newest,
                                first_source="the simulator's first PC hour")
    except SizeRefused as exc:
        parser.error(str(exc))
    context = RunContext()
    hours = [start + timedelta(hours=i) for i in range(args.hours)]

    currency_exchange_document(config.cx_first_hour, "pc", config)  # catalogue, imports (an hour not measured)
    times, sizes = [], []
    for hour in hours:
        began = time.perf_counter()
        body = currency_exchange_document(hour, "pc", SimConfig(seed=11))  # seed 11: cold cache
        times.append(time.perf_counter() - began)
        sizes.append(len(body))
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]
    print(f"documents: {len(hours)} hours, {statistics.mean(times) * 1000:.1f} ms mean, "
          f"{p95 * 1000:.1f} ms p95, "
          f"{min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB ({sum(sizes) / 1e9:.2f} GB in all)")

    with SimServer(SimConfig()) as server:
        session = requests.Session()
        url = server.url + "/api/currency-exchange/"

        def fetch(hour: datetime) -> int:
            response = session.get(url + str(int(hour.timestamp())), timeout=60)
            response.raise_for_status()
            return len(response.content)

        began = time.perf_counter()
        with ThreadPoolExecutor(args.workers) as pool:
            total = sum(pool.map(fetch, hours))
        wall = time.perf_counter() - began
    print(f"http: {len(hours)} hours with {args.workers} workers in {wall:.1f} s "
          f"({len(hours) / wall:.0f} req/s, {total / wall / 1e6:.0f} MB/s)")
    print(context.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
