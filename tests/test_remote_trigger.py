"""`tradewatch backfill`, `tradewatch exchange backfill` and `tradewatch refresh` drive a running Dagster from outside.

The end-to-end test starts a real `dagster-webserver` and `dagster-daemon` (instance
storage in the test's PostgreSQL, the repository's dagster.yaml) and the trade simulator
(both sources) over real HTTP, then runs the console script as a user would: the three
commands at once. The daemon starts once both backfills are submitted, so its first tick takes
both: the backfill daemon ticks every 30 s (Dagster's fixed interval) and its first tick comes
at its start, so a daemon already running would leave them waiting up to 30 s for its next.
The other tests show that bad requests are refused before anything is contacted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import requests

from helpers.demo import default_signals
from helpers.servers import free_port
from tradewatch.cli.local_stack import service_environment, stop_all
from tradewatch.cli import main as cli
from tradewatch.warehouse.db import get_pool
from tradewatch.cli.simulated_history import simulate_history
from tradewatch.hours import HOUR, floor_hour, parse_partition_key, partition_key, utc_now
from tradewatch.cli.dagster_remote import DagsterRemote, parse_hour
from tradewatch.settings import load_settings
from tradewatch.watchlist import watchlist_from_settings

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PAST_RAW = "cannot be fetched now: the market of a past hour cannot be observed"
# the Currency Exchange backfill's range: a published past hour, so the test does not depend on today
CX_START = datetime(2025, 3, 1, tzinfo=timezone.utc)
CX_END = CX_START + 3 * HOUR
CX_CHAIN = "raw_currency_exchange, exchange_prices, exchange_market_hourly, exchange_market_latest"
RUN_QUERY = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run {
    status tags { key value } assetSelection { path } } } }"""


def _hour_arg(moment) -> str:
    return f"{moment:%Y-%m-%dT%H:00}"


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:  # a file, not a pipe: a chatty server never blocks on a full pipe
        # default signals: started from a shell that ignores SIGINT, Dagster's SIGTERM (mapped to
        # SIGINT's handler) would be ignored too and each stop would wait out the whole grace
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=default_signals)


def _stop(processes: list[subprocess.Popen]) -> None:
    # the product's own stop: SIGTERM, then SIGKILL to each whole group, so the code servers
    # the webserver and daemon started go with them
    stop_all(processes, grace=15)


def _wait_ready(url: str, processes: list[subprocess.Popen], logs: list[Path], seconds: float) -> None:
    remote = DagsterRemote(url, timeout=10)
    deadline = time.monotonic() + seconds
    while True:
        for proc, log in zip(processes, logs):
            assert proc.poll() is None, f"{proc.args[0]} exited:\n{log.read_text()[-3000:]}"
        try:
            remote.wait_until_ready(0)
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.5)


def _backfill_count(url: str) -> int:
    # straight GraphQL, as the README's curl examples do
    answer = requests.post(f"{url}/graphql", timeout=10, json={
        "query": "{ partitionBackfillsOrError(limit: 100) { ... on PartitionBackfills { results { id } } } }"})
    return len(answer.json()["data"]["partitionBackfillsOrError"]["results"])


def _wait_for_backfills(url: str, count: int, commands: list[subprocess.Popen], seconds: float) -> None:
    """Until the webserver lists `count` backfills (the commands' submissions), bounded."""
    deadline = time.monotonic() + seconds
    while (found := _backfill_count(url)) < count:
        for proc in commands:
            assert proc.poll() is None or proc.returncode == 0, (proc.args, proc.communicate())
        assert time.monotonic() < deadline, f"{found} of {count} backfills submitted after {seconds} s"
        time.sleep(0.2)


@pytest.fixture
def dagster(database_url, start_sim, tmp_path):
    """A Dagster webserver on the test database, fetching both sources from a simulator; yields
    (url, sim, start_daemon): the daemon starts when the test calls start_daemon()."""
    sim = start_sim(time_scale=0.01, cx_markets_per_hour=160)
    env = service_environment(database_url, tmp_path / "home", trade_api_url=sim.url)
    env.pop("TRADEWATCH_DAGSTER_URL", None)
    env.update({"TRADEWATCH_CX_URL": sim.url + "/api/currency-exchange", "TRADEWATCH_CX_REALMS": "pc",
                "TRADEWATCH_CX_MAX_PER_MINUTE": "100000"})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workspace = str(ROOT / "workspace.yaml")
    logs = [tmp_path / "daemon.log", tmp_path / "webserver.log"]
    processes: list[subprocess.Popen] = []

    def start_daemon() -> None:
        processes.append(_spawn([str(BIN / "dagster-daemon"), "run", "-w", workspace], env, logs[0]))

    try:
        processes.append(_spawn([str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1",
                                 "-p", str(port)], env, logs[1]))
        _wait_ready(url, processes, logs[1:], 90)
        yield url, sim, start_daemon
    finally:
        _stop(processes)


