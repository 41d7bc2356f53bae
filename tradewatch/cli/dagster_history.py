"""What Dagster must be told about hours it did not write, so its UI shows what is stored.

* The first hour of the partitions (`TRADEWATCH_HISTORY_START`) is chosen once per
  installation and kept in `<home>/history_start`: the demo's first simulated hour, the
  current hour for `tradewatch run`, or the configured value. It never moves on a restart,
  and a fresh install shows no thousands of "missing" partitions before its first hour.
* Raw hours written outside a run (simulated history, anything imported) are reported as
  runless materializations of their `raw_trade_responses` partitions, with metadata saying
  whether they were simulated; hours Dagster already knows are not reported again.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from tradewatch.errors import TradeWatchError
from tradewatch.hours import parse_partition_key, partition_key

RAW_ASSET = "raw_trade_responses"
HISTORY_START_FILE = "history_start"


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


def stored_raw_hours(database_url: str, since: datetime) -> dict[datetime, tuple[int, bool]]:
    """Every stored raw hour from `since`: (responses, all of them simulated)."""
    from tradewatch.warehouse.db import connect

    with connect(database_url) as conn:
        rows = conn.execute(
            """SELECT observed_hour, count(*), bool_and(simulated) FROM warehouse.raw_trade_responses
                WHERE observed_hour >= %s GROUP BY observed_hour""", (since,)).fetchall()
    return {hour: (count, simulated) for hour, count, simulated in rows}


def report_stored_hours(dagster_home: Path, dagster_pg_url: str, database_url: str, since: datetime) -> int:
    """Report the stored raw hours Dagster has no materialization of; returns how many."""
    from dagster import AssetKey, AssetMaterialization, DagsterInstance

    os.environ["TRADEWATCH_DAGSTER_PG_URL"] = dagster_pg_url  # dagster.yaml reads the storage URL from it
    stored = stored_raw_hours(database_url, since)
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        known = instance.get_materialized_partitions(AssetKey(RAW_ASSET))
        reported = 0
        for hour in sorted(stored):
            key = partition_key(hour)
            if key in known:
                continue
            responses, simulated = stored[hour]
            instance.report_runless_asset_event(AssetMaterialization(
                asset_key=RAW_ASSET, partition=key,
                description="simulated history" if simulated else "stored outside a Dagster run",
                metadata={"simulated": simulated, "responses": responses, "reported_by": "tradewatch"}))
            reported += 1
    return reported
