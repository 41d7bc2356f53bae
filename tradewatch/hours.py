"""UTC hours: the partition unit. Partition keys look like Dagster's hourly keys, 2026-11-20-13:00."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tradewatch.errors import TradeWatchError

KEY_FORMAT = "%Y-%m-%d-%H:%M"
HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # a naive time means UTC
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def parse_partition_key(key: str) -> datetime:
    try:
        return datetime.strptime(key, KEY_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise TradeWatchError(f"{key!r} is not an hour partition key; expected e.g. 2026-11-20-13:00") from None


def partition_key(hour: datetime) -> str:
    return floor_hour(hour).strftime(KEY_FORMAT)


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """The whole hours in [start, end)."""
    hour, last, hours = floor_hour(start), end, []
    while hour < last:
        hours.append(hour)
        hour += HOUR
    return hours


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
