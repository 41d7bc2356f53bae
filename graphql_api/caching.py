"""HTTP caching of GraphQL answers: ETag, Cache-Control and 304 for settled history.

A response may be cached when every range it read lies wholly in hours that are stored
and can no longer change: the hour's fetch window has closed (the past market cannot be
observed again, so a missing item stays missing) and a later hour is already stored.
Fields without a range that follow the market (latestPrices, health) make it volatile.
The ETag is a hash of the body, so a derived backfill that changes numbers changes it too.

Which hour is stored newest is read in the root field's own statement where it can be
(`NEWEST_COLUMN`, `with_newest`; the view asks in a statement of its own only when no field
did): one round trip per answer instead of two.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tradewatch.hours import HOUR, utc_now

SETTLED_MAX_AGE = 3600
NEWEST_SQL = "SELECT max(observed_hour) FROM warehouse.price_snapshots"
NEWEST_COLUMN = f"({NEWEST_SQL})"


def with_newest(sql: str) -> str:
    """`sql` with every row carrying the newest stored hour as `tw_newest`, read by the same statement
    (the order of `sql`'s rows is kept: a subquery with ORDER BY or LIMIT is scanned as it is)."""
    return f"SELECT q.*, {NEWEST_COLUMN} AS tw_newest FROM ({sql}) q"


@dataclass
class CachePolicy:
    """What the resolvers of one request read; decides whether its answer may be cached."""

    range_ends: list[datetime] = field(default_factory=list)
    volatile: bool = False
    newest_read: bool = False  # whether a field's statement read the newest stored hour
    newest: datetime | None = None

    def read_range(self, end: datetime) -> None:
        self.range_ends.append(end)

    def saw_newest(self, newest: datetime | None) -> None:
        """The newest stored hour a field's statement read; with several, the oldest (the cautious one)."""
        if not self.newest_read or newest is None or (self.newest is not None and newest < self.newest):
            self.newest = newest
        self.newest_read = True

    def saw_newest_of(self, rows: list) -> None:
        """`saw_newest` from rows of a `with_newest` statement (none when it had no rows)."""
        if rows:
            self.saw_newest(rows[0]["tw_newest"])

    def read_live(self) -> None:
        self.volatile = True

    def candidate(self, grace: timedelta, now: datetime | None = None) -> bool:
        """True when only settled ranges were read (the stored newest hour still has to agree)."""
        if self.volatile or not self.range_ends:
            return False
        # hour H is closed once its fetch window (H + 1 h + grace) has passed
        return max(self.range_ends) <= (now or utc_now()) - grace

    def cacheable(self, newest_stored_hour: datetime | None) -> bool:
        return newest_stored_hour is not None and max(self.range_ends) <= newest_stored_hour + HOUR


def etag_of(body: bytes) -> str:
    # SHA-256 (OpenSSL's, in the CPU's SHA instructions where it has them) cut to 128 bits: this Python's
    # BLAKE2b is the portable C code, ~390 k instructions for a 30 kB answer, 17 % of a page of 100's request
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or etag in tags or f"W/{etag}" in tags
