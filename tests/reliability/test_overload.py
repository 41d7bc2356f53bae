"""The API keeps answering under valid but expensive queries.

`tradewatch serve` (one uvicorn process, as deployed) on a week of simulated history. Four
abusive clients send, in a loop for 30 s (`TRADEWATCH_OVERLOAD_SECONDS` shortens it), the most
expensive request the cost budget accepts: two aliased evaluateStrategy fields (31 days and
10 days) and a 500-row profitability page, cost 997 of 1000, with a fresh reroll cost each
time so that no result comes from the cache. A fifth client asks `latestPrices` meanwhile.

Passes when the fifth client's p95 stays <= 50 ms and the four get answers or coded errors
(BUSY / TIMEOUT with 503 + Retry-After, a BUSY held `limits.BUSY_HOLD_SECONDS` by the server),
never a 500 and never a client time-out. The cost and the duration of that request alone, and
the counts and latencies under load, go to the "overload" section of the figures
(docs/reliability.md).

The p95 bound is judged only on a machine fit to judge it: the same client at the same pace,
without abuse, measured just before and just after the abuse (together), must have a p95 of at
most half the bound (`FIT_QUIET_P95_MS`). Then a p95 over the bound under abuse is the server's doing
and fails the test; on a machine too loaded for that (other work sharing the cores) the test
reports an expected failure naming both figures, never a pass. The quiet figure does not move
with what the server does under abuse, so the check cannot be passed by a slow server: before
issue 16's changes it measured 78 ms under abuse with 20 ms quiet, which fails here.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from graphql import parse

from graphql_api.cost import operation_cost
from helpers.databases import history_database

CLIENT = Path(__file__).resolve().parents[1] / "helpers" / "overload_client.py"
SECONDS = int(os.environ.get("TRADEWATCH_OVERLOAD_SECONDS", "30"))
ABUSERS = 4
P95_LIMIT_MS = 50.0
FIT_QUIET_P95_MS = P95_LIMIT_MS / 2  # the machine's own p95 without abuse up to which the bound is judged
QUIET_SECONDS = 4.0  # before and after the abuse each: ~150 requests together
CLIENT_TIMEOUT = 30.0  # longer than the server's 10 s request budget: a time-out here is a failure

HEAVY = """query Heavy($from31: DateTime!, $from10: DateTime!, $to: DateTime!, $cost: Float!) {
  month: evaluateStrategy(from: $from31, to: $to, rerollCostAmount: $cost) {
    summary { hours hoursEvaluated meanProfitPerUnitOptimal } }
  tenDays: evaluateStrategy(from: $from10, to: $to, rerollCostAmount: $cost, topK: 3) {
    summary { hours hoursEvaluated meanProfitPerUnitTopK } }
  profitability(from: $from31, to: $to, first: 500) { nodes { hour expectedProfitPerUnit } }
}"""
LATEST = "{ latestPrices { item { id } hour robustMinPrice change24h } }"


@pytest.fixture(scope="module")
def week(pg_server_url):
    from tradewatch.hours import floor_hour, utc_now
    from tradewatch.watchlist import load_watchlist

    with history_database(pg_server_url, load_watchlist(), "tw_overload", days=7, seed=11,
                          end=floor_hour(utc_now())) as made:
        yield made


@pytest.fixture(scope="module")
def server(week, tmp_path_factory, tradewatch_serve) -> str:
    with tradewatch_serve(tmp_path_factory.mktemp("overload_server"),
                          {"TRADEWATCH_DATABASE_URL": week.url, "TRADEWATCH_GRAPHIQL": "0"}) as served:
        yield served.base


def _variables(week, cost: float) -> dict:
    to = week.end
    return {"from31": (to - timedelta(days=31)).isoformat(), "from10": (to - timedelta(days=10)).isoformat(),
            "to": to.isoformat(), "cost": cost}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _latest_prices_for(client: httpx.Client, seconds: float) -> list[float]:
    """latestPrices every 50 ms for `seconds`: each answer's latency in ms (each must be a 200 without errors)."""
    latencies: list[float] = []
    pace = threading.Event()  # never set: a 50 ms pause between requests, not a wait for anything
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        started = time.perf_counter()
        response = client.post("/graphql", json={"query": LATEST})
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and "errors" not in response.json(), response.text[:300]
        pace.wait(0.05)
    return latencies


