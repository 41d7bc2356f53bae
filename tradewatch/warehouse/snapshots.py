"""Hourly price snapshots (silver) computed from stored raw responses (bronze).

`compute_snapshots` prices every stored response of a window of hours with the pure
order-book math of `tradewatch.market.pricing` and replaces that window of
`warehouse.price_snapshots` in one transaction: readers see either the old hours or the
new ones, never a mix, and a failure anywhere leaves the old rows untouched.

A watched item without a stored response gets no row (it is *missing*, which the
completeness check reports); a stored but empty book gets a row with `listing_count = 0`
and null prices.

The same transaction replaces the window of `warehouse.book_divine_prices`: the robust
minimum ask of each stored book of divine paid in chaos (the divine price in chaos where the
Currency Exchange has none; `analytics.exchange_divine_price` prefers the exchange's).

Speed (a year is 8,760 hours × 21 items ≈ 184k responses of ~36 kB each): PostgreSQL
extracts only the offers from each JSONB body (`jsonb_path_query_array`), so a tenth of
the bytes cross the socket and Python parses a tenth of the JSON; rows stream from a
server-side cursor into a COPY on a second connection, so memory stays flat.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from psycopg_pool import ConnectionPool

from tradewatch.errors import TradeWatchError
from tradewatch.hours import hours_between, partition_key
from tradewatch.market.pricing import (BookSummary, Offer, ladder, offers_from_listing_offers, offers_from_response,
                                       summarize_offers)
from tradewatch.watchlist import Watchlist

__all__ = ["HourSnapshot", "SnapshotError", "SnapshotReport", "compute_snapshots"]


class SnapshotError(TradeWatchError):
    """A stored response cannot be priced; the message names the hour and the item."""


@dataclass(frozen=True)
class HourSnapshot:
    """What one hour of snapshots holds (for per-partition metadata and checks)."""

    hour: datetime
    rows: int
    missing: tuple[str, ...]
    empty_books: tuple[str, ...]
    cheapest_item: str | None
    cheapest_price: float | None


@dataclass
class SnapshotReport:
    """The outcome of one `compute_snapshots` call over [start, end)."""

    start: datetime
    end: datetime
    rows: int = 0
    deleted: int = 0
    hours: list[HourSnapshot] = field(default_factory=list)
    latest: list[BookSummary] = field(default_factory=list)  # the last hour with data, for a table
    bad_prices: list[str] = field(default_factory=list)  # "<hour> <item> <column>=<value>", should stay empty
    divine_book_hours: int = 0  # hours with a stored divine book (divine paid in chaos)

    @property
    def items(self) -> int:
        return len({s.item_id for s in self.latest}) if self.latest else 0

    @property
    def missing(self) -> dict[str, tuple[str, ...]]:
        """Partition key → watched items without a stored response."""
        return {partition_key(h.hour): h.missing for h in self.hours if h.missing}


# `result` as an object → only the offers lists (JSONB keeps object keys in its own order,
# so the listing order is the same as reading the whole body). Anything else (an empty
# list, an error body) is sent whole so that `offers_from_response` treats it exactly as
# it always does.
_READ_RAW = """
SELECT id, observed_hour, item_id, fetched_at, simulated,
       CASE WHEN jsonb_typeof(response_body -> 'result') = 'object'
            THEN jsonb_path_query_array(response_body, '$.result.*.listing.offers')::text END AS offers,
       CASE WHEN jsonb_typeof(response_body -> 'result') = 'object'
            THEN NULL ELSE response_body::text END AS whole_body
FROM warehouse.raw_trade_responses
WHERE game = %s AND league = %s AND paid_with = %s AND observed_hour >= %s AND observed_hour < %s
  AND item_id = ANY(%s)
