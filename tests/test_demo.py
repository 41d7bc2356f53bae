"""`tradewatch demo` end to end in a temporary directory: it prepares history, backfills the
derived assets through the Dagster webserver, serves the UI and the API, stops every
process on SIGTERM, and resumes with the same data on the second start."""

from __future__ import annotations

import re
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil
import psycopg
import pytest
import requests

from helpers.demo import Demo, demo_home, remove_demo_home
from tradewatch.warehouse.embedded_pg import port_is_free

pytestmark = pytest.mark.slow


def _graphql(api_port: int, query: str) -> dict:
    response = requests.post(f"http://127.0.0.1:{api_port}/graphql", json={"query": query}, timeout=30)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def _warehouse_rows(home: Path, pg_port: int, before) -> int:
    from tradewatch.warehouse.embedded_pg import EmbeddedPostgres

    # the owner's password is in the demo home's password file, which the URL names
    with psycopg.connect(EmbeddedPostgres(home / "pg", pg_port).url(), connect_timeout=5) as conn:
        return conn.execute("SELECT count(*) FROM warehouse.raw_trade_responses WHERE observed_hour < %s",
                            (before,)).fetchone()[0]


def _stored_hours(home: Path, pg_port: int) -> int:
    from tradewatch.warehouse.embedded_pg import EmbeddedPostgres

    with psycopg.connect(EmbeddedPostgres(home / "pg", pg_port).url(), connect_timeout=5) as conn:
        return conn.execute("SELECT count(DISTINCT observed_hour) FROM warehouse.raw_trade_responses").fetchone()[0]


def _raw_partition_stats(dagster_port: int) -> dict:
    query = """{ assetNodeOrError(assetKey: {path: ["raw_trade_responses"]}) {
                   ... on AssetNode { partitionStats { numMaterialized numPartitions } } } }"""
    answer = requests.post(f"http://127.0.0.1:{dagster_port}/graphql", json={"query": query}, timeout=30).json()
    return answer["data"]["assetNodeOrError"]["partitionStats"]


def _dagster(dagster_port: int, query: str) -> dict:
    answer = requests.post(f"http://127.0.0.1:{dagster_port}/graphql", json={"query": query}, timeout=30).json()
    assert "errors" not in answer, answer
    return answer["data"]


def _check_statuses(dagster_port: int) -> dict[str, str | None]:
    """asset/check -> the status of its execution against the asset's latest materialization."""
    nodes = _dagster(dagster_port, """{ assetNodes { assetKey { path } assetChecksOrError {
        ... on AssetChecks { checks { name executionForLatestMaterialization { status } } } } } }""")["assetNodes"]
    return {f"{'/'.join(n['assetKey']['path'])}/{c['name']}": (c["executionForLatestMaterialization"] or {}).get("status")
            for n in nodes for c in (n["assetChecksOrError"] or {}).get("checks", [])}


def _freshness(dagster_port: int) -> dict[str, str]:
    nodes = _dagster(dagster_port, "{ assetNodes { assetKey { path } freshnessStatusInfo { freshnessStatus } } }")
    return {"/".join(n["assetKey"]["path"]): n["freshnessStatusInfo"]["freshnessStatus"]
            for n in nodes["assetNodes"] if n["freshnessStatusInfo"]}


def _assert_ready_means_ready(demo: Demo, ports: dict[str, int], home: Path) -> None:
    """What must be true the moment the URLs are printed (issue 12, "ready means ready")."""
    out = demo.output
    items = int(re.search(r"\((\w+), (\d+) items\)", out).group(2))
    # every watched item has a latest price
    latest = _graphql(ports["api"], "{ latestPrices { item { id } } }")["latestPrices"]
    assert len(latest) == items, latest
    # the hour the demo started in was fetched from the simulator and is in the coverage, derived
    fetched = re.search(r"current hour (\S+) fetched from the simulator \.\.\. (\d+) of (\d+) items fetched", out)
    assert fetched, out
    hour = datetime.strptime(fetched.group(1), "%Y-%m-%d-%H:%M").replace(tzinfo=timezone.utc)
    since = hour.strftime("%Y-%m-%dT%H:00:00Z")
    coverage = _graphql(ports["api"], f'{{ coverage(from: "{since}") {{ hours {{ hour stored snapshots }} }} }}')
    current = [h for h in coverage["coverage"]["hours"]
               if datetime.fromisoformat(h["hour"].replace("Z", "+00:00")) == hour]
    assert current and current[0]["stored"] == items and current[0]["snapshots"] == items, coverage
    profitability = _graphql(ports["api"], f'{{ profitability(from: "{since}") {{ nodes {{ hour }} }} }}')["profitability"]["nodes"]
    assert profitability, "no profitability for the current hour"
    # every asset check of the code location has passed on its asset's latest materialization
    statuses = _check_statuses(ports["dagster"])
    assert statuses and all(status == "SUCCEEDED" for status in statuses.values()), statuses
    # the Dagster partition status of raw_trade_responses is the stored hours
    stats = _raw_partition_stats(ports["dagster"])
    assert stats["numMaterialized"] == _stored_hours(home, ports["pg"]), stats


