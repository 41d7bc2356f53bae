"""Live ingestion of one hour: fetch what is missing, commit each item as it arrives.

The market of hour H can only be observed during H (plus a grace period). Outside that
window nothing is fetched: a stored hour is left as it is, a missing one is an error
that says the past cannot be observed and that the derived assets are what to backfill.

Besides the watched items, each hour also fetches the order book of divine paid in chaos
(`ingest_divine_book`): where the Currency Exchange has no divine price for a league-hour,
its robust minimum ask converts prices between chaos and divine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from psycopg_pool import ConnectionPool

from tradewatch.errors import TradeWatchError
from tradewatch.hours import HOUR, partition_key
from tradewatch.rate_limit import RateLimitWaitTooLong
from tradewatch.bulk_exchange.raw_store import RawKey, insert_response, stored_items
from tradewatch.bulk_exchange.client import TradeApiClient, TradeApiError
from tradewatch.watchlist import Watchlist


class PastHourError(TradeWatchError):
    """A past (or future) hour was asked for and cannot be observed."""


@dataclass(frozen=True)
class HourPlan:
    """What a run of one raw partition will do."""

    hour: datetime
    window_open: bool
    already_stored: tuple[str, ...]
    to_fetch: tuple[str, ...]
    missing_for_good: tuple[str, ...]


def plan_hour(hour: datetime, now: datetime, grace: timedelta, watched: tuple[str, ...],
              stored: set[str]) -> HourPlan:
    """Decide what to fetch; raises PastHourError when the hour cannot be fetched and holds nothing."""
    key = partition_key(hour)
    if now < hour:
        raise PastHourError(
            f"raw partition {key} lies in the future: its market can only be observed during that hour"
        )
    window_open = now < hour + HOUR + grace
    already = tuple(i for i in watched if i in stored)
    missing = tuple(i for i in watched if i not in stored)
    if window_open:
        return HourPlan(hour, True, already, missing, ())
    if not already:
        raise PastHourError(
            f"raw partition {key} cannot be fetched now: the market of a past hour cannot be observed "
            f"(the fetch window closed {grace.total_seconds() / 60:g} min after the hour ended); "
            "backfill the derived assets (price_snapshots, reroll_profitability) instead"
        )
    return HourPlan(hour, False, already, (), missing)


@dataclass
class IngestReport:
    hour: datetime
    fetched: list[str] = field(default_factory=list)
    already_stored: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    missing_for_good: list[str] = field(default_factory=list)
    bytes_stored: int = 0
    window_open: bool = True

    @property
    def missing(self) -> list[str]:
        return sorted(set(self.failed) | set(self.missing_for_good))


def ingest_hour(pool: ConnectionPool, client: TradeApiClient, watchlist: Watchlist, hour: datetime,
                now: datetime, grace: timedelta, log: Callable[[str], None] = lambda _: None) -> IngestReport:
    """Fetch the watched items of `hour` that are not stored yet; one failing item never loses the others."""
    key = RawKey(watchlist.game, watchlist.league, watchlist.paid_with)
    with pool.connection() as conn:
        stored = stored_items(conn, key, hour)
    plan = plan_hour(hour, now, grace, watchlist.items, stored)
    report = IngestReport(hour=hour, already_stored=list(plan.already_stored),
                          missing_for_good=list(plan.missing_for_good), window_open=plan.window_open)
    if not plan.window_open:
        log(f"raw partition {partition_key(hour)} is in the past and already stored "
            f"({len(plan.already_stored)} items); nothing to fetch"
            + (f"; missing for good: {', '.join(plan.missing_for_good)}" if plan.missing_for_good else ""))
        return report
    if plan.already_stored:
        log(f"{len(plan.already_stored)} items already stored for {partition_key(hour)}; fetching the "
            f"{len(plan.to_fetch)} missing")
    for position, item in enumerate(plan.to_fetch):
        try:
            response = client.exchange(have=watchlist.paid_with, want=item)
        except RateLimitWaitTooLong as exc:
            for rest in plan.to_fetch[position:]:
                report.failed[rest] = str(exc)
            log(str(exc))
            break
        except TradeApiError as exc:
            report.failed[item] = str(exc)
            log(f"{item}: {exc}")
            continue
        with pool.connection() as conn:  # one transaction per item: successes are kept
            if insert_response(conn, key, hour, item, response):
                report.fetched.append(item)
                report.bytes_stored += response.response_bytes
            else:
                report.already_stored.append(item)
        log(f"{item}: stored ({response.response_bytes} bytes, attempt {response.attempt})")
    return report


# The divine book: divine orbs paid in chaos (stored as item `divine`, paid with `chaos`).
DIVINE_ITEM, DIVINE_PAID_WITH = "divine", "chaos"


def divine_book_key(watchlist: Watchlist) -> RawKey:
    return RawKey(watchlist.game, watchlist.league, DIVINE_PAID_WITH)


def ingest_divine_book(pool: ConnectionPool, client: TradeApiClient, watchlist: Watchlist, hour: datetime,
                       now: datetime, grace: timedelta, log: Callable[[str], None] = lambda _: None) -> str:
    """Fetch the hour's book of divine paid in chaos unless it is stored; what happened, in a few words.

    Never raises for the trade site's answer: a missing divine book only leaves the hour to the
    Currency Exchange's divine price. Nothing is fetched outside the hour's fetch window.
    """
    key = divine_book_key(watchlist)
    if now < hour or now >= hour + HOUR + grace:
        return "window closed"
    with pool.connection() as conn:
        if DIVINE_ITEM in stored_items(conn, key, hour):
            return "already stored"
    try:
        response = client.exchange(have=DIVINE_PAID_WITH, want=DIVINE_ITEM)
    except (RateLimitWaitTooLong, TradeApiError) as exc:
        log(f"divine book (divine paid in chaos): {exc}")
        return f"failed: {exc}"
    with pool.connection() as conn:
        stored = insert_response(conn, key, hour, DIVINE_ITEM, response)
    log(f"divine book (divine paid in chaos): stored ({response.response_bytes} bytes, attempt {response.attempt})")
    return "fetched" if stored else "already stored"
