"""Hourly partitions of the Currency Exchange assets, from the realm's first published hour.

The feed publishes an hour once it has ended, so the newest partition is the last whole
hour (`end_offset=0`), unlike the order books whose current hour is a partition. Where the
history starts (and its overrides) is `tradewatch.currency_exchange.history`.
"""

from dagster import HourlyPartitionsDefinition

from tradewatch.currency_exchange.history import FIRST_HOURS, first_hour_key


def first_hour(realm: str) -> str:
    return first_hour_key(realm)


def cx_partitions(realm: str) -> HourlyPartitionsDefinition:
    return HourlyPartitionsDefinition(start_date=first_hour(realm), timezone="UTC", end_offset=0)


__all__ = ["FIRST_HOURS", "cx_partitions", "first_hour"]
