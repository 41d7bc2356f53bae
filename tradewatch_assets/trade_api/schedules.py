"""The hourly fetch: a few minutes into every UTC hour, fetch that hour's raw partition."""

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, define_asset_job, schedule

from tradewatch.hours import floor_hour, partition_key
from tradewatch_assets.trade_api.assets import raw_trade_responses

fetch_raw_hour = define_asset_job("fetch_raw_hour", selection=[raw_trade_responses])


@schedule(job=fetch_raw_hour, cron_schedule="5 * * * *", execution_timezone="UTC",
          default_status=DefaultScheduleStatus.RUNNING)
def hourly_raw_fetch(context: ScheduleEvaluationContext) -> RunRequest:
    key = partition_key(floor_hour(context.scheduled_execution_time))
    # run_key: one run per hour even if the daemon evaluates the tick twice
    return RunRequest(run_key=key, partition_key=key)
