"""`daily_dumps`: every day's Parquet files of a realm, written into TRADEWATCH_DUMP_DIR.

Partitioned by UTC day from the realm's first Currency Exchange day, downstream of the realm's
market rollup (hour partitions map onto their day); single-run over a range, so a backfill of a
year is one run. The daily schedule writes the day before, once it has ended and its last hours
were priced. PC's key is bare, other realms get their name as a prefix (`poe2/daily_dumps`).
"""


import time
from collections import Counter
from pathlib import Path

from dagster import (AssetExecutionContext, AssetKey, BackfillPolicy, DailyPartitionsDefinition, DefaultScheduleStatus,
                     MaterializeResult, asset, build_schedule_from_partitioned_job, define_asset_job)

from tradewatch.dumps import dump_days
from tradewatch.errors import TradeWatchError
from tradewatch.settings import load_settings
from tradewatch_assets.currency_exchange.assets import realm_key
from tradewatch_assets.currency_exchange.market import hourly_key
from tradewatch_assets.currency_exchange.partitions import first_hour
from tradewatch_assets.resources import WarehouseResource


def dumps_key(realm: str) -> AssetKey:
    return realm_key(realm, "daily_dumps")


def daily_partitions(realm: str) -> DailyPartitionsDefinition:
    return DailyPartitionsDefinition(start_date=first_hour(realm)[:10], timezone="UTC", end_offset=0)


def build_daily_dumps_asset(realm: str):
    @asset(
        key=dumps_key(realm), group_name="gold", partitions_def=daily_partitions(realm), deps=[hourly_key(realm)],
        backfill_policy=BackfillPolicy.single_run(), kinds={"parquet"},
        description=(
            f"One Parquet file per kind (exchange, snapshots, market), league and UTC day of realm {realm}, in "
            "TRADEWATCH_DUMP_DIR/<kind>/<realm>/<league>/<YYYY-MM-DD>.parquet (columns in the README). A re-run "
            "replaces a day's files atomically; computed from the warehouse only."),
    )
    def daily_dumps(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        out = load_settings().dump_dir
        if out is None:
            raise TradeWatchError("TRADEWATCH_DUMP_DIR is not set: set it to the folder the daily files go to, "
                                  "then materialize daily_dumps again")
        window = context.partition_time_window
        started = time.perf_counter()
        written = dump_days(warehouse.url(), realm, window.start.date(), window.end.date(),
                            Path(out))
        rows = Counter()
        for kind, _, day in written:
            rows[kind] += day.rows
        return MaterializeResult(metadata={
            "days": (window.end - window.start).days, "files": len(written),
            **{f"{kind}_rows": rows[kind] for kind in ("exchange", "snapshots", "market")},
            "folder": str(out), "seconds": round(time.perf_counter() - started, 3)})

    return daily_dumps


def daily_dumps_schedule(realm: str, dumps_asset):
    job = define_asset_job(f"daily_dumps_{realm}", selection=[dumps_asset.key],
                           partitions_def=daily_partitions(realm))
    status = DefaultScheduleStatus.RUNNING if load_settings().dump_dir else DefaultScheduleStatus.STOPPED
    # 00:40 UTC: the last hour of the day before is published and priced by then
    return job, build_schedule_from_partitioned_job(job, hour_of_day=0, minute_of_hour=40,
                                                    name=f"daily_dumps_{realm}_schedule", default_status=status)
