"""What Dagster must be told about hours it did not write, so its UI shows what is stored.

* The first hour of the partitions (`TRADEWATCH_HISTORY_START`) is chosen once per
  installation and kept in `<home>/history_start`: the demo's first simulated hour, the
  current hour for `tradewatch run`, or the configured value. It never moves on a restart,
  and a fresh install shows no thousands of "missing" partitions before its first hour.
* Hours written outside a run (simulated history, anything imported, and the demo's
  derived tables for them) are reported as runless materializations of their partitions of
  `raw_trade_responses`, `price_snapshots` and `reroll_profitability`, with metadata saying
  whether they were simulated; partitions Dagster already knows are not reported again.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from tradewatch.errors import TradeWatchError
from tradewatch.hours import parse_partition_key, partition_key

RAW_ASSET = "raw_trade_responses"
HISTORY_START_FILE = "history_start"
REPORT_THREADS = 8


def persisted_history_start(home: Path, first_hour: datetime, configured: str | None = None) -> str:
    """The partition start of this installation: kept, else `configured`, else `first_hour` (then kept)."""
    path = home / HISTORY_START_FILE
    if path.exists():
        kept = path.read_text().strip()
        try:
            parse_partition_key(kept)
        except TradeWatchError:  # a damaged file is an error, not a silently moved start
            raise TradeWatchError(f"{path} holds {kept[:40]!r}, not an hour like 2025-01-01-00:00: write the "
                                  "first hour of your data there (UTC), or delete the file to start the "
                                  "partitions at the current data's start") from None
        if configured is None or configured == kept:
            return kept
    key = configured or partition_key(first_hour)
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(key + "\n")
    return key


# asset -> the table whose hours are that asset's materialized partitions
TABLES = {RAW_ASSET: "warehouse.raw_trade_responses", "price_snapshots": "warehouse.price_snapshots",
          "reroll_profitability": "warehouse.reroll_profitability"}


def stored_hours(database_url: str, table: str, since: datetime) -> dict[datetime, tuple[int, bool]]:
    """Every stored hour of `table` from `since`: (rows, all of them simulated)."""
    from psycopg import sql

    from tradewatch.warehouse.db import connect

    schema, name = table.split(".")
    with connect(database_url) as conn:
        rows = conn.execute(sql.SQL(
            """SELECT observed_hour, count(*), bool_and(simulated) FROM {}
                WHERE observed_hour >= %s GROUP BY observed_hour""").format(sql.Identifier(schema, name)),
            (since,)).fetchall()
    return {hour: (count, simulated) for hour, count, simulated in rows}


def report_stored_hours(dagster_home: Path, dagster_pg_url: str, database_url: str, since: datetime) -> int:
    """Report the stored hours Dagster has no materialization of, for every asset; returns how many."""
    from dagster import AssetKey, AssetMaterialization, DagsterInstance

    os.environ["TRADEWATCH_DAGSTER_PG_URL"] = dagster_pg_url  # dagster.yaml reads the storage URL from it
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        events = []
        for asset, table in TABLES.items():
            stored = stored_hours(database_url, table, since)
            known = instance.get_materialized_partitions(AssetKey(asset))
            for hour in sorted(stored):
                key = partition_key(hour)
                if key in known:
                    continue
                rows, simulated = stored[hour]
                events.append(AssetMaterialization(
                    asset_key=asset, partition=key,
                    description=("from simulated history" if simulated else "stored outside a Dagster run"),
                    metadata={"simulated": simulated, "rows": rows, "reported_by": "tradewatch"}))
        # one insert per event (the public API has no batch): several at once, or a week takes 25 s
        with ThreadPoolExecutor(max_workers=REPORT_THREADS) as pool:
            list(pool.map(instance.report_runless_asset_event, events))
    return len(events)