@pytest.mark.timing  # latencies under contention: judged in the serial pass, alone on the machine
def test_latest_prices_stay_fast_while_four_clients_send_the_most_expensive_accepted_query(week, server, figures):
    cost = operation_cost(parse(HEAVY), None, _variables(week, 30.0), 21)
    assert 950 <= cost <= 1000, cost  # the most expensive kind of request the default budget admits
    with httpx.Client(base_url=server, timeout=CLIENT_TIMEOUT) as client:
        # the request alone, cold (a reroll cost no one asked for) and then answered from the cache
        started = time.perf_counter()
        alone = client.post("/graphql", json={"query": HEAVY, "variables": _variables(week, 31.5)})
        alone_ms = (time.perf_counter() - started) * 1000
        assert alone.status_code == 200 and "errors" not in alone.json(), alone.text[:500]
        assert alone.json()["data"]["month"]["summary"]["hoursEvaluated"] > 150
        started = time.perf_counter()
        assert client.post("/graphql", json={"query": HEAVY, "variables": _variables(week, 31.5)}).status_code == 200
        cached_ms = (time.perf_counter() - started) * 1000
        over = client.post("/graphql", json={"query": HEAVY.replace("first: 500", "first: 500) { nodes { hour } } "
                                             "again: profitability(first: 500"), "variables": _variables(week, 1.0)})
        assert over.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"  # one field more is too much
        for _ in range(20):  # warm: the latestPrices path, connections
            client.post("/graphql", json={"query": LATEST})
        quiet = _latest_prices_for(client, QUIET_SECONDS)  # the same client and pace without abuse: what load adds

    # the four abusers run in a process of their own: as threads here they would share this
    # interpreter's GIL with the measuring client, and its latencies would be theirs too
    abusers = subprocess.Popen([sys.executable, str(CLIENT), server, str(ABUSERS), str(CLIENT_TIMEOUT)], text=True,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        abusers.stdin.write(json.dumps({"query": HEAVY, "variables": _variables(week, 0.0)}) + "\n")
        abusers.stdin.flush()
        assert abusers.stdout.readline().strip() == "started", "the abusive clients did not start"
        with httpx.Client(base_url=server, timeout=CLIENT_TIMEOUT) as client:
            latencies = _latest_prices_for(client, SECONDS)
        abusers.stdin.close()  # stop
        report = json.loads(abusers.stdout.readline())
        abusers.wait(CLIENT_TIMEOUT + 5)
    finally:
        if abusers.poll() is None:
            abusers.kill()
            abusers.wait(10)
    with httpx.Client(base_url=server, timeout=CLIENT_TIMEOUT) as client:
        quiet_after = _latest_prices_for(client, QUIET_SECONDS)  # the machine's share at the end of the abuse
    outcomes, heavy_ms, failures = Counter(report["outcomes"]), report["answered_ms"], report["failures"]

    p50, p95, p99 = (_percentile(latencies, q) for q in (0.5, 0.95, 0.99))
    served = sum(outcomes.values())
    figures.record("overload", "most expensive accepted request", f"cost {cost} of 1000",
                   note="evaluateStrategy 31 d + evaluateStrategy 10 d (aliased) + profitability first 500; one "
                        "field more is refused with QUERY_TOO_EXPENSIVE before it runs")
    figures.record("overload", "that request alone, cold", round(alone_ms), "ms",
                   note="a week of history for 21 items; 744 + 240 hours asked, 168 with snapshots")
    figures.record("overload", "that request alone, cached", round(cached_ms, 1), "ms", note="closed hours from the results cache")
    figures.record("overload", "duration", SECONDS, "s",
                   note=f"{ABUSERS} clients sending it in a loop (a fresh reroll cost each time: no cache hits), "
                        "a fifth asking latestPrices every 50 ms")
    figures.record("overload", "latestPrices p50 / p95 / p99 under abuse",
                   f"{p50:.1f} / {p95:.1f} / {p99:.1f} ms", note=f"{len(latencies)} requests; bound p95 <= {P95_LIMIT_MS:g} ms")
    quiet_p95 = _percentile(quiet + quiet_after, 0.95)
    fit = quiet_p95 <= FIT_QUIET_P95_MS
    figures.record("overload", "latestPrices p50 / p95 without abuse, same run",
                   f"{_percentile(quiet, 0.5):.1f} / {_percentile(quiet, 0.95):.1f} ms before, "
                   f"{_percentile(quiet_after, 0.5):.1f} / {_percentile(quiet_after, 0.95):.1f} ms after",
                   note=f"{len(quiet)} + {len(quiet_after)} requests, same client and pace: the machine's own share; "
                        f"the bound is judged when their p95 ({quiet_p95:.1f} ms) <= {FIT_QUIET_P95_MS:g} ms "
                        f"({'met' if p95 <= P95_LIMIT_MS else 'over, judged: fails' if fit else 'over, not judged: machine too loaded'}; load average "
                        f"{os.getloadavg()[0]:.1f})")
    figures.record("overload", "abusive requests", served, note=", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    if heavy_ms:
        figures.record("overload", "abusive requests answered: median duration", round(statistics.median(heavy_ms)), "ms")
    figures.record("overload", "status 500 / client time-outs", f"{len(failures)}", note="bound 0")
    assert not failures, failures[:5]
    assert outcomes["answered"] > 0  # the pool did work, not only refuse
    if p95 > P95_LIMIT_MS and not fit:
        # The machine's own p95 without abuse is over half the bound: other work shares the cores,
        # and what the abuse adds cannot be told from that. Visible as an expected failure, never a
        # pass; the asserts above (no 500, no time-out, work done) stay hard.
        pytest.xfail(f"latestPrices p95 {p95:.0f} ms > {P95_LIMIT_MS:g} ms under abuse, on a machine whose own "
                     f"p95 without abuse is {quiet_p95:.0f} ms (> {FIT_QUIET_P95_MS:g} ms: too loaded to judge)")
    assert p95 <= P95_LIMIT_MS, (f"latestPrices p95 {p95:.1f} ms under abuse > {P95_LIMIT_MS:g} ms (p50 {p50:.1f} ms), "
                                 f"on a machine whose own p95 without abuse is {quiet_p95:.1f} ms")