def _tradewatch(*args: str, url: str) -> subprocess.Popen:
    env = {**os.environ, "TRADEWATCH_DAGSTER_URL": url}
    return subprocess.Popen([str(BIN / "tradewatch"), *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_backfills_and_refresh_run_through_a_real_webserver(database_url, dagster, capsys):
    url, sim, start_daemon = dagster
    now = utc_now()
    current = floor_hour(now)
    first, end = current - 5 * HOUR, current - 2 * HOUR  # three stored past hours
    pool = get_pool(database_url)
    assert simulate_history(pool, watchlist_from_settings(load_settings()), first, end, workers=1) == 66  # 3 x 22 books

    # all at once, as three operators would: the backfills wait for the daemon's tick, the refresh's
    # run in the queue for the daemon's run coordinator
    backfill = _tradewatch("backfill", "--from", _hour_arg(first), "--to", _hour_arg(end), "--wait", url=url)
    cx_backfill = _tradewatch("exchange", "backfill", "--realm", "pc", "--from", f"{CX_START:%Y-%m-%dT%H:00}",
                              "--to", f"{CX_END:%Y-%m-%dT%H:00}", "--wait", "--timeout", "300", url=url)
    refresh = _tradewatch("refresh", "--wait", "--timeout", "120", url=url)
    try:
        _wait_for_backfills(url, 2, [backfill, cx_backfill], 60)
        start_daemon()  # its first tick takes both backfills
        # while they run, the live server is asked for what must be refused: nothing is launched
        before = _backfill_count(url)  # both commands' backfills are in it (waited for above)
        assert cli.main(["backfill", "--from", _hour_arg(first), "--to", _hour_arg(end),
                         "--assets", "raw_trade_responses", "--dagster-url", url]) == 2
        refused = capsys.readouterr().err
        assert f"raw partition {partition_key(first)} {PAST_RAW}" in refused
        assert "backfill the derived assets (price_snapshots, reroll_profitability) instead" in refused
        assert cli.main(["backfill", "--from", "2024-12-31T23:00", "--to", "2025-01-01T02:00",
                         "--dagster-url", url]) == 2
        assert "lies before the history's first hour 2025-01-01-00:00" in capsys.readouterr().err
        assert _backfill_count(url) == before

        refresh_out, refresh_err = refresh.communicate(timeout=150)
        backfill_out, backfill_err = backfill.communicate(timeout=150)
        cx_out, cx_err = cx_backfill.communicate(timeout=330)
    finally:
        for proc in (backfill, cx_backfill, refresh):
            if proc.poll() is None:
                proc.kill()
    assert refresh.returncode == 0, refresh_out + refresh_err
    assert backfill.returncode == 0, backfill_out + backfill_err
    assert cx_backfill.returncode == 0, cx_out + cx_err

    backfill_id = re.search(r"^backfill (\w+) launched: price_snapshots, reroll_profitability for "
                            rf"{partition_key(first)} … {partition_key(end - HOUR)} \(3 hours\)$",
                            backfill_out, re.M).group(1)
    assert f"{url}/runs/b/{backfill_id}" in backfill_out
    # BackfillPolicy.single_run(): both assets, all hours, one run
    assert f"backfill {backfill_id}: COMPLETED_SUCCESS (1 run)" in backfill_out
    run_id, key = re.search(r"^run ([\w-]+) launched: raw_trade_responses, price_snapshots, reroll_profitability "
                            r"for (\S+)$", refresh_out, re.M).groups()
    assert f"{url}/runs/{run_id}" in refresh_out and f"run {run_id}: SUCCESS" in refresh_out
    refreshed = parse_partition_key(key)
    assert refreshed in (current, current + HOUR)  # the clock may turn the hour during the test

    with psycopg.connect(database_url) as conn:
        snapshots = dict(conn.execute(
            "SELECT observed_hour, count(*) FROM warehouse.price_snapshots GROUP BY 1").fetchall())
        profitable_hours = {h for (h,) in conn.execute(
            "SELECT DISTINCT observed_hour FROM warehouse.reroll_profitability").fetchall()}
        live = conn.execute("SELECT count(*) FILTER (WHERE paid_with <> 'chaos'), "
                            "count(*) FILTER (WHERE item_id = 'divine' AND paid_with = 'chaos'), bool_or(simulated) "
                            "FROM warehouse.raw_trade_responses WHERE observed_hour = %s", (refreshed,)).fetchone()
    past = [first, first + HOUR, first + 2 * HOUR]
    assert {h: snapshots.get(h) for h in past} == {h: 21 for h in past}
    assert set(past) <= profitable_hours
    # the refresh fetched the hour from the simulator (the 21 watched books and the book of divine
    # paid in chaos, the divine price's fallback) and derived it in the same run
    assert live == (21, 1, False)
    assert snapshots.get(refreshed) == 21 and refreshed in profitable_hours
    assert any("/exchange/" in path for _, _, path in sim.app.state.request_log)

    _check_exchange_backfill(url, database_url, cx_out)


def _check_exchange_backfill(url: str, database_url: str, out: str) -> None:
    """`tradewatch exchange backfill` without `--local`: one single-run backfill of the four assets
    over the range, on the running instance, and its hours stored and rolled up."""
    first, last = partition_key(CX_START), partition_key(CX_END - HOUR)
    backfill_id = re.search(rf"^backfill (\w+) launched: {CX_CHAIN} for {first} … {last} \(3 hours\)$", out,
                            re.M).group(1)
    assert f"{url}/runs/b/{backfill_id}" in out and f"backfill {backfill_id}: COMPLETED_SUCCESS" in out

    # single-run (BackfillPolicy.single_run()): the four assets, the three hours, one run
    runs = DagsterRemote(url).backfill_runs(backfill_id)
    assert len(runs) == 1 and runs[0][1] == "SUCCESS", runs
    run = requests.post(f"{url}/graphql", timeout=10, json={"query": RUN_QUERY, "variables": {"id": runs[0][0]}}
                        ).json()["data"]["runOrError"]
    tags = {t["key"]: t["value"] for t in run["tags"]}
    assert (tags["dagster/asset_partition_range_start"], tags["dagster/asset_partition_range_end"]) == (first, last)
    assert tags["dagster/backfill"] == backfill_id
    assert sorted("/".join(a["path"]) for a in run["assetSelection"]) == sorted(CX_CHAIN.split(", "))

    with psycopg.connect(database_url) as conn:
        hours = [r[0] for r in conn.execute("SELECT DISTINCT observed_hour FROM warehouse.exchange_prices "
                                            "WHERE realm = 'pc' ORDER BY 1")]
        market_hour = conn.execute("SELECT hour FROM warehouse.market_state WHERE realm = 'pc'").fetchone()
    assert hours == [CX_START, CX_START + HOUR, CX_START + 2 * HOUR]
    assert market_hour == (CX_END - HOUR,)


def test_an_unreachable_webserver_is_named_with_how_to_start_it(capsys, monkeypatch):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("TRADEWATCH_DAGSTER_URL", url)
    assert cli.main(["refresh"]) == 2
    err = capsys.readouterr().err
    assert f"the Dagster webserver at {url} is not reachable" in err
    assert "make demo" in err and "--dagster-url" in err and "TRADEWATCH_DAGSTER_URL" in err
    day = utc_now() - timedelta(days=1)
    assert cli.main(["backfill", "--from", f"{day:%Y-%m-%d}", "--to", f"{day + timedelta(hours=3):%Y-%m-%dT%H}",
                     "--dagster-url", url.replace("127.0.0.1", "user:hunter2@127.0.0.1")]) == 2
    err = capsys.readouterr().err
    assert "is not reachable" in err and "hunter2" not in err


@pytest.mark.parametrize("start, end, message", [
    ("yesterday", "2026-01-01", "--from 'yesterday' is not an ISO date or hour"),
    ("2026-01-01T10:30", "2026-01-01T12:00", "is not on a whole hour"),
    ("2026-01-01T12:00", "2026-01-01T12:00", "must be before --to"),
    ("2026-01-02", "2026-01-01", "--from 2026-01-02-00:00 must be before --to 2026-01-01-00:00"),
    ("2026-01-01", "2999-01-01", "--to 2999-01-01T00:00 lies in the future"),
    ("2026-01-01T12:00+02:00", "2026-01-01T09:00Z", "--from 2026-01-01-10:00 must be before --to 2026-01-01-09:00"),
])
def test_bad_dates_are_refused_before_the_webserver_is_contacted(start, end, message, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert cli.main(["backfill", "--from", start, "--to", end, "--dagster-url", url]) == 2
    err = capsys.readouterr().err
    assert message in err and "not reachable" not in err


def test_unknown_assets_are_listed_with_the_valid_names(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    assert cli.main(["backfill", "--from", "2026-01-01", "--to", "2026-01-02", "--assets", "price_snapshots,prices",
                     "--dagster-url", url]) == 2
    assert ("unknown asset 'prices'; valid assets: raw_trade_responses, price_snapshots, reroll_profitability"
            in capsys.readouterr().err)


def test_past_raw_hours_are_refused_with_the_ingestion_message(capsys):
    url = f"http://127.0.0.1:{free_port()}"
    past = floor_hour(utc_now()) - 3 * HOUR
    assert cli.main(["refresh", "--hour", _hour_arg(past), "--dagster-url", url]) == 2
    err = capsys.readouterr().err
    assert f"raw partition {partition_key(past)} {PAST_RAW}" in err
    assert "backfill the derived assets (price_snapshots, reroll_profitability) instead" in err


def test_hours_parse_as_iso_with_naive_meaning_utc():
    assert partition_key(parse_hour("2026-11-20")) == "2026-11-20-00:00"
    assert partition_key(parse_hour("2026-11-20T13")) == "2026-11-20-13:00"
    assert partition_key(parse_hour("2026-11-20 13:00:00")) == "2026-11-20-13:00"
    assert partition_key(parse_hour("2026-11-20T15:00+02:00")) == "2026-11-20-13:00"
    assert partition_key(parse_hour("2026-11-20T13:00Z")) == "2026-11-20-13:00"
    assert partition_key(parse_hour("2026-11-20-13:00")) == "2026-11-20-13:00"
