"""The code location: assets, checks, jobs, schedules and resources, bound from the environment."""

import os

from dagster import Definitions, EnvVar
from dotenv import load_dotenv

from tradewatch.settings import load_settings
from tradewatch.watchlist import watchlist_from_settings
from tradewatch_assets.currency_exchange.location import currency_exchange_parts, currency_exchange_resource
from tradewatch_assets.market.assets import price_snapshots, reroll_profitability
from tradewatch_assets.market.automation import derived_automation_sensor
from tradewatch_assets.market.checks import freshness_checks, freshness_checks_sensor
from tradewatch_assets.resources import TradeApiResource, WarehouseResource, WatchlistResource
from tradewatch_assets.trade_api.assets import raw_trade_responses
from tradewatch_assets.trade_api.schedules import fetch_raw_hour, hourly_raw_fetch


def _env(name: str):
    # EnvVar keeps the value out of the UI and run config; unset optional settings stay None.
    return EnvVar(name) if os.environ.get(name) else None


load_dotenv(".env", override=False)  # so EnvVar sees what .env sets, as the settings do
# Single-run backfills of a year of hours: Dagster writes one "planned" and one
# "materialized" event per partition, ~10 ms each on PostgreSQL (minutes for 8,760 hours).
# These two switches make that one planned event per asset (carrying the partition range)
# and materializations in batches of 1,000. Trade-off: when a range run fails, its
# partitions show as missing rather than failed (the derived write is atomic anyway, so
# nothing of the range was written). Dagster reads them in every process; this covers the
# processes that load this module, `tradewatch demo` also sets them for the daemon.
for _name, _value in {"DAGSTER_EVENT_BATCH_SIZE": "1000", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}.items():
    os.environ.setdefault(_name, _value)
settings = load_settings()
watchlist_from_settings(settings)  # a broken watchlist fails loading, naming the file and the entry

warehouse = WarehouseResource(database_url=_env("TRADEWATCH_DATABASE_URL"))
cx = currency_exchange_parts(settings)

defs = Definitions(
    assets=[raw_trade_responses, price_snapshots, reroll_profitability, *cx.assets],
    asset_checks=[*freshness_checks, *cx.checks],
    jobs=[fetch_raw_hour, *cx.jobs],
    schedules=[hourly_raw_fetch, *cx.schedules],
    sensors=[derived_automation_sensor, freshness_checks_sensor, *cx.sensors],
    resources={
        "warehouse": warehouse,
        "watchlist": WatchlistResource(path=_env("TRADEWATCH_WATCHLIST"), league=_env("TRADEWATCH_LEAGUE")),
        "trade_api": TradeApiResource(
            base_url=_env("TRADEWATCH_TRADE_API_URL") or settings.trade_api_url,
            user_agent=_env("TRADEWATCH_USER_AGENT") or settings.user_agent,
            poesessid=_env("POESESSID"),
            cf_clearance=_env("CF_CLEARANCE"),
            fetch_grace_minutes=settings.fetch_grace_minutes,
            warehouse=warehouse,
        ),
        "currency_exchange": currency_exchange_resource(settings, warehouse, _env),
    },
)
