"""Freshness of the Currency Exchange raw asset: the hour that ended must be stored by :20.

Completeness of a run's range is checked inside the raw asset (`every_hour_stored`);
freshness is about a run that did not happen, so it is its own check, evaluated by its
own sensor (running by default).
"""

from dagster import DefaultSensorStatus, build_sensor_for_freshness_checks, build_time_partition_freshness_checks

from tradewatch_assets.currency_exchange.assets import raw_key


def raw_freshness_checks(realms: tuple[str, ...]) -> list:
    return list(build_time_partition_freshness_checks(
        assets=[raw_key(r) for r in realms], deadline_cron="20 * * * *", timezone="UTC"))


def freshness_sensor(checks: list):
    return build_sensor_for_freshness_checks(freshness_checks=checks, name="currency_exchange_freshness_sensor",
                                             default_status=DefaultSensorStatus.RUNNING)
