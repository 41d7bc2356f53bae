"""Hourly automation of the Currency Exchange assets, on by default.

A schedule at :01 of every hour asks for the hour that just ended (the raw asset then
polls, bounded by `publish_wait_minutes`, until GGG publishes it: seconds to ~5 minutes
after the hour). `exchange_prices` is eager: once the raw partition lands, its prices
are derived by the automation sensor, and so (eager too) are the market rollups below them.
"""

from __future__ import annotations

from datetime import timedelta

from dagster import (AssetSelection, AutomationConditionSensorDefinition, DefaultScheduleStatus, DefaultSensorStatus,
                     RunRequest, ScheduleEvaluationContext, define_asset_job, schedule)

from tradewatch.hours import floor_hour, partition_key
from tradewatch_assets.currency_exchange.assets import prices_key, raw_key
from tradewatch_assets.currency_exchange.market import hourly_key, latest_key


def hourly_fetch_schedule(realm: str, raw_asset):
    job = define_asset_job(f"fetch_currency_exchange_{realm}", selection=[raw_asset])

    @schedule(name=f"hourly_currency_exchange_{realm}", job=job, cron_schedule="1 * * * *",
              execution_timezone="UTC", default_status=DefaultScheduleStatus.RUNNING)
    def hourly(context: ScheduleEvaluationContext) -> RunRequest:
        key = partition_key(floor_hour(context.scheduled_execution_time) - timedelta(hours=1))
        return RunRequest(run_key=f"{realm}:{key}", partition_key=key)

    return job, hourly


def prices_automation_sensor(realms: tuple[str, ...]) -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        "currency_exchange_automation",
        target=AssetSelection.assets(*[key for r in realms for key in (prices_key(r), hourly_key(r), latest_key(r))]),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
    )


__all__ = ["hourly_fetch_schedule", "prices_automation_sensor", "raw_key"]
