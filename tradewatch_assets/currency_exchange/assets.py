"""`raw_currency_exchange` (bronze) and `exchange_prices` (silver), per realm.

PC's assets are `raw_currency_exchange` and `exchange_prices`; every other configured realm
(TRADEWATCH_CX_REALMS) gets the same two under its name as a key prefix, e.g.
`poe2/raw_currency_exchange`, with its own partitions (its own first hour).

Both are single-run over a partition range: a two-year backfill is one run. The raw asset
fetches only the hours of the range not stored yet, several at once within the limiter's
budget, and commits each hour as it arrives. An hour that could not be stored is never
shown as a healthy partition: when some are missing, the stored hours are reported as
materialized one by one, the check names the missing hours, and the run fails.
"""


import time
from datetime import datetime, timedelta

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AutomationCondition,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from tradewatch.currency_exchange.ingest import RangeReport, ingest_range
from tradewatch.hours import partition_key, utc_now
from tradewatch.warehouse.exchange_prices import compute_exchange_prices
from tradewatch_assets.currency_exchange.partitions import cx_partitions
from tradewatch_assets.freshness import DERIVED_FRESHNESS, RAW_FRESHNESS
from tradewatch_assets.currency_exchange.resources import CurrencyExchangeResource
from tradewatch_assets.request_metadata import request_metadata
from tradewatch_assets.resources import WarehouseResource

RAW_STORED_CHECK = "every_hour_stored"
PRICES_CHECK = "every_stored_hour_priced"
PER_PARTITION_METADATA_LIMIT = 800
RECENT = timedelta(hours=2)


def realm_key(realm: str, name: str) -> AssetKey:
    """PC's asset keys are bare (`exchange_prices`); other realms get their name as a prefix (`poe2/...`)."""
    return AssetKey(name) if realm == "pc" else AssetKey([realm, name])


def raw_key(realm: str) -> AssetKey:
    return realm_key(realm, "raw_currency_exchange")


def prices_key(realm: str) -> AssetKey:
    return realm_key(realm, "exchange_prices")


def _poll_newest(context, cx: CurrencyExchangeResource, pool, client, realm: str, report: RangeReport) -> RangeReport:
    """Ask again, for at most `publish_wait_minutes`, for the newest hours (ended within the last
    two) that are not out yet; an older unpublished hour is not waited for."""
    deadline = time.monotonic() + cx.publish_wait_minutes * 60
    while True:
        recent = [h for h in report.not_published if utc_now() - (h + timedelta(hours=1)) < RECENT]
        if not recent or time.monotonic() + cx.poll_seconds > deadline:
            return report
        context.log.info(f"{len(recent)} hour(s) not published yet; asking again in {cx.poll_seconds:g} s")
        time.sleep(cx.poll_seconds)
        for hour in recent:
            again = ingest_range(pool, client, realm, hour, hour + timedelta(hours=1), max_in_flight=1)
            report.not_published.remove(hour)
            report.stored += again.stored
            report.already_stored += again.already_stored
            report.empty += again.empty
            report.not_published += again.not_published
            report.refused.update(again.refused)
            report.bytes_received += again.bytes_received
            report.bytes_stored += again.bytes_stored
        report.not_published.sort()


