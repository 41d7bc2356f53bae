"""Freshness checks: the newest hour of each asset must land on time, every hour.

Completeness and price sanity are checked inside the asset runs (see `assets.py`);
freshness cannot be, since it is about a run that did not happen. The raw fetch runs at
:05, so by :20 the previous hour's raw partition must exist and by :35 its snapshots and
profitability. The sensor evaluates these checks on its own (running by default), so a
stalled pipeline shows as a failed check in the UI without anyone looking for it.
"""

from dagster import AssetKey, DefaultSensorStatus, build_sensor_for_freshness_checks, build_time_partition_freshness_checks

from tradewatch_assets.market.assets import price_snapshots, reroll_profitability

raw_freshness_checks = build_time_partition_freshness_checks(
    assets=[AssetKey("raw_trade_responses")], deadline_cron="20 * * * *", timezone="UTC")
derived_freshness_checks = build_time_partition_freshness_checks(
    assets=[price_snapshots, reroll_profitability], deadline_cron="35 * * * *", timezone="UTC")
freshness_checks = [*raw_freshness_checks, *derived_freshness_checks]

freshness_checks_sensor = build_sensor_for_freshness_checks(
    freshness_checks=freshness_checks, name="freshness_checks_sensor", default_status=DefaultSensorStatus.RUNNING)
