"""`exchange_market_hourly` and `exchange_market_latest` (gold): the rollups the market overview reads, per realm.

Both sit on the realm's Currency Exchange hourly partitions downstream of `exchange_prices`,
are single-run over a range and eager, so the automation sensor that keeps `exchange_prices`
fresh keeps them fresh too: an hour's prices land, its hourly rollup follows, then the
latest table is brought to the realm's newest stored hour (a step of the per-window sums). PC's keys are bare, other realms
get their name as a prefix (`poe2/exchange_market_latest`), as the source's assets.
"""

import time

from dagster import (AssetExecutionContext, AssetKey, AutomationCondition, BackfillPolicy, MaterializeResult,
                     MetadataValue, asset)

from tradewatch.hours import partition_key
from tradewatch.warehouse.market_rollups import compute_market_hourly, compute_market_latest
from tradewatch_assets.currency_exchange.assets import prices_key, realm_key
from tradewatch_assets.currency_exchange.partitions import cx_partitions
from tradewatch_assets.freshness import DERIVED_FRESHNESS
from tradewatch_assets.resources import WarehouseResource


def hourly_key(realm: str) -> AssetKey:
    return realm_key(realm, "exchange_market_hourly")


def latest_key(realm: str) -> AssetKey:
    return realm_key(realm, "exchange_market_latest")


def build_market_hourly_asset(realm: str):
    @asset(
        key=hourly_key(realm), group_name="gold", partitions_def=cx_partitions(realm), deps=[prices_key(realm)],
        backfill_policy=BackfillPolicy.single_run(), automation_condition=AutomationCondition.eager(),
        kinds={"postgres"}, freshness_policy=DERIVED_FRESHNESS,
        description=(
            f"Per item, league and hour of realm {realm}: units traded on the Currency Exchange and their value in "
            "chaos and in divine (each market's quote volume converted with the league-hour's divine price in "
            "chaos, the rate `divinePrice` uses). warehouse.market_hours (one row of arrays per hour and league; "
            "the view warehouse.market_hourly shows a row per item); a range run replaces its window atomically; "
            "computed from exchange_prices only. Also each market's totals over every stored hour "
            "(warehouse.market_pairs, what `marketItem` lists), the new hours added."),
    )
    def exchange_market_hourly(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        window = context.partition_time_window
        started = time.perf_counter()
        report = compute_market_hourly(warehouse.pool(), realm, window.start, window.end)
        return MaterializeResult(metadata={
            "window": f"{partition_key(window.start)} … {partition_key(window.end)} (end excluded)",
            "rows_written": report.rows, "rows_replaced": report.deleted, "market_pairs": report.pairs,
            "compute_seconds": round(time.perf_counter() - started, 3)})

    return exchange_market_hourly


def build_market_latest_asset(realm: str):
    @asset(
        key=latest_key(realm), group_name="gold", partitions_def=cx_partitions(realm), deps=[hourly_key(realm)],
        backfill_policy=BackfillPolicy.single_run(), automation_condition=AutomationCondition.eager(),
        kinds={"postgres"}, freshness_policy=DERIVED_FRESHNESS,
        description=(
            f"The market overview of realm {realm} (`market` in the API): per league and item, price, 24 h and 7 d "
            "change, volume, value, sparkline and the confidence flag for the realm's newest stored hour, in chaos "
            "and in divine. warehouse.market_latest, brought to the newest hour in one transaction: each hour steps "
            "the per-window sums (warehouse.market_windows) and rewrites only the items they changed; after a "
            "rewrite of hours already counted, a full rebuild."),
    )
    def exchange_market_latest(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        started = time.perf_counter()
        report = compute_market_latest(warehouse.pool(), realm)
        return MaterializeResult(metadata={
            "hour": partition_key(report.hour) if report.hour else "none stored",
            "mode": report.mode, "items_changed": report.changed,
            "rows": report.rows, "rows_written": sum(report.leagues.values()),
            "low_confidence_rows_written": report.low_confidence,
            "rows_written_by_league": MetadataValue.json(dict(sorted(report.leagues.items(), key=lambda kv: -kv[1])[:50])),
            "compute_seconds": round(time.perf_counter() - started, 3)})

    return exchange_market_latest
