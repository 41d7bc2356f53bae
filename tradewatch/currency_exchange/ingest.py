"""Fetch and store a range of Currency Exchange hours: only what is missing, several at once.

Published hours never change, so an hour already stored is never fetched again and a
re-run fetches only what is missing. Up to `max_in_flight` hours are fetched at once;
the shared limiter decides when each request may go. Each stored hour is its own
transaction, committed as soon as it arrives: killing the process keeps every hour
already stored, and no hour is ever half-written (one row holds the whole document).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from psycopg_pool import ConnectionPool

from tradewatch.currency_exchange.client import (FAILED, NOT_PUBLISHED, PUBLISHED, CurrencyExchangeClient,
                                                 CurrencyExchangeError, HourAnswer)
from tradewatch.currency_exchange.raw_store import insert_hour, prepare, stored_hours
from tradewatch.hours import hours_between, partition_key
from tradewatch.rate_limit import RateLimitWaitTooLong


@dataclass
class RangeReport:
    """What one `ingest_range` call did over [start, end)."""

    realm: str
    start: datetime
    end: datetime
    stored: list[datetime] = field(default_factory=list)
    already_stored: list[datetime] = field(default_factory=list)
    empty: list[datetime] = field(default_factory=list)  # stored, with no markets
    not_published: list[datetime] = field(default_factory=list)
    refused: dict[datetime, str] = field(default_factory=dict)  # stale, refused, failed: with the reason
    bytes_received: int = 0
    bytes_stored: int = 0

    @property
    def hours(self) -> list[datetime]:
        return hours_between(self.start, self.end)

    @property
    def missing(self) -> list[datetime]:
        """The hours of the range that are not stored after this call."""
        have = set(self.stored) | set(self.already_stored)
        return [h for h in self.hours if h not in have]

    def reasons(self) -> dict[str, str]:
        """Partition key → why the hour is not stored."""
        out = {partition_key(h): "not published yet" for h in self.not_published}
        out.update({partition_key(h): why for h, why in self.refused.items()})
        return dict(sorted(out.items()))


def ingest_range(pool: ConnectionPool, client: CurrencyExchangeClient, realm: str, start: datetime, end: datetime,
                 *, max_in_flight: int = 4, simulated: bool = False,
                 log: Callable[[str], None] = lambda _: None) -> RangeReport:
    """Fetch every hour of [start, end) not stored yet for `realm`, store the valid ones."""
    report = RangeReport(realm=realm, start=start, end=end)
    with pool.connection() as conn:
        have = stored_hours(conn, realm, start, end)
    report.already_stored = sorted(have)
    todo = [h for h in report.hours if h not in have]
    lock = threading.Lock()
    stop = threading.Event()

    def one(hour: datetime) -> None:
        if stop.is_set():
            with lock:
                report.refused[hour] = "not attempted: the run stopped early (see the error above)"
            return
        try:
            answer = client.fetch_hour(realm, hour)
        except RateLimitWaitTooLong as exc:
            stop.set()
            answer = HourAnswer(realm=realm, hour=hour, kind=FAILED, url="", reason=f"rate limits: {exc}")
        except CurrencyExchangeError as exc:  # the token endpoint refused us: every hour would fail alike
            stop.set()
            answer = HourAnswer(realm=realm, hour=hour, kind=FAILED, url="", reason=str(exc))
        if answer.kind == PUBLISHED:
            prepared = prepare(answer)  # compression outside the transaction (zlib releases the GIL)
            with pool.connection() as conn:
                inserted = insert_hour(conn, prepared, simulated=simulated)
            with lock:
                report.bytes_received += answer.response_bytes
                (report.stored if inserted else report.already_stored).append(hour)
                if inserted:
                    report.bytes_stored += len(prepared.compressed)
                    if answer.empty:
                        report.empty.append(hour)
            return
        with lock:
            report.bytes_received += answer.response_bytes
            if answer.kind == NOT_PUBLISHED:
                report.not_published.append(hour)
            else:
                report.refused[hour] = f"{answer.kind}: {answer.reason}"

    if todo:
        with ThreadPoolExecutor(max_workers=max(1, min(max_in_flight, len(todo))),
                                thread_name_prefix="cx-fetch") as workers:
            for future in [workers.submit(one, h) for h in todo]:
                future.result()
    for values in (report.stored, report.already_stored, report.empty, report.not_published):
        values.sort()
    log(f"currency exchange {realm} {partition_key(start)}…{partition_key(end)}: {len(report.stored)} hours stored, "
        f"{len(have)} already there, {len(report.not_published)} not published, {len(report.refused)} refused")
    return report
