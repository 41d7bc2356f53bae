"""`price_snapshots` (silver) and `reroll_profitability` (gold): thin Dagster layers over
`tradewatch.warehouse.snapshots` and `tradewatch.warehouse.profitability`.

Both read the warehouse, never the trade API, so any range of hours can be recomputed
(e.g. after the pricing formulas change). A run covers a partition *range*
(`BackfillPolicy.single_run()`): a year of hours is one run and one transaction per
asset, not 8,760 runs. The window comes from `context.partition_time_window`, which
works for one partition and for a range alike.

Lineage: `price_snapshots` depends on `raw_trade_responses`, but reads the table, not
Dagster's record of it, so hours written by `tradewatch simulate-history` (which are not
Dagster materializations) are backfilled like any other.
"""


import math
import time

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AutomationCondition,
    BackfillPolicy,
    MaterializeResult,
    MetadataValue,
    asset,
)

from tradewatch.bulk_exchange.catalog import item_name
from tradewatch.hours import partition_key
from tradewatch.warehouse.profitability import ProfitabilityReport, compute_profitability
from tradewatch.warehouse.snapshots import SnapshotReport, compute_snapshots
from tradewatch_assets.freshness import DERIVED_FRESHNESS
from tradewatch_assets.partitions import hourly_partitions
from tradewatch_assets.resources import WarehouseResource, WatchlistResource
from tradewatch_assets.trade_api.assets import raw_trade_responses

SNAPSHOTS_COMPLETE_CHECK = "every_watched_item_priced"
SNAPSHOTS_PRICES_CHECK = "prices_positive_and_finite"
PROFITABILITY_PRICED_CHECK = "every_strategy_priced"

# Per-partition metadata makes the UI plot values hour by hour. Attaching it costs
# Dagster a scan of the run's partition range per call, so very long ranges (a year)
# get range-level metadata only.
PER_PARTITION_METADATA_LIMIT = 800


def _range_metadata(context: AssetExecutionContext, metadata: dict, last_partition: str, long_range: bool) -> dict:
    """The metadata a range run's MaterializeResult carries into every partition's event.

    A short range copies the run's figures into every partition (the UI shows them on each).
    A long range gives them to its last partition only, the asset's latest materialization
    (what the UI and `get_latest_materialization_event` show), and only the `window` to the
    others: Dagster serializes an event's metadata once per partition, and a year's 8,760
    copies of the figures and the table cost seconds and say nothing about the partition."""
    if not long_range:
        return metadata
    context.add_asset_metadata(metadata, partition_key=last_partition)
    return {"window": metadata["window"]}


def _snapshot_table(report: SnapshotReport) -> str:
    if not report.latest:
        return "_no stored responses in this window_"
    with_data = [h for h in report.hours if h.rows]
    hour = partition_key(with_data[-1].hour) if with_data else ""
    lines = [f"Hour {hour} (the last of this run with data):", "",
             "| item | min | robust min | listings | stock | avg for target | bought |",
             "|---|---:|---:|---:|---:|---:|---:|"]

    def fmt(value: float | None) -> str:
        return "–" if value is None else f"{value:.4g}"

    for s in sorted(report.latest, key=lambda s: (s.robust_min_price is None, s.robust_min_price or 0)):
        lines.append(f"| {item_name(s.item_id)} | {fmt(s.min_price)} | {fmt(s.robust_min_price)} | "
                     f"{s.listing_count} | {s.total_stock} | {fmt(s.avg_price)} | {s.bought} |")
    return "\n".join(lines)


@asset(
    group_name="silver",
    partitions_def=hourly_partitions,
    deps=[raw_trade_responses],
    backfill_policy=BackfillPolicy.single_run(),
    freshness_policy=DERIVED_FRESHNESS,
    automation_condition=AutomationCondition.eager(),
    kinds={"postgres"},
    check_specs=[
        AssetCheckSpec(SNAPSHOTS_COMPLETE_CHECK, asset="price_snapshots", blocking=True,
                       description="Every watched item has a snapshot for every hour of the run (a missing "
                                   "item would be priced as worthless downstream)."),
        AssetCheckSpec(SNAPSHOTS_PRICES_CHECK, asset="price_snapshots", blocking=True,
                       description="Every price is positive and finite (null only for an empty book)."),
    ],
    description=(
        "One row per watched item and hour: cheapest and robust minimum unit price, listings, stock, and the "
        "depth-aware cost of buying the target quantity, computed from the stored raw responses. Re-running a "
        "range replaces it atomically; never calls the trade API."
    ),
)
def price_snapshots(context: AssetExecutionContext, warehouse: WarehouseResource,
                    watchlist: WatchlistResource) -> MaterializeResult:
    wl = watchlist.load()
    window = context.partition_time_window
    started = time.perf_counter()
    report = compute_snapshots(warehouse.pool(), wl, window.start, window.end, log=context.log.info)
    compute_seconds = time.perf_counter() - started

    if len(report.hours) <= PER_PARTITION_METADATA_LIMIT:
        for hour in report.hours:
            context.add_asset_metadata(
                {"rows": hour.rows, "items_missing": len(hour.missing),
                 "cheapest_item": hour.cheapest_item or "–",
                 "cheapest_unit_price": MetadataValue.float(hour.cheapest_price)
                 if hour.cheapest_price is not None else MetadataValue.null()},
                partition_key=partition_key(hour.hour),
            )
    missing = report.missing
    bad_prices = report.bad_prices
    hours_with_data = sum(1 for h in report.hours if h.rows)
    latest = report.hours[-1] if report.hours else None
    metadata = {
        "window": f"{partition_key(window.start)} … {partition_key(window.end)} (end excluded)",
        "rows_written": report.rows,
        "compute_seconds": round(compute_seconds, 3),
        "rows_replaced": report.deleted,
        "hours": len(report.hours),
        "hours_with_data": hours_with_data,
        "items": report.items,
        "item_hours_missing": sum(len(v) for v in missing.values()),
        "empty_books": sum(len(h.empty_books) for h in report.hours),
        "table": MetadataValue.md(_snapshot_table(report)),
    }
    long_range = len(report.hours) > PER_PARTITION_METADATA_LIMIT
    if long_range and latest is not None:
        metadata.update({"rows": latest.rows, "cheapest_item": latest.cheapest_item or "–"})
    return MaterializeResult(
        metadata=_range_metadata(context, metadata, context.partition_keys[-1], long_range),
        check_results=[
            AssetCheckResult(
                check_name=SNAPSHOTS_COMPLETE_CHECK, passed=not missing, severity=AssetCheckSeverity.ERROR,
                metadata={"hours_with_missing_items": len(missing),
                          "missing": MetadataValue.json(dict(list(missing.items())[:50])),
                          "watched": len(wl.items)},
                description=None if not missing else
                "items are missing: re-fetch the current hour, or accept the gap for past hours",
            ),
            AssetCheckResult(
                check_name=SNAPSHOTS_PRICES_CHECK, passed=not bad_prices, severity=AssetCheckSeverity.ERROR,
                metadata={"bad_values": MetadataValue.json(bad_prices[:50])},
            ),
        ],
    )


