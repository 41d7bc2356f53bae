"""`tradewatch dagster -- …` runs Dagster's CLI on the installation's instance: the run it starts is
recorded in the PostgreSQL instance storage the Dagster UI reads (DAGSTER_HOME and
TRADEWATCH_DAGSTER_PG_URL set as `tradewatch demo` sets them), not in a temporary instance that
disappears with the process, and it writes the warehouse of TRADEWATCH_DATABASE_URL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg

from tradewatch.cli.main import main
from tradewatch.cli.simulated_history import simulate_history
from tradewatch.hours import partition_key
from tradewatch.warehouse.db import get_pool
from tradewatch.watchlist import load_watchlist

HOUR = datetime(2025, 3, 1, 5, tzinfo=timezone.utc)


def test_a_shells_dagster_command_runs_on_the_instance_the_ui_shows(database_url, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    monkeypatch.setenv("TRADEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("TRADEWATCH_HOME", str(home))
    # a shell without them: what a bare `dagster asset materialize` gets (a temporary instance)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("TRADEWATCH_DAGSTER_PG_URL", raising=False)
    watchlist = load_watchlist()
    simulate_history(get_pool(database_url), watchlist, HOUR, HOUR + timedelta(hours=1), workers=1)

    assert main(["dagster", "--", "asset", "materialize", "-m", "tradewatch_assets.definitions",
                 "--select", "price_snapshots", "--partition", partition_key(HOUR)]) == 0

    with psycopg.connect(database_url) as conn:
        runs = conn.execute("SELECT status, partition FROM runs").fetchall()
        snapshots = conn.execute("SELECT count(*) FROM warehouse.price_snapshots WHERE observed_hour = %s",
                                 (HOUR,)).fetchone()[0]
    assert runs == [("SUCCESS", partition_key(HOUR))]
    assert snapshots == len(watchlist.items)
    assert (home / "dagster_home" / "dagster.yaml").is_file()


def test_the_dagster_verb_without_a_command_says_what_to_give(capsys):
    assert main(["dagster", "--"]) == 2
    assert "give the dagster command to run, e.g. tradewatch dagster -- asset materialize" in capsys.readouterr().err
