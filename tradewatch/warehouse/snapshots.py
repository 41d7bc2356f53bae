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

Speed (a year is 8,760 hours × 21 items ≈ 184k responses of ~30 kB each): the stored
bodies are compressed (~4 kB, `zlib-jwt`), so PostgreSQL only ships bytes; decompressing
(without the whisper tokens, which pricing never reads), parsing (orjson) and pricing is CPU
work done in worker processes, one per core, on chunks of rows (`tradewatch.warehouse.parallel`),
while this process streams the priced rows from a server-side cursor into a COPY on a second
connection: memory stays flat for a year. The derivation does not recompute each body's
SHA-256 (zlib's own check catches a damaged stream, the stream walk a malformed one;
`raw_store.read_body`, used for audits, proves the bytes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from psycopg_pool import ConnectionPool

from tradewatch.hours import hours_between, partition_key
from tradewatch.market.pricing import BookSummary
from tradewatch.warehouse.book_pricing import Priced, SnapshotError, price_chunk, price_response
from tradewatch.warehouse.parallel import default_workers, ordered_map
from tradewatch.watchlist import Watchlist

__all__ = ["HourSnapshot", "SnapshotError", "SnapshotReport", "compute_snapshots"]


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


_READ_RAW = """
SELECT id, observed_hour, item_id, fetched_at, simulated, compression, body
FROM warehouse.raw_trade_responses
WHERE game = %s AND league = %s AND paid_with = %s AND observed_hour >= %s AND observed_hour < %s
  AND item_id = ANY(%s)
ORDER BY observed_hour, item_id
"""

_SNAPSHOT_COLUMNS = (
    "game, league, paid_with, observed_hour, item_id, observed_at, listing_count, total_stock, min_price, "
    "robust_min_price, target_quantity, bought, spent, avg_price, book, simulated, raw_response_id"
)
# rows per task sent to a worker: large enough to amortize the hand-over, small enough for flat memory
_CHUNK = 256
# fewer hours than this are priced in this process: a window's books are priced in ~5 ms an hour here, less
# than handing them to workers costs (measured on 2 cores: 500 hours took 2.9 s in this process and 4.3 s
# with two spawned workers, whose start alone is ~0.7 s of CPU each), so only months go to workers
PARALLEL_FROM_HOURS = 720

def _chunks(cursor, paid_with: str, target: int) -> Iterator[tuple[str, int, list[tuple]]]:
    while rows := cursor.fetchmany(_CHUNK):
        yield paid_with, target, rows


def _hour_snapshot(hour: datetime, summaries: list[BookSummary], watched: tuple[str, ...]) -> HourSnapshot:
    present = {s.item_id for s in summaries}
    priced = [s for s in summaries if s.robust_min_price is not None and math.isfinite(s.robust_min_price)]
    cheapest = min(priced, key=lambda s: s.robust_min_price, default=None)
    return HourSnapshot(
        hour=hour, rows=len(summaries), missing=tuple(i for i in watched if i not in present),
        empty_books=tuple(s.item_id for s in summaries if s.listing_count == 0),
        cheapest_item=cheapest.item_id if cheapest else None,
        cheapest_price=cheapest.robust_min_price if cheapest else None,
    )


def compute_snapshots(
    pool: ConnectionPool,
    watchlist: Watchlist,
    start: datetime,
    end: datetime,
    log: Callable[[str], None] = lambda _: None,
    workers: int | None = None,
) -> SnapshotReport:
    """Price the stored responses of [start, end) and replace that window of price_snapshots.

    One transaction deletes the window (for the watchlist's game, league and currency)
    and inserts the new rows; a response that cannot be priced raises `SnapshotError`
    and nothing changes. `workers` defaults to one per core for 30 days or more, else none.
    """
    if not start < end:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    report = SnapshotReport(start=start, end=end)
    if workers is None:
        workers = default_workers((end - start).total_seconds() / 3600, PARALLEL_FROM_HOURS)
    game, league, paid_with, target = watchlist.game, watchlist.league, watchlist.paid_with, watchlist.target_quantity
    # rows arrive ordered by hour: only the current hour's summaries are held (flat memory for a year)
    done: dict[datetime, HourSnapshot] = {}
    current: list[BookSummary] = []

    def close_hour(hour: datetime) -> None:
        done[hour] = _hour_snapshot(hour, current, watchlist.items)
        report.latest = list(current)
        current.clear()

    def rows(priced: Iterable[list[Priced]]) -> Iterable[tuple]:
        last_hour: datetime | None = None
        for chunk in priced:
            for raw_id, hour, item_id, fetched_at, simulated, summary, book in chunk:
                if hour != last_hour and last_hour is not None:
                    close_hour(last_hour)
                last_hour = hour
                for column in ("min_price", "robust_min_price", "avg_price"):
                    value = getattr(summary, column)
                    if value is not None and not (math.isfinite(value) and value > 0):
                        report.bad_prices.append(f"{partition_key(hour)} {item_id} {column}={value}")
                current.append(summary)
                yield (game, league, paid_with, hour, item_id, fetched_at, summary.listing_count,
                       summary.total_stock, summary.min_price, summary.robust_min_price, target, summary.bought,
                       summary.spent, summary.avg_price, book, simulated, raw_id)

    with pool.connection() as reader, pool.connection() as writer:
        with reader.transaction(), writer.transaction():
            deleted = writer.execute(
                "DELETE FROM warehouse.price_snapshots WHERE game = %s AND league = %s AND paid_with = %s "
                "AND observed_hour >= %s AND observed_hour < %s",
                (game, league, paid_with, start, end),
            ).rowcount
            # binary: the bodies arrive as bytes, not as hex text to decode
            with reader.cursor(name="tradewatch_raw_window", binary=True) as source, writer.cursor() as sink:
                source.itersize = 4 * _CHUNK
                source.execute(_READ_RAW, (game, league, paid_with, start, end, list(watchlist.items)))
                priced = ordered_map(price_chunk, _chunks(source, paid_with, target), workers)
                with sink.copy(f"COPY warehouse.price_snapshots ({_SNAPSHOT_COLUMNS}) FROM STDIN") as copy:
                    last_hour = None
                    for row in rows(priced):
                        copy.write_row(row)
                        report.rows += 1
                        last_hour = row[3]
                    if last_hour is not None:
                        close_hour(last_hour)
            report.divine_book_hours = _replace_book_divine_prices(reader, writer, game, league, start, end)
    report.deleted = deleted
    report.hours = [done.get(hour) or _hour_snapshot(hour, [], watchlist.items) for hour in hours_between(start, end)]
    log(f"price snapshots {partition_key(start)}…{partition_key(end)}: {report.rows} rows written, "
        f"{report.deleted} replaced, {sum(len(h.missing) for h in report.hours)} item-hours missing")
    return report


# the book of divine paid in chaos, as the raw asset stores it (tradewatch.bulk_exchange.ingest)
_DIVINE, _CHAOS = "divine", "chaos"
# the divine book's price is its robust minimum; the depth walk is summarize_offers' default
DIVINE_TARGET = 500


def _replace_book_divine_prices(reader, writer, game: str, league: str, start: datetime, end: datetime) -> int:
    """Price every stored divine book of [start, end) and replace that window; rows written."""
    writer.execute("DELETE FROM warehouse.book_divine_prices WHERE game = %s AND league = %s "
                   "AND observed_hour >= %s AND observed_hour < %s", (game, league, start, end))
    rows = []
    for raw_id, hour, _item, _fetched, simulated, compression, body in reader.execute(
            _READ_RAW, (game, league, _CHAOS, start, end, [_DIVINE])).fetchall():
        summary, _book = price_response(raw_id, hour, _DIVINE, compression, bytes(body), _CHAOS, DIVINE_TARGET)
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
