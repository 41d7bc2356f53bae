"""Dagster's instance storage (tradewatch_assets/instance_storage.py): the planned checks of a
partition range are the rows dagster-postgres itself writes, in one statement."""

from __future__ import annotations

import time

import pytest

from tradewatch.warehouse.db import psycopg2_url

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _planned(run_id: str, partitions_subset, at: float):
    from dagster import AssetKey
    from dagster._core.events import AssetCheckEvaluationPlanned, DagsterEvent, DagsterEventType
    from dagster._core.events.log import EventLogEntry

    event = DagsterEvent(
        event_type_value=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED.value, job_name="__ASSET_JOB",
        message="plans a check", step_key="price_snapshots",
        event_specific_data=AssetCheckEvaluationPlanned(
            asset_key=AssetKey("price_snapshots"), check_name="every_watched_item_priced",
            partitions_subset=partitions_subset))
    return EventLogEntry(error_info=None, level=10, user_message="", run_id=run_id, timestamp=at,
                         step_key="price_snapshots", job_name="__ASSET_JOB", dagster_event=event)


def _rows(conn, run_id: str) -> list[tuple]:
    from dagster_shared.serdes import deserialize_value

    rows = conn.execute(
        "SELECT asset_key, check_name, partition, execution_status, evaluation_event, evaluation_event_timestamp, "
        "evaluation_event_storage_id, materialization_event_storage_id FROM asset_check_executions "
        "WHERE run_id = %s ORDER BY partition NULLS FIRST", (run_id,)).fetchall()
    # the stored event is compared as the event it deserializes to (its run id is the run's)
    return [(*row[:4], deserialize_value(row[4])._replace(run_id=""), *row[5:]) for row in rows]


@pytest.mark.parametrize("hours", [0, 1, 48])
def test_planned_checks_of_a_range_are_the_rows_dagster_postgres_writes(database_url, hours):
    import psycopg
    from dagster import HourlyPartitionsDefinition
    from dagster_postgres import PostgresEventLogStorage

    from tradewatch_assets.instance_storage import TradeWatchEventLogStorage

    url = psycopg2_url(database_url)
    theirs, ours = PostgresEventLogStorage(url), TradeWatchEventLogStorage(url)
    hourly = HourlyPartitionsDefinition(start_date="2026-01-01-00:00")
    keys = hourly.get_partition_keys()[:hours]
    subset = hourly.subset_with_partition_keys(keys).to_serializable_subset() if hours else None
    at = time.time()
    for storage, run_id in ((theirs, "theirs"), (ours, "ours")):
        storage.store_event(_planned(run_id, subset, at))
    with psycopg.connect(database_url) as conn:
        expected, got = _rows(conn, "theirs"), _rows(conn, "ours")
    assert len(got) == max(hours, 1)
    assert [r[2] for r in got] == (keys or [None])
    # the same rows but for the id of the event in event_logs (each storage stored its own)
    assert all(r[6] is not None for r in got + expected)
    assert [r[:6] + r[7:] for r in got] == [r[:6] + r[7:] for r in expected]
    theirs.dispose()
    ours.dispose()


def test_the_projects_dagster_yaml_uses_this_storage(database_url, tmp_path, monkeypatch):
    from pathlib import Path

    from dagster import DagsterInstance
    from dagster_postgres import PostgresEventLogStorage

    from tradewatch_assets.instance_storage import TradeWatchEventLogStorage

    (tmp_path / "dagster.yaml").write_text((Path(__file__).parent.parent / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("TRADEWATCH_DAGSTER_PG_URL", psycopg2_url(database_url))
    instance = DagsterInstance.get()
    try:
        assert isinstance(instance.event_log_storage, TradeWatchEventLogStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert DagsterInstance.from_ref(instance.get_ref()).event_log_storage.__class__ is TradeWatchEventLogStorage
    finally:
        instance.dispose()


def test_processes_starting_together_on_a_fresh_database_create_the_tables_once(empty_database_url):
    """Four instances' storages built at the same moment on an empty database (as a new deployment's webserver and
    daemon, or two backfill commands, start): each gets the tables, none fails on another's half-made schema."""
    import subprocess
    import sys

    import psycopg

    url = psycopg2_url(empty_database_url)
    code = ("import sys, time; from tradewatch_assets.instance_storage import TradeWatchPostgresStorage as S; "
            "time.sleep(max(0.0, float(sys.argv[2]) - time.time())); "
            "s = S(sys.argv[1]); print(s.run_storage.get_runs_count())")
    start = time.time() + 3  # after every process has imported Dagster
    procs = [subprocess.Popen([sys.executable, "-c", code, url, str(start)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-2000:] for _, err in outcomes]
    assert [out.strip() for out, _ in outcomes] == ["0"] * 4
    assert not any("Retrying failed database creation" in err for _, err in outcomes)
    with psycopg.connect(empty_database_url) as conn:
        tables = {r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert {"runs", "event_logs", "asset_check_executions", "jobs"} <= tables
