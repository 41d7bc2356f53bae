"""The demo's data at start: what `tradewatch demo` stores before it says it is ready.

* The Currency Exchange history is written in a thread (`CurrencyExchangeHistory`) while the
  main thread writes the bulk-exchange history: on 2 cores the two overlap instead of adding up.
* The current hour is fetched from the simulator over HTTP, as the hourly schedule fetches it
  (same client, same limiter state), so the hour in which the demo starts is not empty.
* The derived tables of every new hour (snapshots, profitability, alerts) are computed here,
  not through a Dagster backfill, whose daemon loop alone would add 30 s.
* What was computed says whether the assets' checks pass (`CheckOutcome`), judged exactly as the
  assets judge their own runs, so the Dagster UI's checks tell the truth from the first minute.

The check names are those of the assets in `tradewatch_assets` (a test keeps them equal): this
package may not import the code location.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg_pool import ConnectionPool

from tradewatch.bulk_exchange.ingest import IngestReport
from tradewatch.cli.dagster_history import ALERTS_ASSET, RAW_ASSET, CheckOutcome
from tradewatch.hours import hours_between, partition_key
from tradewatch.watchlist import Watchlist

# (asset, check) as tradewatch_assets names them
RAW_COMPLETE = (RAW_ASSET, "every_watched_item_stored")
SNAPSHOTS_COMPLETE = ("price_snapshots", "every_watched_item_priced")
SNAPSHOTS_PRICES = ("price_snapshots", "prices_positive_and_finite")
PROFITABILITY_PRICED = ("reroll_profitability", "every_strategy_priced")
CX_RAW_STORED = ("raw_currency_exchange", "every_hour_stored")
CX_PRICES = ("exchange_prices", "every_stored_hour_priced")
CX_REALM = "pc"


class CurrencyExchangeHistory:
    """The simulated Currency Exchange hours of [start, end) and their prices, written in a thread."""

    def __init__(self, pool: ConnectionPool, start: datetime, end: datetime) -> None:
        self.pool, self.start, self.end = pool, start, end
        self.hours = 0
        self.seconds = 0.0
        self.checks: list[CheckOutcome] = []
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="currency-exchange-history", daemon=True)

    def begin(self) -> "CurrencyExchangeHistory":
        self._thread.start()
        return self

    def _run(self) -> None:
        from tradewatch.cli.simulated_history import simulate_currency_exchange_history
        from tradewatch.currency_exchange.raw_store import stored_hours
        from tradewatch.warehouse.exchange_prices import compute_exchange_prices
        from tradewatch.warehouse.market_rollups import compute_market_hourly, compute_market_latest

        started = time.monotonic()
        try:
            self.hours = simulate_currency_exchange_history(self.pool, self.start, self.end, CX_REALM, derive=False,
                                                            stop=self._stop.is_set)
            if self._stop.is_set():
                return
            if not self.hours:  # nothing new: the outcomes reported with the stored hours still hold
                return
            with self.pool.connection() as conn:
                have = stored_hours(conn, CX_REALM, self.start, self.end)
            missing = [partition_key(h) for h in hours_between(self.start, self.end) if h not in have]
            self.checks.append(CheckOutcome(*CX_RAW_STORED, passed=not missing,
                                            metadata={"missing_hours": len(missing), "missing": missing[:200]}))
            # in this process: worker processes would take the Ctrl-C of a demo that is stopping meanwhile
            report = compute_exchange_prices(self.pool, CX_REALM, self.start, self.end, workers=1)
            without = [partition_key(h) for h in report.hours_without_documents]
            self.checks.append(CheckOutcome(
                *CX_PRICES, passed=not without and not report.malformed_markets, error=False,
                metadata={"hours_without_documents": without[:200],
                          "malformed_markets": dict(list(report.malformed_markets.items())[:50])}))
            # the market overview's rollups, as the eager assets below exchange_prices keep them
            compute_market_hourly(self.pool, CX_REALM, self.start, self.end)
            compute_market_latest(self.pool, CX_REALM)
        except BaseException as exc:  # noqa: BLE001 - raised again in the supervisor's thread by `result`
            self._error = exc
        finally:
            self.seconds = time.monotonic() - started

    def result(self, between: Callable[[], None] = lambda: None) -> "CurrencyExchangeHistory":
        """Wait for the thread, calling `between` between short waits; its failure becomes the caller's."""
        while self._thread.is_alive():
            # short waits: a signal the kernel hands to the writing thread still interrupts this one
            self._thread.join(0.2)
            between()
        if self._error is not None:
            raise self._error
        return self

    def cancel(self, seconds: float = 2) -> None:
        """Ask the thread to stop after the hour it writes, and wait for it a little: pricing a range
        cannot be interrupted, and a stop must not wait for it. A thread still writing when PostgreSQL
        stops fails quietly (its error is only raised by `result`) and dies with the process."""
        self._stop.set()
        self._thread.join(timeout=seconds)


