"""`raw_trade_responses` (bronze): every watched item's order book, fetched during its hour."""


from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from tradewatch.bulk_exchange.client import TradeApiError
from tradewatch.bulk_exchange.leagues import check_league
from tradewatch.errors import ConfigError
from tradewatch.hours import parse_partition_key, utc_now
from tradewatch.bulk_exchange.ingest import PastHourError, ingest_divine_book, ingest_hour
from tradewatch_assets.freshness import RAW_FRESHNESS
from tradewatch_assets.partitions import hourly_partitions
from tradewatch_assets.request_metadata import request_metadata
from tradewatch_assets.resources import TradeApiResource, WarehouseResource, WatchlistResource

RAW_COMPLETE_CHECK = "every_watched_item_stored"


def _refuse_unlisted_league(context: AssetExecutionContext, client, league: str) -> None:
    # a mistyped league would otherwise fetch empty books all hour long
    try:
        listed = client.leagues()
    except TradeApiError as exc:
        context.log.warning(f"{exc}; fetching without checking the league name")
        return
    try:
        check_league(league, listed)
    except ConfigError as exc:
        raise Failure(description=str(exc)) from None


@asset(
    group_name="bronze",
    partitions_def=hourly_partitions,
    pool="trade_api",
    kinds={"postgres"},
    freshness_policy=RAW_FRESHNESS,
    check_specs=[AssetCheckSpec(RAW_COMPLETE_CHECK, asset="raw_trade_responses",
                                description="Every watched item has a stored response for the hour.")],
    description=(
        "The bulk-exchange answer for every watched item, kept verbatim (request, status, body, "
        "rate-limit headers, timings). Partition = the UTC hour the market was observed; it can only "
        "be fetched during that hour (+ grace). Re-running the current hour fetches only what is missing. "
        "Each hour also stores the book of divine paid in chaos (the divine price where the Currency "
        "Exchange has none)."
    ),
)
def raw_trade_responses(context: AssetExecutionContext, trade_api: TradeApiResource, warehouse: WarehouseResource,
                        watchlist: WatchlistResource) -> MaterializeResult:
    hour = parse_partition_key(context.partition_key)
    wl = watchlist.load()
    pool = warehouse.pool()
    client = trade_api.client(wl.game, wl.league, pool)
    try:
        _refuse_unlisted_league(context, client, wl.league)
        report = ingest_hour(pool, client, wl, hour, utc_now(), trade_api.grace(),
                             log=context.log.info)
        # the fallback divine price (where the Currency Exchange has none); never fails the run
        divine_book = ingest_divine_book(pool, client, wl, hour, utc_now(), trade_api.grace(),
                                         log=context.log.info) if report.window_open else "window closed"
    except PastHourError as exc:
        raise Failure(description=str(exc)) from None
    finally:
        client.close()
    stored = len(report.already_stored) + len(report.fetched)
    if stored == 0:
        raise Failure(description=(
            f"nothing could be fetched for {context.partition_key}: "
            + "; ".join(f"{i}: {why}" for i, why in report.failed.items())
        ))
    missing = report.missing
    return MaterializeResult(
        metadata={
            "league": wl.league,
            "items_fetched": len(report.fetched),
            "items_already_stored": len(report.already_stored),
            "items_missing": len(missing),
            "missing_items": MetadataValue.json({i: report.failed.get(i, "window closed") for i in missing}),
            **request_metadata(client.stats, requests_key="requests_made"),
            "bytes_stored": report.bytes_stored,
            "divine_book": divine_book,
        },
        check_results=[AssetCheckResult(
            check_name=RAW_COMPLETE_CHECK, passed=not missing, severity=AssetCheckSeverity.WARN,
            metadata={"missing": MetadataValue.json(missing), "stored": stored, "watched": len(wl.items)},
        )],
    )