def build_raw_asset(realm: str):
    key = raw_key(realm)

    @asset(
        key=key,
        group_name="bronze",
        partitions_def=cx_partitions(realm),
        backfill_policy=BackfillPolicy.single_run(),
        kinds={"postgres"},
        freshness_policy=RAW_FRESHNESS,
        check_specs=[AssetCheckSpec(RAW_STORED_CHECK, asset=key, description=(
            "Every hour of the run's range is stored; names the hours that are not, with the reason."))],
        description=(
            f"GGG's Currency Exchange history, realm {realm}: one document per UTC hour with every market of every "
            "league, kept exactly as received (bytes, compressed, with status, headers and timings). Published "
            "hours never change: stored hours are never fetched again, a re-run fetches only what is missing. "
            "Backfill any range of past hours from the UI or `dagster asset materialize --partition-range`."
        ),
    )
    def raw_currency_exchange(context: AssetExecutionContext, currency_exchange: CurrencyExchangeResource,
                              warehouse: WarehouseResource):
        window = context.partition_time_window
        pool = warehouse.pool()
        client = currency_exchange.client(pool)
        started = time.perf_counter()
        try:
            report = ingest_range(pool, client, realm, window.start, window.end,
                                  max_in_flight=currency_exchange.max_in_flight, log=context.log.info)
            report = _poll_newest(context, currency_exchange, pool, client, realm, report)
        finally:
            client.close()
        seconds = time.perf_counter() - started
        missing = report.missing
        reasons = report.reasons()
        metadata = {
            "realm": realm,
            "window": f"{partition_key(window.start)} … {partition_key(window.end)} (end excluded)",
            "hours": len(report.hours),
            "hours_stored": len(report.stored),
            "hours_already_there": len(report.already_stored),
            "hours_empty": len(report.empty),
            "hours_not_published": len(report.not_published),
            "hours_refused": len(report.refused),
            "refused": MetadataValue.json(dict(list({partition_key(h): r for h, r in sorted(report.refused.items())}
                                                    .items())[:100])),
            "bytes_received": report.bytes_received,
            "bytes_stored": report.bytes_stored,
            "storage_ratio": MetadataValue.float(round(report.bytes_stored / report.bytes_received, 4)
                                                 if report.bytes_received else 0.0),
            **request_metadata(client.stats),
            "seconds": round(seconds, 3),
        }
        check = AssetCheckResult(
            asset_key=key, check_name=RAW_STORED_CHECK, passed=not missing, severity=AssetCheckSeverity.ERROR,
            metadata={"missing_hours": len(missing), "missing": MetadataValue.json(dict(list(reasons.items())[:200]))},
            description=None if not missing else "hours not stored: re-run the range later (only they are fetched)",
        )
        if not missing:
            yield MaterializeResult(asset_key=key, metadata=metadata, check_results=[check])
            return
        # Some hours are missing: only the stored ones become materialized partitions.
        have = sorted(set(report.stored) | set(report.already_stored))
        for hour in have:
            yield AssetMaterialization(asset_key=key, partition=partition_key(hour),
                                       metadata=metadata if hour == have[-1] else {"realm": realm})
        yield check
        raise Failure(
            description=(f"{len(missing)} of {len(report.hours)} hours of {realm} not stored "
                         f"({', '.join(list(reasons)[:5])}{'…' if len(reasons) > 5 else ''}): "
                         + "; ".join(f"{k}: {v}" for k, v in list(reasons.items())[:3])
                         + ". The other hours are stored; re-run the range to fetch only the missing ones."),
            metadata=metadata,
        )

    return raw_currency_exchange


def build_prices_asset(realm: str):
    key = prices_key(realm)

    @asset(
        key=key,
        group_name="silver",
        partitions_def=cx_partitions(realm),
        deps=[raw_key(realm)],
        backfill_policy=BackfillPolicy.single_run(),
        automation_condition=AutomationCondition.eager(),
        kinds={"postgres"},
        freshness_policy=DERIVED_FRESHNESS,
        check_specs=[AssetCheckSpec(PRICES_CHECK, asset=key, description=(
            "Every hour of the run has a stored document and every market of it could be read."))],
        description=(
            f"Executed prices of realm {realm} per league, hour, item and quote currency (chaos, divine), for every "
            "market one side of which is chaos or divine: VWAP, min and max executed price (read in the pair's own "
            "order), volume, quote volume, stocks; plus the divine price in chaos per league and hour "
            "(analytics.exchange_divine_price). Computed from raw_currency_exchange; a range run replaces its "
            "window atomically; never calls the network."
        ),
    )
    def exchange_prices(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        window = context.partition_time_window
        started = time.perf_counter()
        report = compute_exchange_prices(warehouse.pool(), realm, window.start, window.end, log=context.log.info)
        seconds = time.perf_counter() - started
        hours = report.hours_with_documents
        if len(context.partition_keys) <= PER_PARTITION_METADATA_LIMIT:
            per_hour: dict[datetime, dict] = {hour: {"rows": report.rows_by_hour.get(hour, 0)} for hour in hours}
            for (league, h), value in report.chaos_per_divine.items():  # once, not once per hour
                if value is not None and h in per_hour:
                    per_hour[h][f"{league}/chaos_per_divine"] = MetadataValue.float(value)
            for hour, values in per_hour.items():
                context.add_asset_metadata(values, partition_key=partition_key(hour))
        without = [partition_key(h) for h in report.hours_without_documents]
        return MaterializeResult(
            asset_key=key,
            metadata={
                "window": f"{partition_key(window.start)} … {partition_key(window.end)} (end excluded)",
                "rows_written": report.rows,
                "rows_replaced": report.deleted,
                "hours_with_documents": len(hours),
                "markets_read": report.markets,
                "leagues": MetadataValue.json(dict(report.leagues.most_common(50))),
                "unmapped_item_paths": len(report.unmapped_items),
                "paths_not_in_catalogue": MetadataValue.json(sorted(report.uncatalogued_paths)[:50]),
                "compute_seconds": round(seconds, 3),
            },
            check_results=[AssetCheckResult(
                asset_key=key, check_name=PRICES_CHECK, passed=not without and not report.malformed_markets,
                severity=AssetCheckSeverity.WARN,
                metadata={"hours_without_documents": MetadataValue.json(without[:200]),
                          "malformed_markets": MetadataValue.json(dict(list(report.malformed_markets.items())[:50]))},
                description=None if not without else "materialize raw_currency_exchange for these hours first",
            )],
        )

    return exchange_prices


