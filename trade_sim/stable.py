"""Stable hashes and UTC hours: the simulator's one copy of each.

Every simulated value is a pure function of its inputs; these turn a text key into the same
number in every process (Python's hash() is salted per process) and a moment into its hour.
The pipeline has its own `tradewatch.hours.floor_hour`: the simulator may import nothing of
TradeWatch (it stands in for servers TradeWatch does not control).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timezone

__all__ = ["floor_hour", "hash64", "hour_index", "uniform"]


def hash64(text: str) -> int:
    """A stable 64-bit hash of `text`."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def uniform(text: str) -> float:
    """A stable uniform in [0, 1) from `text`."""
    return hash64(text) / 18446744073709551616.0  # 2**64


def floor_hour(moment: datetime) -> datetime:
    """`moment` truncated to its UTC hour (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def hour_index(hour: datetime) -> int:
    """Whole hours since the Unix epoch (naive datetimes are taken as UTC): the models' time axis."""
    if hour.tzinfo is None:
        hour = hour.replace(tzinfo=timezone.utc)
    return int(hour.timestamp() // 3600)