@pytest.fixture
def demo_dir():
    """A directory outside the repo (no .env) and an environment with free ports."""
    tmp_path, ports, env = demo_home()
    started: list[Demo] = []

    def start() -> Demo:
        demo = Demo(tmp_path, env, ports)
        started.append(demo)
        return demo

    yield start, ports, tmp_path
    for demo in started:  # a failed assertion must not leave servers behind
        demo.kill()
    remove_demo_home(tmp_path, ports["pg"])


def test_demo_starts_serves_stops_and_resumes(demo_dir):
    start, ports, tmp_path = demo_dir

    demo = start()
    demo.wait_for("TradeWatch is running", 180)
    _assert_ready_means_ready(demo, ports, tmp_path / "home")
    out = demo.output
    for url in (f"http://127.0.0.1:{ports['dagster']}", f"http://127.0.0.1:{ports['api']}/graphql",
                f"http://127.0.0.1:{ports['api']}/dashboard"):
        assert url in out
    assert "responses written" in out  # a fresh home gets its history

    # the UI and the API answer
    assert requests.get(f"http://127.0.0.1:{ports['dagster']}/server_info", timeout=10).status_code == 200
    health = requests.get(f"http://127.0.0.1:{ports['api']}/health", timeout=10).json()
    assert health["status"] == "ok" and health["newest_hour"] is not None
    since = (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT%H:00:00Z")
    coverage = _graphql(ports["api"], f'{{ coverage(from: "{since}") {{ hoursComplete simulatedHours }} }}')
    assert coverage["coverage"]["hoursComplete"] >= 47  # two days of simulated hours

    # the Dagster UI shows what is stored: one materialized raw partition per stored hour, and
    # the partitions start at the first simulated hour (kept in the home), not in 2025
    stats = _raw_partition_stats(ports["dagster"])
    stored_hours = _stored_hours(tmp_path / "home", ports["pg"])
    kept_start = (tmp_path / "home" / "history_start").read_text().strip()
    assert stats["numMaterialized"] == stored_hours, (stats, stored_hours)
    assert stored_hours <= stats["numPartitions"] <= stored_hours + 2, (stats, stored_hours)

    # ready means ready: the derived prices are there the moment the URLs are printed
    latest = _graphql(ports["api"], "{ latestPrices { item { id } minPrice listingCount } }")["latestPrices"]
    items = int(re.search(r"\((\w+), (\d+) items\)", demo.output).group(2))
    # one snapshot per watched item, each priced: the simulated market prices every item in every hour
    priced = [row for row in latest if row["minPrice"] and row["listingCount"] > 0]
    assert len(latest) == items and len(priced) == items, latest

    # within a minute of ready every freshness policy passes (the daemon evaluates them every 30 s)
    deadline = time.monotonic() + 60
    while not (fresh := _freshness(ports["dagster"])) or set(fresh.values()) != {"HEALTHY"}:
        assert time.monotonic() < deadline, fresh
        time.sleep(1)
    assert {"raw_trade_responses", "price_snapshots", "reroll_profitability", "raw_currency_exchange",
            "exchange_prices", "price_alerts"} <= set(fresh), fresh

    children = demo.descendants()
    assert len(children) >= 4  # simulator, daemon, webserver, API (and their code servers)
    rows_before = _warehouse_rows(tmp_path / "home", ports["pg"], "2100-01-01")
    assert demo.stop() == 0
    gone, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, [p.info if hasattr(p, "info") else p.pid for p in alive]
    for name, port in ports.items():
        assert port_is_free(port), f"{name} port {port} still taken after the demo stopped"
    assert "stopped; the data stays" in demo.output

    # the second start resumes: same data, no history to simulate, nothing to derive
    second = start()
    second.wait_for("TradeWatch is running", 180)
    out = second.output
    assert _warehouse_rows(tmp_path / "home", ports["pg"], "2100-01-01") >= rows_before
    written = re.search(r"(\d+) responses written", out)
    if written:  # only when the clock crossed an hour between the starts: that hour alone is new
        items = int(re.search(r"\((\w+), (\d+) items\)", out).group(2))
        assert int(written.group(1)) <= 2 * items, out
    else:
        assert "simulated history for the last 2 days ... already there" in out
    assert (tmp_path / "home" / "history_start").read_text().strip() == kept_start  # the start did not move
    assert "telling Dagster about the partitions stored outside its runs ... none new" in out or written
    assert _raw_partition_stats(ports["dagster"])["numMaterialized"] == _stored_hours(tmp_path / "home", ports["pg"])
    latest_again = _graphql(ports["api"], "{ latestPrices { item { id } } }")["latestPrices"]
    assert {r["item"]["id"] for r in latest_again} == {r["item"]["id"] for r in latest}
    assert second.stop() == 0
    for name, port in ports.items():
        assert port_is_free(port), f"{name} port {port} still taken after the second stop"


def test_demo_refuses_a_taken_port_before_starting_anything(demo_dir):
    start, ports, tmp_path = demo_dir
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", ports["api"]))
        blocker.listen()
        demo = start()
        assert demo.proc.wait(timeout=60) == 2
    out = demo.output
    assert f"port {ports['api']} is already taken" in out and "--api-port" in out
    assert "Traceback" not in out
    assert not (tmp_path / "home" / "pg").exists()  # nothing was started or created
