"""Hourly partitions of the Currency Exchange assets, from the realm's first published hour.

The feed publishes an hour once it has ended, so the newest partition is the last whole
hour (`end_offset=0`), unlike the order books whose current hour is a partition. PC history
starts 2024-07-26 20:00 UTC (the feed's oldest hour); PoE 2 at its launch, 2024-12-06.
Override with TRADEWATCH_CX_HISTORY_START (PC) or TRADEWATCH_CX_HISTORY_START_<REALM>.
"""

import os

from dagster import HourlyPartitionsDefinition

FIRST_HOURS = {"pc": "2024-07-26-20:00", "poe2": "2024-12-06-19:00", "xbox": "2024-07-26-20:00",
               "sony": "2024-07-26-20:00"}


def first_hour(realm: str) -> str:
    names = [f"TRADEWATCH_CX_HISTORY_START_{realm.upper()}"] + (["TRADEWATCH_CX_HISTORY_START"] if realm == "pc" else [])
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    return FIRST_HOURS[realm]


def cx_partitions(realm: str) -> HourlyPartitionsDefinition:
    return HourlyPartitionsDefinition(start_date=first_hour(realm), timezone="UTC", end_offset=0)
