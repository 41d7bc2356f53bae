"""Daily dumps: `tradewatch export` and the files the daily_dumps asset writes, read back with DuckDB
and pandas and compared with the warehouse row by row."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pandas as pd
import psycopg
import pytest

from tradewatch.dumps import COLUMNS, DumpError, dump_days, export_days

# a fixed past window: the files never depend on today's date
START = datetime(2026, 11, 2, tzinfo=timezone.utc)
END = START + timedelta(days=2)
DAY = START.date()
LEAGUE = "Standard"


@pytest.fixture(scope="module")
def warehouse(pg_server_url, _template_db):
    """Two days of simulated order books and Currency Exchange history, priced and rolled up."""
    from helpers.databases import create_database, drop_database
    from tradewatch.cli.simulated_history import simulate_currency_exchange_history, simulate_history
    from tradewatch.warehouse.db import get_pool
    from tradewatch.warehouse.market_rollups import compute_market_hourly
    from tradewatch.warehouse.snapshots import compute_snapshots
    from tradewatch.watchlist import load_watchlist

    name, url = create_database(pg_server_url, "tw_dumps", template=_template_db)
    pool = get_pool(url)
    try:
        watchlist = load_watchlist()
        simulate_history(pool, watchlist, START, END, seed=5, workers=1)
        compute_snapshots(pool, watchlist, START, END)
        simulate_currency_exchange_history(pool, START, END, "pc")
        compute_market_hourly(pool, "pc", START, END)
        yield url
    finally:
        pool.close()
        drop_database(pg_server_url, name)


def _warehouse_exchange(url: str, day: date) -> pd.DataFrame:
    start = datetime.combine(day, datetime.min.time(), tzinfo=timezone.utc)
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT p.observed_hour, c.id, p.quote_currency, p.vwap_price, p.volume, p.quote_volume, c.name "
            "FROM warehouse.exchange_prices p JOIN warehouse.exchange_catalogue c "
            "ON c.game = 'poe1' AND c.item_key = p.item_key WHERE p.realm = 'pc' AND p.league = %s "
            "AND p.observed_hour >= %s AND p.observed_hour < %s", (LEAGUE, start, start + timedelta(days=1))).fetchall()
    return pd.DataFrame(rows, columns=["hour", "item_id", "quote_currency", "vwap", "volume", "quote_volume", "item_name"])


def _same_rows(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    a = a.sort_values(keys).reset_index(drop=True)
    b = b.sort_values(keys).reset_index(drop=True)
    assert len(a) == len(b) > 0
    for column in a.columns:
        for x, y in zip(a[column], b[column]):
            if isinstance(x, float) or isinstance(y, float):
                assert (pd.isna(x) and pd.isna(y)) or math.isclose(x, y, rel_tol=1e-12), (column, x, y)
            else:
                assert x == y, (column, x, y)


def test_a_days_exchange_parquet_read_by_duckdb_has_the_warehouses_rows(warehouse, tmp_path):
    written = export_days(warehouse, "exchange", "pc", LEAGUE, DAY, DAY + timedelta(days=1), "parquet", tmp_path)
    assert [w.day for w in written] == [DAY]
    path = tmp_path / "pc" / LEAGUE / f"{DAY.isoformat()}.parquet"
    assert written[0].path == path and path.exists()
    con = duckdb.connect()
    got = con.execute(f"SELECT hour, item_id, quote_currency, vwap, volume, quote_volume, item_name "
                      f"FROM read_parquet('{path}')").df()
    got["hour"] = pd.to_datetime(got["hour"], utc=True)
    expected = _warehouse_exchange(warehouse, DAY)
    expected["hour"] = pd.to_datetime(expected["hour"], utc=True)
    _same_rows(got, expected, ["hour", "item_id", "quote_currency"])
    # typed, in the documented order; names from the catalogue, never a path
    schema = con.execute(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    assert [r[0] for r in schema] == [c.name for c in COLUMNS["exchange"]]
    types = {r[0]: r[1] for r in schema}
    assert types["hour"].startswith("TIMESTAMP") and types["vwap"] == "DOUBLE" and types["named"] == "BOOLEAN"
    assert not got["item_name"].str.startswith("Metadata/").any()
    assert "Divine Orb" in set(got["item_name"])


def test_prices_in_chaos_and_divine_follow_the_hours_rate(warehouse, tmp_path):
    export_days(warehouse, "exchange", "pc", LEAGUE, DAY, DAY + timedelta(days=1), "parquet", tmp_path)
    frame = pd.read_parquet(tmp_path / "pc" / LEAGUE / f"{DAY.isoformat()}.parquet")
    rated = frame[frame["chaos_per_divine"].notna()]
    assert len(rated) > 0
    chaos = rated[rated["quote_currency"] == "chaos"]
    divine = rated[rated["quote_currency"] == "divine"]
    assert (chaos["price_chaos"] == chaos["vwap"]).all()
    assert ((chaos["price_divine"] - chaos["vwap"] / chaos["chaos_per_divine"]).abs() < 1e-9 * chaos["vwap"]).all()
    assert ((divine["price_chaos"] - divine["vwap"] * divine["chaos_per_divine"]).abs()
            < 1e-9 * divine["price_chaos"]).all()


def test_snapshots_and_market_days_match_the_warehouse(warehouse, tmp_path):
    export_days(warehouse, "snapshots", "pc", LEAGUE, DAY, DAY + timedelta(days=1), "parquet", tmp_path / "s")
    snaps = pd.read_parquet(tmp_path / "s" / "pc" / LEAGUE / f"{DAY.isoformat()}.parquet")
    with psycopg.connect(warehouse) as conn:
        count, items = conn.execute(
            "SELECT count(*), count(DISTINCT item_id) FROM warehouse.price_snapshots WHERE league = %s "
            "AND observed_hour >= %s AND observed_hour < %s", (LEAGUE, START, START + timedelta(days=1))).fetchone()
    assert len(snaps) == count and snaps["item_id"].nunique() == items
    assert snaps["simulated"].all() and snaps["min_price_chaos"].notna().any()

    export_days(warehouse, "market", "pc", LEAGUE, DAY, DAY + timedelta(days=1), "csv", tmp_path / "m")
    market = pd.read_csv(tmp_path / "m" / "pc" / LEAGUE / f"{DAY.isoformat()}.csv")
    with psycopg.connect(warehouse) as conn:
        expected = dict(conn.execute(
            "SELECT c.id, sum(m.chaos_value) / nullif(sum(m.chaos_units), 0) FROM warehouse.market_hourly m "
            "JOIN warehouse.exchange_catalogue c ON c.game = 'poe1' AND c.item_key = m.item_key "
            "WHERE m.realm = 'pc' AND m.league = %s AND m.observed_hour >= %s AND m.observed_hour < %s GROUP BY c.id",
            (LEAGUE, START, START + timedelta(days=1))).fetchall())
    assert set(market["item_id"]) == set(expected)
    for item_id, price in zip(market["item_id"], market["price_chaos"]):
        assert (price != price and expected[item_id] is None) or math.isclose(price, expected[item_id], rel_tol=1e-9)
    assert list(market.columns) == [c.name for c in COLUMNS["market"]]


def test_rerunning_a_day_replaces_its_file_atomically(warehouse, tmp_path):
    export_days(warehouse, "exchange", "pc", LEAGUE, DAY, DAY + timedelta(days=1), "parquet", tmp_path)
    path = tmp_path / "pc" / LEAGUE / f"{DAY.isoformat()}.parquet"
    path.write_bytes(b"a stale, broken file")
    export_days(warehouse, "exchange", "pc", LEAGUE, DAY, DAY + timedelta(days=1), "parquet", tmp_path)
    assert len(pd.read_parquet(path)) > 0
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left beside it


def test_the_daily_asset_writes_every_kind_and_league_of_its_days(warehouse, tmp_path):
    done = dump_days(warehouse, "pc", DAY, DAY + timedelta(days=2), tmp_path)
    kinds = {(kind, league, w.day) for kind, league, w in done}
    assert ("exchange", LEAGUE, DAY) in kinds and ("market", LEAGUE, DAY + timedelta(days=1)) in kinds
    assert ("snapshots", LEAGUE, DAY) in kinds
    leagues = {league for kind, league, _ in done if kind == "exchange"}
    assert len(leagues) > 1  # the feed has every league of the realm, each with its files
    for kind, league, w in done:
        assert w.path == tmp_path / kind / "pc" / league.replace("/", "_") / f"{w.day.isoformat()}.parquet"
        assert len(pd.read_parquet(w.path)) == w.rows > 0


def test_bad_requests_are_refused_before_anything_is_written(warehouse, tmp_path):
    with pytest.raises(DumpError, match="--to .* must come after --from"):
        export_days(warehouse, "exchange", "pc", LEAGUE, DAY, DAY, "parquet", tmp_path)
    with pytest.raises(DumpError, match="choose one of exchange, snapshots, market"):
        export_days(warehouse, "prices", "pc", LEAGUE, DAY, DAY + timedelta(days=1), "parquet", tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_the_export_command_writes_one_file_per_day(warehouse, tmp_path):
    env = {**os.environ, "TRADEWATCH_DATABASE_URL": warehouse}
    run = subprocess.run([sys.executable, "-m", "tradewatch.cli", "export", "--what", "exchange", "--realm", "pc",
                          "--league", LEAGUE, "--from", DAY.isoformat(), "--to", (DAY + timedelta(days=2)).isoformat(),
                          "--format", "csv", "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    files = sorted(p.name for p in (tmp_path / "pc" / LEAGUE).iterdir())
    assert files == [f"{DAY.isoformat()}.csv", f"{(DAY + timedelta(days=1)).isoformat()}.csv"]
    assert "2 file(s) written" in run.stdout
    bad = subprocess.run([sys.executable, "-m", "tradewatch.cli", "export", "--what", "exchange", "--from", "yesterday",
                          "--to", "2026-11-03", "--out", str(tmp_path)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode != 0 and "--from 'yesterday' is not a date" in bad.stderr


def test_the_daily_dumps_asset_writes_a_days_files_into_the_dump_dir(warehouse, tmp_path, monkeypatch):
    from dagster import materialize

    from tradewatch_assets.dumps.assets import build_daily_dumps_asset
    from tradewatch_assets.resources import WarehouseResource

    monkeypatch.setenv("TRADEWATCH_DUMP_DIR", str(tmp_path))
    result = materialize([build_daily_dumps_asset("pc")], partition_key=DAY.isoformat(),
                         resources={"warehouse": WarehouseResource(database_url=warehouse)})
    assert result.success
    metadata = result.asset_materializations_for_node("daily_dumps")[0].metadata
    assert metadata["exchange_rows"].value > 0 and metadata["market_rows"].value > 0
    exchange = pd.read_parquet(tmp_path / "exchange" / "pc" / LEAGUE / f"{DAY.isoformat()}.parquet")
    _same_rows(exchange[["hour", "item_id", "quote_currency", "vwap", "volume", "quote_volume", "item_name"]],
               _warehouse_exchange(warehouse, DAY).assign(hour=lambda f: pd.to_datetime(f["hour"], utc=True)),
               ["hour", "item_id", "quote_currency"])

    monkeypatch.delenv("TRADEWATCH_DUMP_DIR")
    failed = materialize([build_daily_dumps_asset("pc")], partition_key=DAY.isoformat(), raise_on_error=False,
                         resources={"warehouse": WarehouseResource(database_url=warehouse)})
    assert not failed.success
    assert "TRADEWATCH_DUMP_DIR is not set" in str(failed.all_events)


def test_the_readme_documents_every_column_of_every_kind_in_order():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    for kind, columns in COLUMNS.items():
        rows = "\n".join(f"| `{c.name}` | {c.type} | {c.meaning} |" for c in columns)
        assert rows in readme, f"the README's table of --what {kind} differs from tradewatch.dumps.COLUMNS"


def test_a_league_with_nothing_stored_is_refused_naming_the_stored_ones(warehouse, tmp_path):
    with pytest.raises(DumpError, match=r"league 'Standrad' has no stored exchange rows in realm pc; "
                                        r"stored leagues: .*Standard"):
        export_days(warehouse, "exchange", "pc", "Standrad", DAY, DAY + timedelta(days=1), "parquet", tmp_path)
    assert list(tmp_path.iterdir()) == []
