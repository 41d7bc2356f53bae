"""Which hours a benchmark covers: the newest N hours (or days), ending with the newest complete
hour, never past it and never before the first hour the partitions offer.

A range on fixed dates goes stale (it runs past the present, or before the first partition, as
the calendar moves); one anchored on the present runs the same way any day. A size that cannot
be run is refused before anything starts, saying how much can be."""

from __future__ import annotations

from datetime import datetime, timedelta

from tradewatch.hours import HOUR, floor_hour, partition_key, utc_now


class SizeRefused(ValueError):
    """The range asked for cannot be run; the message says why and what can be."""


def newest_complete_hour(now: datetime | None = None, published_after: timedelta = timedelta(0)) -> datetime:
    """The start of the newest hour that has ended (and, for a feed that publishes an hour some
    time after it ends, has been published: `published_after`)."""
    return floor_hour((now if now is not None else utc_now()) - published_after) - HOUR


def newest_range(count: int, unit: timedelta, first_hour: datetime, *, option: str, first_source: str,
                 newest: datetime) -> tuple[datetime, datetime]:
    """[start, end) of the newest `count` × `unit` of hours, the last of them `newest`.

    `option` names the size as the user gave it (`--days`), `first_source` where `first_hour`
    comes from (TRADEWATCH_HISTORY_START, the realm's first published hour), for the message."""
    if count < 1:
        raise SizeRefused(f"{option} {count}: a benchmark needs at least 1; ask for 1 or more")
    end = newest + HOUR
    start = end - count * unit
    if start < first_hour:
        most = (end - first_hour) // unit
        raise SizeRefused(
            f"{option} {count} would start at {partition_key(start)}, before the first hour "
            f"{partition_key(first_hour)} ({first_source}); the newest complete hour is {partition_key(newest)}, "
            + (f"so ask for at most {most}" if most >= 1 else "so no range of this unit fits: move the first hour back"))
    return start, end
