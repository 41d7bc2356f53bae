"""What Dagster must be told about hours it did not write, so its UI shows what is stored.

* The first hour of the partitions (`TRADEWATCH_HISTORY_START`) is chosen once per
  installation and kept in `<home>/history_start`: the demo's first simulated hour, the
  current hour for `tradewatch run`, or the configured value. It never moves on a restart,
  and a fresh install shows no thousands of "missing" partitions before its first hour.
* Hours written outside a run (simulated history, the demo's fetch of the current hour,
  anything imported, and the demo's derived tables for them) are reported as runless
  materializations of their partitions, with metadata saying whether they were simulated;
  partitions Dagster already knows are not reported again.
* The checks of what was reported are reported with it (`CheckOutcome`), evaluated on the
  data by whoever wrote it, so the UI's checks say the truth about the newest partition
  instead of "never executed".

Reporting goes straight to the event log in one batch insert per asset (the public
`report_runless_asset_event` is one insert and one round trip per event: a week of
history took 15–22 s that way on 2 cores).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from tradewatch.errors import TradeWatchError
from tradewatch.hours import parse_partition_key, partition_key

RAW_ASSET = "raw_trade_responses"
ALERTS_ASSET = "price_alerts"
HISTORY_START_FILE = "history_start"
# rows per insert: Dagster's own batch size for single-run backfills (tradewatch.settings)
BATCH = 1000


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


# asset -> its stored hours from %s: (hour, rows, all of them simulated)
STORED_HOURS_SQL = {
    RAW_ASSET: """SELECT observed_hour, count(*), bool_and(simulated) FROM warehouse.raw_trade_responses
                   WHERE observed_hour >= %s GROUP BY observed_hour""",
    "price_snapshots": """SELECT observed_hour, count(*), bool_and(simulated) FROM warehouse.price_snapshots
                           WHERE observed_hour >= %s GROUP BY observed_hour""",
    "reroll_profitability": """SELECT observed_hour, count(*), bool_and(simulated)
                                 FROM warehouse.reroll_profitability
                                WHERE observed_hour >= %s GROUP BY observed_hour""",
    "raw_currency_exchange": """SELECT observed_hour, count(*), bool_and(simulated)
                                  FROM warehouse.raw_currency_exchange
                                 WHERE realm = 'pc' AND observed_hour >= %s GROUP BY observed_hour""",
    # priced hours are as simulated as the documents they were priced from
    "exchange_prices": """SELECT p.observed_hour, count(*), bool_and(r.simulated)
                            FROM warehouse.exchange_prices p
                            JOIN warehouse.raw_currency_exchange r USING (realm, observed_hour)
                           WHERE p.realm = 'pc' AND p.observed_hour >= %s GROUP BY p.observed_hour""",
    # the market rollups of the same hours (the latest table is rebuilt for the newest of them)
    "exchange_market_hourly": """SELECT m.observed_hour, count(*), bool_and(r.simulated)
                                   FROM warehouse.market_hourly m
                                   JOIN warehouse.raw_currency_exchange r USING (realm, observed_hour)
                                  WHERE m.realm = 'pc' AND m.observed_hour >= %s GROUP BY m.observed_hour""",
}
STORED_HOURS_SQL["exchange_market_latest"] = STORED_HOURS_SQL["exchange_market_hourly"]
# The demo computes the alerts of every hour it derives profitability for, in the same step;
# elsewhere price_alerts is only ever materialized by its runs, so it is not reported.
ALERTS_HOURS_SQL = STORED_HOURS_SQL["reroll_profitability"]


@dataclass(frozen=True)
class CheckOutcome:
    """One asset check evaluated outside a run on the asset's newest reported partition."""

    asset: str
    check: str
    passed: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    error: bool = True  # severity: ERROR (else WARN), as the asset's own check result says
    description: str | None = None


def stored_hours(database_url: str, asset: str, since: datetime) -> dict[datetime, tuple[int, bool]]:
    """Every stored hour of `asset` from `since`: (rows, all of them simulated)."""
    from tradewatch.warehouse.db import connect

    query = ALERTS_HOURS_SQL if asset == ALERTS_ASSET else STORED_HOURS_SQL[asset]
    with connect(database_url) as conn:
        rows = conn.execute(query, (since,)).fetchall()
    return {hour: (count, simulated) for hour, count, simulated in rows}


