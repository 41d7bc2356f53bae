"""From the command line, as a user runs it: `dagster asset materialize --partition-range` of
raw_currency_exchange then exchange_prices, with TRADEWATCH_CX_URL at the simulator's feed,
fills analytics.exchange_prices (separate processes, the project's dagster.yaml)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from tradewatch.warehouse.db import psycopg2_url

ROOT = Path(__file__).resolve().parent.parent


def test_dagster_materialize_of_a_range_fills_analytics_exchange_prices(database_url, start_sim, tmp_path):
    sim = start_sim(cx_markets_per_hour=80, time_scale=0.01)
    (tmp_path / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "TRADEWATCH_DATABASE_URL": database_url,
           "TRADEWATCH_DAGSTER_PG_URL": psycopg2_url(database_url),
           "TRADEWATCH_CX_URL": sim.url + "/api/currency-exchange", "TRADEWATCH_CX_MAX_PER_MINUTE": "10000"}
    first, last = "2025-03-01-00:00", "2025-03-01-05:00"
    for asset in ("raw_currency_exchange", "exchange_prices"):
        done = subprocess.run(
            [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "tradewatch_assets.definitions",
             "--select", asset, "--partition-range", f"{first}...{last}"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM warehouse.raw_currency_exchange").fetchone()[0] == 6
        hours, items, divine = conn.execute(
            "SELECT count(DISTINCT observed_hour), count(DISTINCT item_id), "
            "count(*) FILTER (WHERE item_id = 'divine' AND quote_currency = 'chaos') FROM analytics.exchange_prices"
        ).fetchone()
    assert hours == 6 and items > 5 and divine >= 6
