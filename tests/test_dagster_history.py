"""The partitions' first hour is chosen once per installation and kept (tradewatch/cli/dagster_history.py)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tradewatch.errors import TradeWatchError
from tradewatch.cli.dagster_history import HISTORY_START_FILE, persisted_history_start

FIRST = datetime(2026, 11, 24, 13, tzinfo=timezone.utc)


def test_the_first_start_keeps_its_first_hour_and_later_starts_do_not_move_it(tmp_path):
    assert persisted_history_start(tmp_path, FIRST) == "2026-11-24-13:00"
    assert (tmp_path / HISTORY_START_FILE).read_text().strip() == "2026-11-24-13:00"
    # a later start (its own history would begin later) keeps the first one
    assert persisted_history_start(tmp_path, FIRST.replace(day=28)) == "2026-11-24-13:00"


def test_a_configured_start_wins_and_is_kept(tmp_path):
    persisted_history_start(tmp_path, FIRST)
    assert persisted_history_start(tmp_path, FIRST, configured="2026-01-01-00:00") == "2026-01-01-00:00"
    assert persisted_history_start(tmp_path, FIRST.replace(day=28)) == "2026-01-01-00:00"


def test_a_damaged_file_is_an_error_not_a_moved_start(tmp_path):
    (tmp_path / HISTORY_START_FILE).write_text("yesterday\n")
    with pytest.raises(TradeWatchError, match="history_start holds 'yesterday'"):
        persisted_history_start(tmp_path, FIRST)


# --- reporting what was stored outside runs, with the checks' outcomes --------------------------

HOUR = timedelta(hours=1)


@pytest.fixture
def stored_demo_hours(database_url, monkeypatch):
    """Three simulated hours of both sources, derived as the demo derives them (demo_data.py)."""
    from tradewatch.cli.demo_data import derive
    from tradewatch.cli.simulated_history import simulate_currency_exchange_history, simulate_history
    from tradewatch.hours import floor_hour, utc_now
    from tradewatch.warehouse.db import get_pool
    from tradewatch.watchlist import load_watchlist

    end = floor_hour(utc_now())
    start = end - 3 * HOUR
    pool, watchlist = get_pool(database_url), load_watchlist()
    simulate_history(pool, watchlist, start, end, workers=1)
    simulate_currency_exchange_history(pool, start, end)
    checks = derive(pool, watchlist, start, end)
    monkeypatch.setenv("TRADEWATCH_DAGSTER_PG_URL", "restored after the test")  # the report sets it
    return start, end, checks


def _instance(home):
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(home))


def test_stored_hours_are_reported_once_in_batches_with_their_checks(database_url, tmp_path, stored_demo_hours):
    from dagster import AssetKey
    from dagster._core.definitions.asset_checks.asset_check_spec import AssetCheckKey

    from tradewatch.cli.dagster_history import report_stored_hours
    from tradewatch.cli.local_stack import dagster_home
    from tradewatch.hours import hours_between, partition_key
    from tradewatch.warehouse.db import psycopg2_url

    start, end, checks = stored_demo_hours
    home = dagster_home(tmp_path)
    keys = {partition_key(h) for h in hours_between(start, end)}
    assets = ("raw_trade_responses", "price_snapshots", "reroll_profitability", "raw_currency_exchange",
              "exchange_prices", "price_alerts")
    reported = report_stored_hours(home, psycopg2_url(database_url), database_url, start, checks, with_alerts=True)
    assert reported == len(assets) * len(keys)
    # a second start reports nothing again (without loading Dagster), and a new hour alone
    assert report_stored_hours(home, psycopg2_url(database_url), database_url, start) == 0
    from tradewatch.cli.simulated_history import simulate_history
    from tradewatch.warehouse.db import get_pool
    from tradewatch.watchlist import load_watchlist

    simulate_history(get_pool(database_url), load_watchlist(), end, end + HOUR, workers=1)
    assert report_stored_hours(home, psycopg2_url(database_url), database_url, start) == 1
    keys_with_new_hour = keys | {partition_key(end)}
    with _instance(home) as instance:
        for asset in assets:
            expected = keys_with_new_hour if asset == "raw_trade_responses" else keys
            assert set(instance.get_materialized_partitions(AssetKey(asset))) == expected, asset
            latest = instance.get_latest_materialization_event(AssetKey(asset))
            # the newest hour is the asset's latest materialization, marked as simulated
            assert latest.asset_materialization.partition == max(expected)
            assert latest.asset_materialization.metadata["simulated"].value is True
        for outcome in (c for c in checks if c.asset != "raw_trade_responses"):  # raw got a newer hour since
            key = AssetCheckKey(AssetKey(outcome.asset), outcome.check)
            [execution] = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
            assert execution.status.value == "SUCCEEDED", outcome
            target = execution.event.dagster_event.event_specific_data.target_materialization_data
            records = instance.get_asset_records([AssetKey(outcome.asset)])
            assert target.storage_id == records[0].asset_entry.last_materialization_record.storage_id


def test_the_demo_reports_the_checks_the_assets_define():
    from tradewatch.cli import demo_data
    from tradewatch_assets.definitions import defs

    defined = {(key.asset_key.to_user_string(), key.name)
               for key in defs.resolve_asset_graph().asset_check_keys}
    reported = {demo_data.RAW_COMPLETE, demo_data.SNAPSHOTS_COMPLETE, demo_data.SNAPSHOTS_PRICES,
                demo_data.PROFITABILITY_PRICED, demo_data.CX_RAW_STORED, demo_data.CX_PRICES}
    assert reported == defined


def test_a_stopped_fetch_turns_only_the_raw_freshness_red(database_url, tmp_path, stored_demo_hours, monkeypatch):
    """The last raw materialization 3 h old fails its freshness policy; the assets not depending on
    it (the Currency Exchange) pass, and so do the others while their own last run is recent."""
    import asyncio
    import time

    from dagster import AssetKey, AssetMaterialization, DagsterEvent, DagsterEventType
    from dagster._core.definitions.freshness import FreshnessState
    from dagster._core.events import StepMaterializationData
    from dagster._core.instance.utils import RUNLESS_JOB_NAME, RUNLESS_RUN_ID
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
    from dagster._daemon.freshness import FreshnessDaemon

    from tradewatch.cli.local_stack import dagster_home
    from tradewatch.warehouse.db import psycopg2_url

    monkeypatch.setenv("TRADEWATCH_DAGSTER_PG_URL", psycopg2_url(database_url))
    monkeypatch.setenv("TRADEWATCH_DATABASE_URL", database_url)
    start, end, _ = stored_demo_hours
    home = dagster_home(tmp_path)
    recent = {"price_snapshots", "reroll_profitability", "raw_currency_exchange", "exchange_prices",
              "price_alerts"}
    with _instance(home) as instance:
        for asset, age in [("raw_trade_responses", 3 * 3600), *((a, 0) for a in recent)]:
            instance.report_dagster_event(
                DagsterEvent(event_type_value=DagsterEventType.ASSET_MATERIALIZATION.value,
                             event_specific_data=StepMaterializationData(AssetMaterialization(
                                 asset_key=asset, partition="2026-01-01-00:00")),
                             job_name=RUNLESS_JOB_NAME),
                run_id=RUNLESS_RUN_ID, timestamp=time.time() - age)
        origin = InProcessCodeLocationOrigin(
            LoadableTargetOrigin(module_name="tradewatch_assets.definitions", attribute="defs"),
            location_name="tradewatch")
        with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace:
            asyncio.run(FreshnessDaemon()._evaluate_assets(workspace))  # one pass of the daemon's loop
        states = {key.to_user_string(): record.freshness_state for key, record in
                  instance.get_freshness_state_records([AssetKey(a) for a in {"raw_trade_responses", *recent}]).items()}
    assert states.pop("raw_trade_responses") == FreshnessState.FAIL
    assert states == {asset: FreshnessState.PASS for asset in recent}, states
