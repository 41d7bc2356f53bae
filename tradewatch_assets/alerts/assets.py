"""`price_alerts` (gold): a thin Dagster layer over `tradewatch.warehouse.alerts`.

Downstream of the prices its rules read (snapshots, profitability, exchange prices), hourly
partitions, a range is one run (`BackfillPolicy.single_run()`), eager like the other derived
assets. The crossings of the window are replaced atomically; then the ones within
TRADEWATCH_ALERT_LOOKBACK_HOURS are delivered to TRADEWATCH_ALERT_WEBHOOKS. Delivery trouble
(a webhook down, a bad token) is reported in the metadata and never fails the asset; the
webhook URLs (secrets) are read from the settings at run time, so they are not in the run
config, and appear only redacted.
"""

from dagster import AssetExecutionContext, AutomationCondition, BackfillPolicy, MaterializeResult, MetadataValue, asset

from tradewatch.hours import partition_key
from tradewatch.settings import load_settings
from tradewatch.warehouse.alerts import compute_alerts, deliver_alerts
from tradewatch_assets.currency_exchange.assets import prices_key
from tradewatch_assets.freshness import DERIVED_FRESHNESS
from tradewatch_assets.market.assets import price_snapshots, reroll_profitability
from tradewatch_assets.partitions import hourly_partitions
from tradewatch_assets.resources import WarehouseResource, WatchlistResource


@asset(
    group_name="gold",
    partitions_def=hourly_partitions,
    deps=[price_snapshots, reroll_profitability, prices_key("pc")],
    backfill_policy=BackfillPolicy.single_run(),
    freshness_policy=DERIVED_FRESHNESS,
    automation_condition=AutomationCondition.eager(),
    kinds={"postgres"},
    description=(
        "Every crossing of the watchlist's alert rules (a price below/above a level, a strategy's profit per unit "
        "above one): a rule fires in the hour its condition becomes true and again only after it was false for a "
        "whole hour. Crossings within TRADEWATCH_ALERT_LOOKBACK_HOURS are posted to TRADEWATCH_ALERT_WEBHOOKS "
        "(retried, each delivery recorded); a failing webhook never fails this asset."
    ),
)
def price_alerts(context: AssetExecutionContext, warehouse: WarehouseResource,
                 watchlist: WatchlistResource) -> MaterializeResult:
    wl = watchlist.load()
    window = context.partition_time_window
    pool = warehouse.pool()
    report = compute_alerts(pool, wl, window.start, window.end, log=context.log.info)
    metadata: dict = {
        "window": f"{partition_key(window.start)} … {partition_key(window.end)} (end excluded)",
        "rules": len(wl.alerts),
        "crossings": len(report.rows),
        "rows_replaced": report.deleted,
        "hours_compared": MetadataValue.json(report.hours_with_value),
    }
    settings = load_settings()
    try:
        delivery = deliver_alerts(pool, wl, settings.alert_webhook_urls(), settings.alert_lookback_hours,
                                  user_agent=settings.user_agent, log=context.log.info)
        metadata.update({"webhooks": delivery.webhooks, "delivered": delivery.delivered, "failed": delivery.failed,
                         "already_delivered": delivery.already_delivered,
                         "outside_lookback": delivery.outside_lookback})
        if delivery.errors:
            metadata["delivery_errors"] = MetadataValue.json(delivery.errors[:50])
    except Exception as exc:  # noqa: BLE001 - the crossings are stored; delivery is retried by the next run
        context.log.error(f"alert delivery failed ({type(exc).__name__}); the crossings are stored and the next "
                          "run delivers what is still within the lookback")
        metadata["delivery_error"] = type(exc).__name__
    return MaterializeResult(metadata=metadata)