ORDER BY observed_hour, item_id
"""

_SNAPSHOT_COLUMNS = (
    "game, league, paid_with, observed_hour, item_id, observed_at, listing_count, total_stock, min_price, "
    "robust_min_price, target_quantity, bought, spent, avg_price, book, simulated, raw_response_id"
)


def _offers(offers_text: str | None, whole_body: str | None, item_id: str, paid_with: str) -> list[Offer]:
    if offers_text is not None:
        return offers_from_listing_offers(json.loads(offers_text), item_id, paid_with)
    return offers_from_response(json.loads(whole_body) if whole_body is not None else None, item_id, paid_with)


def _priced_offers(raw_id: int, hour: datetime, item_id: str, paid_with: str, offers_text: str | None,
                   whole_body: str | None, what: str) -> list[Offer]:
    """The offers of one stored response; SnapshotError naming `what`, the hour and the raw row otherwise."""
    try:
        return _offers(offers_text, whole_body, item_id, paid_with)
    except ValueError as exc:
        raise SnapshotError(
            f"the stored {what} in hour {partition_key(hour)} (raw id {raw_id}) cannot be "
            f"priced: {exc}. Nothing was written; fix or delete that raw row and re-run the window."
        ) from None


def compute_snapshots(
    pool: ConnectionPool,
    watchlist: Watchlist,
    start: datetime,
    end: datetime,
    log: Callable[[str], None] = lambda _: None,
) -> SnapshotReport:
    """Price the stored responses of [start, end) and replace that window of price_snapshots.

    One transaction deletes the window (for the watchlist's game, league and currency)
    and inserts the new rows; a response that cannot be priced raises `SnapshotError`
    and nothing changes.
    """
    if not start < end:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    report = SnapshotReport(start=start, end=end)
    game, league, paid_with, target = watchlist.game, watchlist.league, watchlist.paid_with, watchlist.target_quantity
    by_hour: dict[datetime, list[BookSummary]] = defaultdict(list)
    last_hour: datetime | None = None

    def rows(cursor: Iterable[tuple]) -> Iterable[tuple]:
        nonlocal last_hour
        for raw_id, hour, item_id, fetched_at, simulated, offers_text, whole_body in cursor:
            offers = _priced_offers(raw_id, hour, item_id, paid_with, offers_text, whole_body,
                                    f"response for {item_id}")
            summary = summarize_offers(offers, item_id, paid_with, target)
            for column in ("min_price", "robust_min_price", "avg_price"):
                value = getattr(summary, column)
                if value is not None and not (math.isfinite(value) and value > 0):
                    report.bad_prices.append(f"{partition_key(hour)} {item_id} {column}={value}")
            by_hour[hour].append(summary)
            last_hour = hour
            yield (game, league, paid_with, hour, item_id, fetched_at, summary.listing_count, summary.total_stock,
                   summary.min_price, summary.robust_min_price, target, summary.bought, summary.spent,
                   summary.avg_price, json.dumps(ladder(offers), separators=(",", ":")), simulated, raw_id)

    with pool.connection() as reader, pool.connection() as writer:
        with reader.transaction(), writer.transaction():
            deleted = writer.execute(
                "DELETE FROM warehouse.price_snapshots WHERE game = %s AND league = %s AND paid_with = %s "
                "AND observed_hour >= %s AND observed_hour < %s",
                (game, league, paid_with, start, end),
            ).rowcount
            with reader.cursor(name="tradewatch_raw_window") as source, writer.cursor() as sink:
                source.itersize = 500
                source.execute(_READ_RAW, (game, league, paid_with, start, end, list(watchlist.items)))
                with sink.copy(f"COPY warehouse.price_snapshots ({_SNAPSHOT_COLUMNS}) FROM STDIN") as copy:
                    for row in rows(source):
                        copy.write_row(row)
                        report.rows += 1
            report.divine_book_hours = _replace_book_divine_prices(reader, writer, game, league, start, end)
    report.deleted = deleted
    for hour in hours_between(start, end):
        summaries = by_hour.get(hour, [])
        present = {s.item_id for s in summaries}
        priced = [s for s in summaries if s.robust_min_price is not None and math.isfinite(s.robust_min_price)]
        cheapest = min(priced, key=lambda s: s.robust_min_price, default=None)
        report.hours.append(HourSnapshot(
            hour=hour, rows=len(summaries), missing=tuple(i for i in watchlist.items if i not in present),
            empty_books=tuple(s.item_id for s in summaries if s.listing_count == 0),
            cheapest_item=cheapest.item_id if cheapest else None,
            cheapest_price=cheapest.robust_min_price if cheapest else None,
        ))
    if last_hour is not None:
        report.latest = by_hour[last_hour]
    log(f"price snapshots {partition_key(start)}…{partition_key(end)}: {report.rows} rows written, "
        f"{report.deleted} replaced, {sum(len(h.missing) for h in report.hours)} item-hours missing")
    return report


# the book of divine paid in chaos, as the raw asset stores it (tradewatch.bulk_exchange.ingest)
_DIVINE, _CHAOS = "divine", "chaos"


def _replace_book_divine_prices(reader, writer, game: str, league: str, start: datetime, end: datetime) -> int:
    """Price every stored divine book of [start, end) and replace that window; rows written."""
    writer.execute("DELETE FROM warehouse.book_divine_prices WHERE game = %s AND league = %s "
                   "AND observed_hour >= %s AND observed_hour < %s", (game, league, start, end))
    rows = []
    for raw_id, hour, _item, _fetched, simulated, offers_text, whole_body in reader.execute(
            _READ_RAW, (game, league, _CHAOS, start, end, [_DIVINE])).fetchall():
        offers = _priced_offers(raw_id, hour, _DIVINE, _CHAOS, offers_text, whole_body,
                                "divine book (divine paid in chaos)")
        summary = summarize_offers(offers, _DIVINE, _CHAOS)
        rows.append((game, league, hour, _finite(summary.robust_min_price), _finite(summary.min_price),
                     summary.listing_count, summary.total_stock, simulated, raw_id))
    if rows:
        with writer.cursor() as cur:
            cur.executemany(
                "INSERT INTO warehouse.book_divine_prices (game, league, observed_hour, chaos_per_divine, min_price, "
                "listing_count, total_stock, simulated, raw_response_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                rows)
    return len(rows)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) and value > 0 else None
