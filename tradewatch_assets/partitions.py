"""Hourly UTC partitions shared by every asset: the hour in which the market was observed."""

import os

from dagster import HourlyPartitionsDefinition

# end_offset=1 makes the current hour a partition, so it can be fetched while it lasts.
hourly_partitions = HourlyPartitionsDefinition(
    start_date=os.environ.get("TRADEWATCH_HISTORY_START", "2025-01-01-00:00"),
    timezone="UTC",
    end_offset=1,
)
