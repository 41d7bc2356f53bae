"""`tradewatch exchange backfill` without `--local`: one single-run backfill on a running Dagster.

A real `dagster-webserver` and `dagster-daemon` (the fixture of test_remote_trigger.py) with the
Currency Exchange feed of the trade simulator over real HTTP; the console script is run as a user
would, and the webserver is asked what it launched.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import psycopg
import pytest
import requests

from test_remote_trigger import _tradewatch, dagster  # noqa: F401  (the fixture, used by name)
from tradewatch.cli.dagster_remote import DagsterRemote
from tradewatch.hours import HOUR, partition_key

START = datetime(2025, 3, 1, tzinfo=timezone.utc)  # a published past hour: the test does not depend on today
END = START + 3 * HOUR
CHAIN = "raw_currency_exchange, exchange_prices, exchange_market_hourly, exchange_market_latest"

RUN_QUERY = """query($id: ID!) { runOrError(runId: $id) { __typename ... on Run {
    status tags { key value } assetSelection { path } } } }"""


@pytest.fixture
def exchange_dagster(start_sim, monkeypatch, request):
    """The webserver and daemon, their Currency Exchange feed a small simulator (set before they start)."""
    sim = start_sim(cx_markets_per_hour=160, time_scale=0.01)
    monkeypatch.setenv("TRADEWATCH_CX_URL", sim.url + "/api/currency-exchange")
    monkeypatch.setenv("TRADEWATCH_CX_REALMS", "pc")
    monkeypatch.setenv("TRADEWATCH_CX_MAX_PER_MINUTE", "100000")
    return request.getfixturevalue("dagster")[0]


def test_exchange_backfill_launches_one_single_run_backfill_of_the_range(database_url, exchange_dagster):
    url = exchange_dagster
    proc = _tradewatch("exchange", "backfill", "--realm", "pc", "--from", f"{START:%Y-%m-%dT%H:00}",
                       "--to", f"{END:%Y-%m-%dT%H:00}", "--wait", "--timeout", "300", url=url)
    try:
        out, err = proc.communicate(timeout=330)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out + err
    first, last = partition_key(START), partition_key(END - HOUR)
    backfill_id = re.search(rf"^backfill (\w+) launched: {CHAIN} for {first} … {last} \(3 hours\)$", out,
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
    assert sorted("/".join(a["path"]) for a in run["assetSelection"]) == sorted(CHAIN.split(", "))

    with psycopg.connect(database_url) as conn:
        hours = [r[0] for r in conn.execute("SELECT DISTINCT observed_hour FROM warehouse.exchange_prices "
                                            "WHERE realm = 'pc' ORDER BY 1")]
        market_hour = conn.execute("SELECT hour FROM warehouse.market_state WHERE realm = 'pc'").fetchone()
    assert hours == [START, START + HOUR, START + 2 * HOUR]
    assert market_hour == (END - HOUR,)
