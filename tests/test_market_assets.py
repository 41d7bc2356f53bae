"""price_snapshots and reroll_profitability through Dagster, on a PostgreSQL-backed instance."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from dagster import AssetKey, BackfillPolicy, materialize

from tradewatch.warehouse.db import get_pool, psycopg2_url
from tradewatch.cli.simulated_history import simulate_history
from tradewatch.watchlist import load_watchlist
from tradewatch_assets.market.assets import price_snapshots, reroll_profitability
from tradewatch_assets.resources import WarehouseResource, WatchlistResource

START = datetime(2025, 3, 1, tzinfo=timezone.utc)
HOURS = 6
FIRST, LAST = "2025-03-01-00:00", "2025-03-01-05:00"


@pytest.fixture
def instance(database_url):
    from dagster._core.test_utils import instance_for_test

    with instance_for_test(overrides={"storage": {"postgres": {"postgres_url": psycopg2_url(database_url)}}}) as inst:
        yield inst


@pytest.fixture
def history(database_url):
    """Six simulated hours: raw rows that are NOT Dagster materializations of the raw asset."""
    simulate_history(get_pool(database_url), load_watchlist(), START, START + HOURS * timedelta(hours=1), workers=1)


def _run(instance, database_url, first: str, last: str):
    # a single run over a partition range, tagged as the UI's single-run backfill tags it
    return materialize([price_snapshots, reroll_profitability], instance=instance, raise_on_error=False,
                       tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
                       resources={"warehouse": WarehouseResource(database_url=database_url),
                                  "watchlist": WatchlistResource()})


def test_the_derived_assets_are_single_run_eager_and_lineaged_on_raw():
    for asset, group in ((price_snapshots, "silver"), (reroll_profitability, "gold")):
        assert asset.backfill_policy == BackfillPolicy.single_run()
        assert asset.group_names_by_key[asset.key] == group
        assert asset.automation_conditions_by_key[asset.key] is not None
    assert AssetKey("raw_trade_responses") in price_snapshots.dependency_keys
    assert price_snapshots.key in reroll_profitability.dependency_keys


def test_a_range_of_simulated_hours_is_one_run_with_metadata_per_partition(instance, database_url, history):
    result = _run(instance, database_url, FIRST, LAST)
    assert result.success
    assert len(instance.get_run_records()) == 1
    for asset in ("price_snapshots", "reroll_profitability"):
        assert len(instance.get_materialized_partitions(AssetKey(asset))) == HOURS
    snapshots = result.asset_materializations_for_node("price_snapshots")
    assert len(snapshots) == HOURS
    by_partition = {m.partition: m.metadata for m in snapshots}
    assert set(by_partition) == {f"2025-03-01-0{h}:00" for h in range(HOURS)}
    for metadata in by_partition.values():
        assert metadata["rows"].value == 21 and metadata["cheapest_unit_price"].value > 0
        assert metadata["rows_written"].value == HOURS * 21  # the range-level figures
        assert "| item |" in metadata["table"].value
    profits = {m.partition: m.metadata for m in result.asset_materializations_for_node("reroll_profitability")}
    values = {p: (m["deafening-top5/top_k_profit_per_unit"].value, m["deafening-top5/optimal_profit_per_unit"].value)
              for p, m in profits.items()}
    assert len(values) == HOURS and all(optimal >= top_k - 1e-9 for top_k, optimal in values.values())
    checks = {(c.asset_key.to_user_string(), c.check_name): c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {("price_snapshots", "every_watched_item_priced"): True,
                      ("price_snapshots", "prices_positive_and_finite"): True,
                      ("reroll_profitability", "every_strategy_priced"): True}
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM warehouse.price_snapshots").fetchone()[0] == HOURS * 21
        assert conn.execute("SELECT count(*) FROM warehouse.reroll_profitability").fetchone()[0] == HOURS * 2
    # and a second run over part of the range replaces, never duplicates
    assert _run(instance, database_url, FIRST, "2025-03-01-02:00").success
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM warehouse.price_snapshots").fetchone()[0] == HOURS * 21


def test_a_missing_item_fails_the_blocking_check_and_skips_profitability(instance, database_url, history):
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM warehouse.raw_trade_responses WHERE item_id = 'deafening-essence-of-misery' "
                     "AND observed_hour = %s", (START + timedelta(hours=2),))
    result = _run(instance, database_url, FIRST, LAST)
    assert not result.success
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "every_watched_item_priced"]
    assert check.passed is False
    assert check.metadata["missing"].value == {"2025-03-01-02:00": ["deafening-essence-of-misery"]}
    assert not result.asset_materializations_for_node("reroll_profitability")
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM warehouse.reroll_profitability").fetchone()[0] == 0


def test_a_long_range_gives_its_figures_to_its_last_partition_and_the_window_to_the_others(
        instance, database_url, history, monkeypatch):
    import tradewatch_assets.market.assets as market_assets

    monkeypatch.setattr(market_assets, "PER_PARTITION_METADATA_LIMIT", 3)  # six hours are a long range now
    result = _run(instance, database_url, FIRST, LAST)
    assert result.success
    for asset in ("price_snapshots", "reroll_profitability"):
        events = {m.partition: m.metadata for m in result.asset_materializations_for_node(asset)}
        assert len(events) == HOURS and len(instance.get_materialized_partitions(AssetKey(asset))) == HOURS
        last = events.pop(LAST)
        assert {"window", "rows_written", "compute_seconds", "rows_replaced", "table"} <= set(last)
        assert all(set(m) == {"window"} and m["window"] == last["window"] for m in events.values())
        latest = instance.get_latest_materialization_event(AssetKey(asset)).asset_materialization
        assert latest.partition == LAST and latest.metadata["rows_written"] == last["rows_written"]
    latest = instance.get_latest_materialization_event(AssetKey("price_snapshots")).asset_materialization.metadata
    assert latest["rows"].value == 21 and latest["rows_written"].value == HOURS * 21