def report_stored_hours(dagster_home: Path, dagster_pg_url: str, database_url: str, since: datetime,
                        checks: Sequence[CheckOutcome] = (), with_alerts: bool = False) -> int:
    """Report the stored hours Dagster has no materialization of, for every asset, then `checks`;
    returns how many partitions were reported."""
    assets = [*STORED_HOURS_SQL, *([ALERTS_ASSET] if with_alerts else [])]
    stored = {asset: stored_hours(database_url, asset, since) for asset in assets}
    if not checks and _all_known(dagster_pg_url, stored):
        return 0  # a restart with nothing new: Dagster (1-2 s to import) is not needed at all

    from dagster import AssetKey, DagsterInstance

    os.environ["TRADEWATCH_DAGSTER_PG_URL"] = dagster_pg_url  # dagster.yaml reads the storage URL from it
    reported = 0
    with DagsterInstance.from_config(str(dagster_home)) as instance:
        for asset in assets:
            known = instance.get_materialized_partitions(AssetKey(asset))
            new = [(partition_key(hour), *stored[asset][hour]) for hour in sorted(stored[asset])
                   if partition_key(hour) not in known]
            # oldest first: the event log keeps the last one as the asset's latest materialization
            for start in range(0, len(new), BATCH):
                instance.event_log_storage.store_event_batch(
                    [_materialization(asset, *hour) for hour in new[start:start + BATCH]])
            reported += len(new)
        _report_checks(instance, checks)
    return reported


def _all_known(dagster_pg_url: str, stored: dict[str, dict[datetime, tuple[int, bool]]]) -> bool:
    """Whether Dagster's event log already has a materialization of every stored hour.

    Read from its `event_logs` table directly (asset_key and partition are indexed columns of it
    since Dagster 0.12); anything unexpected there (a fresh instance without tables, another
    schema) answers False, and the instance API then decides."""
    import json

    import psycopg

    from tradewatch.warehouse.db import libpq_url

    try:
        with psycopg.connect(libpq_url(dagster_pg_url), connect_timeout=10) as conn:
            for asset, hours in stored.items():
                known = {row[0] for row in conn.execute(
                    """SELECT DISTINCT partition FROM event_logs
                        WHERE asset_key = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'""",
                    (json.dumps([asset]),))}
                if any(partition_key(hour) not in known for hour in hours):
                    return False
    except psycopg.Error:
        return False
    return True


def _materialization(asset: str, key: str, rows: int, simulated: bool):
    from dagster import AssetMaterialization, DagsterEvent, DagsterEventType
    from dagster._core.events import StepMaterializationData
    from dagster._core.events.log import EventLogEntry
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID

    # what report_runless_asset_event builds for one event, so the UI cannot tell the difference
    materialization = AssetMaterialization(
        asset_key=asset, partition=key,
        description=("from simulated history" if simulated else "stored outside a Dagster run"),
        metadata={"simulated": simulated, "rows": rows, "reported_by": "tradewatch"})
    event = DagsterEvent(event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                         event_specific_data=StepMaterializationData(materialization), job_name=RUNLESS_JOB_NAME)
    return EventLogEntry(user_message="", level=20, job_name=RUNLESS_JOB_NAME, run_id=RUNLESS_RUN_ID,
                         error_info=None, timestamp=time.time(), step_key=None, dagster_event=event)


def _report_checks(instance, checks: Iterable[CheckOutcome]) -> None:
    """Each outcome against its asset's latest materialization (the newest partition just reported)."""
    from dagster import AssetCheckEvaluation, AssetCheckSeverity, AssetKey
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluationTargetMaterializationData,
    )

    for outcome in checks:
        key = AssetKey(outcome.asset)
        records = instance.get_asset_records([key])
        latest = records[0].asset_entry.last_materialization_record if records else None
        if latest is None:
            raise TradeWatchError(f"the check {outcome.check} of {outcome.asset} was evaluated but "
                                  f"{outcome.asset} has no materialization to attach it to")
        instance.report_runless_asset_event(AssetCheckEvaluation(
            asset_key=key, check_name=outcome.check, passed=outcome.passed, metadata=outcome.metadata,
            severity=AssetCheckSeverity.ERROR if outcome.error else AssetCheckSeverity.WARN,
            description=outcome.description,
            target_materialization_data=AssetCheckEvaluationTargetMaterializationData(
                storage_id=latest.storage_id, run_id=latest.run_id, timestamp=latest.timestamp)))