@asset(
    group_name="gold",
    partitions_def=hourly_partitions,
    deps=[price_snapshots],
    backfill_policy=BackfillPolicy.single_run(),
    # eager, but not on top of snapshots that failed a blocking check (garbage in, garbage out)
    freshness_policy=DERIVED_FRESHNESS,
    automation_condition=AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed(),
    kinds={"postgres"},
    check_specs=[AssetCheckSpec(PROFITABILITY_PRICED_CHECK, asset="reroll_profitability",
                                description="Every strategy could be priced in every hour with snapshots.")],
    description=(
        "Per reroll strategy of the watchlist and hour, for the top-K rule and the optimal stopping policy: "
        "input item and cost, reroll cost, expected rerolls, sale value, profit per unit and total, ROI, "
        "break-even reroll cost. Computed from price_snapshots; hours without a book but with Currency Exchange "
        "trades (exchange_prices) are priced from the executed vwaps, each row saying which (price_source). "
        "Range runs replace the window atomically."
    ),
)
def reroll_profitability(context: AssetExecutionContext, warehouse: WarehouseResource,
                         watchlist: WatchlistResource) -> MaterializeResult:
    wl = watchlist.load()
    window = context.partition_time_window
    started = time.perf_counter()
    report = compute_profitability(warehouse.pool(), wl, window.start, window.end, log=context.log.info)
    compute_seconds = time.perf_counter() - started
    hours = sorted({h for (_, h) in report.results} | set(report.unavailable))
    if len(context.partition_keys) <= PER_PARTITION_METADATA_LIMIT:
        for hour in hours:
            values = {}
            for spec in wl.strategies:
                pair = report.results.get((spec.name, hour))
                if pair is not None:
                    values[f"{spec.name}/top_k_profit_per_unit"] = MetadataValue.float(pair[0].expected_profit_per_unit)
                    values[f"{spec.name}/optimal_profit_per_unit"] = MetadataValue.float(pair[1].expected_profit_per_unit)
            if values:
                context.add_asset_metadata(values, partition_key=partition_key(hour))
    metadata: dict = {
        "window": f"{partition_key(window.start)} … {partition_key(window.end)} (end excluded)",
        "rows_written": report.rows,
        "compute_seconds": round(compute_seconds, 3),
        "rows_replaced": report.deleted,
        "hours_with_snapshots": report.hours_with_snapshots,
        "hours_from_exchange": report.hours_from_exchange,
        "strategy_hours_unavailable": sum(len(v) for v in report.unavailable.values()),
        "table": MetadataValue.md(_profitability_table(report, wl.strategies)),
    }
    unavailable = {partition_key(h): reasons for h, reasons in sorted(report.unavailable.items())}
    long_range = len(context.partition_keys) > PER_PARTITION_METADATA_LIMIT
    return MaterializeResult(
        metadata=_range_metadata(context, metadata, context.partition_keys[-1], long_range),
        check_results=[AssetCheckResult(
            check_name=PROFITABILITY_PRICED_CHECK, passed=not unavailable, severity=AssetCheckSeverity.WARN,
            metadata={"unavailable": MetadataValue.json(dict(list(unavailable.items())[:50]))},
        )],
    )


def _profitability_table(report: ProfitabilityReport, strategies) -> str:
    lines = ["Latest hour per strategy:", "",
             "| strategy | policy | input | unit cost | reroll cost | E[rerolls] | E[sale] | profit/unit | ROI | stop set |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for spec in strategies:
        pair = report.latest(spec.name)
        if pair is None:
            lines.append(f"| {spec.name} | – | _not priced in this window_ | | | | | | | |")
            continue
        for r in pair:
            lines.append(
                f"| {r.strategy} | {r.policy} | {item_name(r.input_item_id)} | {r.input_unit_cost:.4g} | "
                f"{r.reroll_cost:.4g} | {r.expected_rerolls:.3g} | {r.expected_sale_value:.4g} | "
                f"{r.expected_profit_per_unit:.4g} | {r.roi:.1%} | {len(r.stop_set)} items |")
    return "\n".join(lines)
