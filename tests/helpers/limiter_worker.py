"""Run as a separate process: N exchange requests through the shared PostgreSQL limiter.

Prints one line `started finished` (epoch seconds) for the parent test to combine.
"""

import sys
import time

from tradewatch.warehouse.db import get_pool
from tradewatch.rate_limit import PostgresRateLimiter
from tradewatch.bulk_exchange.client import TradeApiClient


def main(database_url: str, base_url: str, key: str, items: list[str]) -> None:
    limiter = PostgresRateLimiter(get_pool(database_url), key=key, pad=0.02, poll=0.02)
    client = TradeApiClient(base_url, "poe1", "Standard", "TradeWatch tests", limiter, backoff=0.05)
    started = time.time()
    for item in items:
        client.exchange("divine", item)
    print(started, time.time(), client.stats.rate_limited, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(","))
