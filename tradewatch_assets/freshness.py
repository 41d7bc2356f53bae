"""Freshness: the newest hour of each asset must land on time, every hour.

Expressed as Dagster freshness policies on the assets themselves (no checks to build, no
sensor to run). The raw fetch runs at :05, so by :20 the raw asset must have been
materialized within the last hour, and by :35 its snapshots and profitability; a stalled
pipeline shows as a failing freshness policy in the UI without anyone looking for it.
"""

from datetime import timedelta

from dagster import FreshnessPolicy

RAW_FRESHNESS = FreshnessPolicy.cron(deadline_cron="20 * * * *", lower_bound_delta=timedelta(hours=1),
                                     timezone="UTC")
DERIVED_FRESHNESS = FreshnessPolicy.cron(deadline_cron="35 * * * *", lower_bound_delta=timedelta(hours=1),
                                         timezone="UTC")
