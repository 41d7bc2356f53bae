"""The code location: assets, checks, jobs, schedules and resources, bound from the environment."""

import os

from dagster import Definitions, EnvVar, in_process_executor

from tradewatch.settings import export_env_file, load_settings, set_dagster_event_switches
from tradewatch.watchlist import watchlist_from_settings
from tradewatch_assets.alerts.assets import price_alerts
from tradewatch_assets.alerts.automation import alerts_automation_sensor
from tradewatch_assets.currency_exchange.location import currency_exchange_parts, currency_exchange_resource
from tradewatch_assets.market.assets import price_snapshots, reroll_profitability
from tradewatch_assets.market.automation import derived_automation_sensor
from tradewatch_assets.resources import TradeApiResource, WarehouseResource, WatchlistResource
from tradewatch_assets.trade_api.assets import raw_trade_responses
from tradewatch_assets.trade_api.schedules import fetch_raw_hour, hourly_raw_fetch


def _env(name: str):
    # EnvVar keeps the value out of the UI and run config; unset optional settings stay None.
    return EnvVar(name) if os.environ.get(name) else None


export_env_file()  # so EnvVar sees what .env sets, as the settings do
set_dagster_event_switches()  # fast single-run backfills (see tradewatch.settings)
settings = load_settings()
watchlist_from_settings(settings)  # a broken watchlist fails loading, naming the file and the entry

warehouse = WarehouseResource(database_url=_env("TRADEWATCH_DATABASE_URL"))
cx = currency_exchange_parts(settings)

defs = Definitions(
    assets=[raw_trade_responses, price_snapshots, reroll_profitability, *cx.assets, price_alerts],
    # Steps run in the run's own process: every run is already a process of its own, its steps
    # follow one another (each derived asset needs the one before), and the CPU-heavy derivations
    # start their own workers. A step subprocess per step (the default multiprocess executor)
    # costs ~1.6-2 s of Python and Dagster start-up each, in every run, backfill or hourly.
    executor=in_process_executor,
    jobs=[fetch_raw_hour, *cx.jobs],
    schedules=[hourly_raw_fetch, *cx.schedules],
    sensors=[derived_automation_sensor, *cx.sensors, alerts_automation_sensor],
    resources={
        "warehouse": warehouse,
        "watchlist": WatchlistResource(path=_env("TRADEWATCH_WATCHLIST"), league=_env("TRADEWATCH_LEAGUE")),
        "trade_api": TradeApiResource(
            base_url=_env("TRADEWATCH_TRADE_API_URL") or settings.trade_api_url,
            user_agent=_env("TRADEWATCH_USER_AGENT") or settings.user_agent,
            poesessid=_env("POESESSID"),
            cf_clearance=_env("CF_CLEARANCE"),
            fetch_grace_minutes=settings.fetch_grace_minutes,
        ),
        "currency_exchange": currency_exchange_resource(settings, _env),
    },
)
