"""The whole code location loads, and the instance files hold together."""

import os
import subprocess
import sys
from pathlib import Path

import yaml
from dagster import DefaultScheduleStatus, Definitions

ROOT = Path(__file__).resolve().parent.parent


def test_the_code_location_loads_with_its_assets_schedule_and_resources():
    from tradewatch_assets.definitions import defs

    Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    keys = {key.to_user_string() for key in repo.asset_graph.get_all_asset_keys()}
    assert "raw_trade_responses" in keys
    schedule = repo.get_schedule_def("hourly_raw_fetch")
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == "5 * * * *"
    node = repo.asset_graph.get(next(k for k in repo.asset_graph.get_all_asset_keys()
                                     if k.to_user_string() == "raw_trade_responses"))
    assert node.pools == {"trade_api"}


def test_a_broken_watchlist_stops_the_code_location_from_loading(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("items: [deafening-essence-of-gred]\n")
    env = {**os.environ, "TRADEWATCH_WATCHLIST": str(bad)}
    done = subprocess.run([sys.executable, "-c", "import tradewatch_assets.definitions"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert f"watchlist {bad}: items[0]: unknown item id 'deafening-essence-of-gred'" in done.stderr


def test_dagster_yaml_keeps_instance_storage_in_postgres_with_a_trade_api_pool_of_one(database_url, tmp_path):
    from dagster import DagsterInstance

    from tradewatch.warehouse.db import psycopg2_url

    config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
    # dagster-postgres's storage with planned checks written in one statement (instance_storage.py)
    assert config["storage"]["custom"] == {"module": "tradewatch_assets.instance_storage",
                                           "class": "TradeWatchPostgresStorage",
                                           "config": {"postgres_url": {"env": "TRADEWATCH_DAGSTER_PG_URL"}}}
    assert config["concurrency"]["pools"]["default_limit"] == 1
    assert config["telemetry"]["enabled"] is False
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    os.environ["TRADEWATCH_DAGSTER_PG_URL"] = psycopg2_url(database_url)
    try:
        instance = DagsterInstance.from_config(str(home))
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.event_log_storage).__name__ == "TradeWatchEventLogStorage"
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        instance.dispose()
    finally:
        del os.environ["TRADEWATCH_DAGSTER_PG_URL"]


def test_dagster_validates_the_workspace_with_the_real_instance_config(database_url, tmp_path):
    from tradewatch.warehouse.db import psycopg2_url

    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "TRADEWATCH_DAGSTER_PG_URL": psycopg2_url(database_url)}
    done = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                          cwd=ROOT, capture_output=True, text=True, timeout=180, env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_currency_exchange_assets_are_in_the_code_location_with_their_automation():
    from dagster import AssetKey, BackfillPolicy

    from tradewatch_assets.definitions import defs

    repo = defs.get_repository_def()
    graph = repo.asset_graph
    raw, prices = graph.get(AssetKey("raw_currency_exchange")), graph.get(AssetKey("exchange_prices"))
    assert (raw.group_name, prices.group_name) == ("bronze", "silver")
    assert raw.backfill_policy == prices.backfill_policy == BackfillPolicy.single_run()
    assert raw.partitions_def.get_first_partition_key() == "2024-07-26-20:00"
    assert AssetKey("raw_currency_exchange") in prices.parent_keys
    schedule = repo.get_schedule_def("hourly_currency_exchange_pc")
    assert schedule.default_status == DefaultScheduleStatus.RUNNING and schedule.cron_schedule == "1 * * * *"
    assert repo.get_sensor_def("currency_exchange_automation")


def test_other_realms_get_their_assets_under_a_key_prefix(tmp_path):
    env = {**os.environ, "TRADEWATCH_CX_REALMS": "pc,poe2"}
    code = ("from tradewatch_assets.definitions import defs; "
            "print(sorted(k.to_user_string() for k in defs.get_repository_def().asset_graph.get_all_asset_keys()))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "poe2/raw_currency_exchange" in done.stdout and "poe2/exchange_prices" in done.stdout
