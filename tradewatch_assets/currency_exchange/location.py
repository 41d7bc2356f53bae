"""Everything the code location gets for the Currency Exchange source, for the configured realms."""

from __future__ import annotations

from dataclasses import dataclass, field

from tradewatch.settings import Settings
from tradewatch_assets.currency_exchange.assets import build_prices_asset, build_raw_asset
from tradewatch_assets.currency_exchange.automation import hourly_fetch_schedule, prices_automation_sensor
from tradewatch_assets.currency_exchange.market import build_market_hourly_asset, build_market_latest_asset
from tradewatch_assets.currency_exchange.resources import CurrencyExchangeResource
from tradewatch_assets.dumps.assets import build_daily_dumps_asset, daily_dumps_schedule


@dataclass
class CurrencyExchangeParts:
    assets: list = field(default_factory=list)
    jobs: list = field(default_factory=list)
    schedules: list = field(default_factory=list)
    sensors: list = field(default_factory=list)


def currency_exchange_parts(settings: Settings) -> CurrencyExchangeParts:
    parts = CurrencyExchangeParts()
    for realm in settings.cx_realms:
        raw = build_raw_asset(realm)
        parts.assets += [raw, build_prices_asset(realm), build_market_hourly_asset(realm),
                         build_market_latest_asset(realm)]
        job, schedule = hourly_fetch_schedule(realm, raw)
        parts.jobs.append(job)
        parts.schedules.append(schedule)
        dumps = build_daily_dumps_asset(realm)
        dumps_job, dumps_schedule = daily_dumps_schedule(realm, dumps)
        parts.assets.append(dumps)
        parts.jobs.append(dumps_job)
        parts.schedules.append(dumps_schedule)
    parts.sensors.append(prices_automation_sensor(settings.cx_realms))
    return parts


def currency_exchange_resource(settings: Settings, env) -> CurrencyExchangeResource:
    """The resource from the settings; `env(name)` gives an EnvVar for values set in the environment."""
    return CurrencyExchangeResource(
        base_url=settings.cx_url,
        user_agent=env("TRADEWATCH_USER_AGENT") or settings.user_agent,
        client_id=env("TRADEWATCH_CX_CLIENT_ID"),
        client_secret=env("TRADEWATCH_CX_CLIENT_SECRET"),  # an EnvVar: never shown in the UI or run config
        token_url=settings.cx_token_url,
        max_in_flight=settings.cx_max_in_flight,
        max_per_minute=settings.cx_max_per_minute,
    )