def fetch_current_hour(pool: ConnectionPool, watchlist: Watchlist, base_url: str, user_agent: str,
                       hour: datetime, now: datetime, grace: timedelta) -> tuple[IngestReport, CheckOutcome | None]:
    """The watched items of the current hour not stored yet, fetched over HTTP as the schedule would;
    the raw check's outcome unless nothing was to fetch (then the one reported before still holds)."""
    from tradewatch.bulk_exchange.client import TradeApiClient, limiter_key
    from tradewatch.bulk_exchange.ingest import ingest_hour
    from tradewatch.rate_limit import PostgresRateLimiter

    limiter = PostgresRateLimiter(pool, key=limiter_key(base_url, watchlist.game), max_wait=60)
    client = TradeApiClient(base_url, watchlist.game, watchlist.league, user_agent, limiter)
    try:
        report = ingest_hour(pool, client, watchlist, hour, now, grace)
    finally:
        client.close()
    if not report.fetched and not report.missing:
        return report, None
    stored = len(report.already_stored) + len(report.fetched)
    check = CheckOutcome(*RAW_COMPLETE, passed=not report.missing, error=False,
                         metadata={"missing": report.missing, "stored": stored, "watched": len(watchlist.items)})
    return report, check


def derive(pool: ConnectionPool, watchlist: Watchlist, start: datetime, end: datetime) -> list[CheckOutcome]:
    """Snapshots, profitability and alerts of [start, end), and what their checks say."""
    from tradewatch.warehouse.alerts import compute_alerts
    from tradewatch.warehouse.profitability import compute_profitability
    from tradewatch.warehouse.snapshots import compute_snapshots

    # in this process: spawned workers would take the Ctrl-C of a demo that is stopping meanwhile
    snapshots = compute_snapshots(pool, watchlist, start, end, workers=1)
    profitability = compute_profitability(pool, watchlist, start, end)
    compute_alerts(pool, watchlist, start, end)  # delivered by the asset's runs, not at start
    missing, unavailable = snapshots.missing, profitability.unavailable
    return [
        CheckOutcome(*SNAPSHOTS_COMPLETE, passed=not missing,
                     metadata={"hours_with_missing_items": len(missing), "missing": dict(list(missing.items())[:50]),
                               "watched": len(watchlist.items)},
                     description=None if not missing else
                     "items are missing: re-fetch the current hour, or accept the gap for past hours"),
        CheckOutcome(*SNAPSHOTS_PRICES, passed=not snapshots.bad_prices,
                     metadata={"bad_values": snapshots.bad_prices[:50]}),
        CheckOutcome(*PROFITABILITY_PRICED, passed=not unavailable, error=False,
                     metadata={"unavailable": {partition_key(h): r for h, r in sorted(unavailable.items())[:50]}}),
    ]


__all__ = ["ALERTS_ASSET", "CurrencyExchangeHistory", "derive", "fetch_current_hour"]
