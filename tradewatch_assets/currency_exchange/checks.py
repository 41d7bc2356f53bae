"""Freshness of the Currency Exchange raw asset: the hour that ended must be stored by :20.

Completeness of a run's range is checked inside the raw asset (`every_hour_stored`);
freshness is about a run that did not happen, so it is its own check (evaluated by the
project's freshness sensor).
"""

from dagster import build_time_partition_freshness_checks

from tradewatch_assets.currency_exchange.assets import raw_key


def raw_freshness_checks(realms: tuple[str, ...]) -> list:
    return list(build_time_partition_freshness_checks(
        assets=[raw_key(r) for r in realms], deadline_cron="20 * * * *", timezone="UTC"))
