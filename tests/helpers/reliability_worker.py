"""Run as a separate process by tests/reliability/test_database_faults.py: a write the test SIGKILLs.

    python -m tests.helpers.reliability_worker snapshots <database_url> <start> <end>
    python -m tests.helpers.reliability_worker derived   <database_url> <start> <end>
    python -m tests.helpers.reliability_worker ingest    <database_url> <trade_api_url> <hour>

`snapshots` runs `compute_snapshots` over [start, end), `derived` then also
`compute_profitability`, `ingest` runs `ingest_hour` for the default watchlist against the
given trade API (times are ISO-8601). The real code paths, nothing stubbed. It prints
`done <json>` after the last write; the parent finds this process's database sessions by
their application_name (set it with PGAPPNAME) and kills it while one of them writes.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta

from tradewatch.warehouse.db import get_pool
from tradewatch.hours import utc_now
from tradewatch.watchlist import load_watchlist


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def main(argv: list[str]) -> None:
    mode, database_url = argv[0], argv[1]
    pool = get_pool(database_url)
    watchlist = load_watchlist()
    if mode in ("snapshots", "derived"):
        from tradewatch.warehouse.profitability import compute_profitability
        from tradewatch.warehouse.snapshots import compute_snapshots

        start, end = _time(argv[2]), _time(argv[3])
        done = {"snapshots": compute_snapshots(pool, watchlist, start, end).rows}
        if mode == "derived":
            done["profitability"] = compute_profitability(pool, watchlist, start, end).rows
    elif mode == "ingest":
        from tradewatch.bulk_exchange.ingest import ingest_hour
        from tradewatch.rate_limit import PostgresRateLimiter
        from tradewatch.bulk_exchange.client import TradeApiClient

        limiter = PostgresRateLimiter(pool, key="reliability-worker", pad=0.02, poll=0.02)
        client = TradeApiClient(argv[2], watchlist.game, watchlist.league, "TradeWatch tests", limiter,
                                backoff=0.05)
        report = ingest_hour(pool, client, watchlist, _time(argv[3]), utc_now(), timedelta(minutes=15))
        done = {"fetched": report.fetched, "failed": report.failed}
    else:
        raise SystemExit(f"unknown mode {mode!r}; expected snapshots, derived or ingest")
    print("done", json.dumps(done), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
