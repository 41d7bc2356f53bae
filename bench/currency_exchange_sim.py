"""Benchmark: the simulated Currency Exchange feed alone (what bench/currency_exchange.py's
720-hour backfill costs on the server side).

    .venv/bin/python bench/currency_exchange_sim.py [--hours 720] [--workers 4]

1. `currency_exchange_document` for N consecutive hours at the default size (no HTTP):
   time per document, bytes and markets per hour.
2. The same hours fetched over real HTTP from a SimServer (fresh server, so its document
   cache is cold) with `--workers` concurrent clients: wall time, requests per second, MB/s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from trade_sim import SimConfig, SimServer, currency_exchange_document  # noqa: E402

START = datetime(2026, 7, 1, tzinfo=timezone.utc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=720)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    hours = [START + timedelta(hours=i) for i in range(args.hours)]

    config = SimConfig()
    currency_exchange_document(START - timedelta(days=30), "pc", config)  # catalogue, imports
    times, sizes = [], []
    for hour in hours:
        began = time.perf_counter()
        body = currency_exchange_document(hour, "pc", SimConfig(seed=11))  # seed 11: cold cache
        times.append(time.perf_counter() - began)
        sizes.append(len(body))
    print(f"documents: {len(hours)} hours, {statistics.mean(times) * 1000:.1f} ms mean, "
          f"{statistics.quantiles(times, n=20)[-1] * 1000:.1f} ms p95, "
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
