"""`exchange_market_hourly` and `exchange_market_latest` (gold): the rollups the market overview reads, per realm.

Both sit on the realm's Currency Exchange hourly partitions downstream of `exchange_prices`,
are single-run over a range and eager, so the automation sensor that keeps `exchange_prices`
fresh keeps them fresh too: an hour's prices land, its hourly rollup follows, then the realm's
newest stored hour is published as the hour the overview shows (the API computes the overview
from the packed hours when it is read). PC's keys are bare, other realms
get their name as a prefix (`poe2/exchange_market_latest`), as the source's assets.
"""

import time

from dagster import (AssetExecutionContext, AssetKey, AutomationCondition, BackfillPolicy, MaterializeResult,
                     asset)

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
            "computed from exchange_prices only. Also each market's totals (warehouse.market_pairs, what `marketItem` "
            "lists), counted a whole UTC week at a time, up to the week of the day before the newest hour."),
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
            f"The hour the market overview of realm {realm} shows (`market` in the API): the realm's newest stored "
            "hour, published in warehouse.market_state. The overview (per league and item: price, 24 h and 7 d "
            "change, volume, value, sparkline, confidence flag) is computed from the 192 packed hours ending with it "
            "when it is read; the view warehouse.market_latest gives the same figures in SQL."),
    )
    def exchange_market_latest(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        started = time.perf_counter()
        report = compute_market_latest(warehouse.pool(), realm)
        return MaterializeResult(metadata={
            "hour": partition_key(report.hour) if report.hour else "none stored",
            "mode": report.mode, "compute_seconds": round(time.perf_counter() - started, 3)})

    return exchange_market_latest
