"""How far back the Currency Exchange history of a realm goes: its first published hour.

PC history starts 2024-07-26 20:00 UTC (the feed's oldest hour); PoE 2 at its launch,
2024-12-06 19:00. Override with TRADEWATCH_CX_HISTORY_START (PC) or
TRADEWATCH_CX_HISTORY_START_<REALM>. The code location's partitions and the
`tradewatch exchange backfill` command both read it here.
"""

from __future__ import annotations

import os
from datetime import datetime

from tradewatch.hours import parse_partition_key

FIRST_HOURS = {"pc": "2024-07-26-20:00", "poe2": "2024-12-06-19:00", "xbox": "2024-07-26-20:00",
               "sony": "2024-07-26-20:00"}


def first_hour_key(realm: str) -> str:
    """The partition key of the realm's first hour (the override when one is set)."""
    names = [f"TRADEWATCH_CX_HISTORY_START_{realm.upper()}"] + (["TRADEWATCH_CX_HISTORY_START"] if realm == "pc" else [])
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return FIRST_HOURS[realm]


def first_published_hour(realm: str) -> datetime:
    return parse_partition_key(first_hour_key(realm))
