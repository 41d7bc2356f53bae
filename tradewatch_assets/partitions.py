"""Hourly UTC partitions shared by every asset: the hour in which the market was observed."""

from dagster import HourlyPartitionsDefinition

from tradewatch.settings import load_settings

# end_offset=1 makes the current hour a partition, so it can be fetched while it lasts.
hourly_partitions = HourlyPartitionsDefinition(
    start_date=load_settings().history_start,
    timezone="UTC",
    end_offset=1,
)
