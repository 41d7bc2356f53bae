"""A bounded load test of the GraphQL API: wrk drives a mixed dashboard workload for 60 s
(`TRADEWATCH_LOAD_SECONDS` shortens it for local iteration) against the API served the way
it is deployed (`tradewatch serve`, one uvicorn process, logged in as the read-only role)
over loopback, on a database with 30 days of simulated history for every watched item.
It is marked `long` (three minutes with its history): `make reliability` runs it, `make test`
runs the smoke below instead (the same workload for a few seconds on two days of history).

Passes when no request failed (no non-2xx, no socket error or time-out, no GraphQL error
in a 200), a minimum number of requests was served and the server's memory stayed flat
(RSS sampled every second; its growth over the second half stays under a bound). The
throughput, latency percentiles and memory go to the "load" section of the figures.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

import httpx
import psutil
import psycopg
import pytest

from helpers.databases import history_database, with_user

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "load_mix.lua"

DAYS = 30
SECONDS = int(os.environ.get("TRADEWATCH_LOAD_SECONDS", "60"))
SMOKE_DAYS, SMOKE_SECONDS = 2, 5
CONNECTIONS, THREADS = 8, 2
# wrk counts a request slower than this as a time-out (an error); p99 is far below it
TIMEOUT = "5s"
RSS_GROWTH_LIMIT_MB = 20.0
# a floor far below what one uvicorn process serves on 2 cores: catches a server that stalls
MIN_REQUESTS_PER_SECOND = 10


@dataclass(frozen=True)
class LoadHistory:
    owner_url: str
    api_url: str
    start: datetime
    end: datetime
    items: tuple[str, ...]


@contextmanager
def _load_history(pg_server_url: str, days: int) -> Iterator[LoadHistory]:
    """`days` x every watched item, through the real pipeline, as in tests/graphql/conftest.py."""
    from tradewatch.hours import floor_hour, utc_now
    from tradewatch.warehouse.roles import API_ROLE, apply_api_password
    from pydantic import SecretStr as Secret
    from tradewatch.watchlist import load_watchlist

    with history_database(pg_server_url, load_watchlist(), "tw_load", days=days, seed=7,
                          end=floor_hour(utc_now())) as (url, start, end):
        with psycopg.connect(url) as conn:
            items = tuple(row[0] for row in conn.execute(
                "SELECT DISTINCT item_id FROM warehouse.price_snapshots ORDER BY item_id"))
        # the same password as tests/graphql/conftest.py: the role is cluster-wide
        apply_api_password(url, Secret("api-test-pw"))
        yield LoadHistory(url, with_user(url, API_ROLE, "api-test-pw"), start, end, items)


@contextmanager
def _served(history: LoadHistory, workdir: Path, tradewatch_serve) -> Iterator:
    """`tradewatch serve` as compose runs it (GraphiQL off), without keys, on a free loopback port."""
    with tradewatch_serve(workdir, {
        "TRADEWATCH_API_DATABASE_URL": history.api_url,
        "TRADEWATCH_DATABASE_URL": history.owner_url,
        "TRADEWATCH_GRAPHIQL": "0",
    }) as served:
        yield served


@pytest.fixture(scope="module")
def load_history(pg_server_url) -> LoadHistory:
    with _load_history(pg_server_url, DAYS) as made:
        yield made


@pytest.fixture(scope="module")
def server(load_history, tmp_path_factory, tradewatch_serve):
    with _served(load_history, tmp_path_factory.mktemp("load_server"), tradewatch_serve) as served:
        yield served


# --- the workload -------------------------------------------------------------------------------

def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def dashboard_workload(history: LoadHistory) -> list[tuple[str, dict]]:
    """One cycle of what a market dashboard asks, weighted like its panels refresh: (kind, body)."""
    end = history.end
    week, month = _iso(end - timedelta(days=7)), _iso(end - timedelta(days=30))
    greed_like = history.items[:4]
    bodies: list[tuple[str, dict]] = []
    latest = ("query Latest { latestPrices { item { id name } hour minPrice robustMinPrice avgPrice "
              "listingCount totalStock change24h change7d lowConfidence } }")
    hourly = ("query Hourly($item: ID!, $from: DateTime!, $to: DateTime!) { priceSeries(item: $item, from: $from, "
              "to: $to, bucket: HOUR) { item { id } points time open high low close robustClose avgPrice stock } }")
    daily = ("query Daily($items: [ID!]!, $from: DateTime!, $to: DateTime!) { priceSeries(items: $items, "
             "from: $from, to: $to, bucket: DAY) { item { id name } points time open high low close avgPrice } }")
    profit = ("query Profit($from: DateTime!, $to: DateTime!) { profitability(from: $from, to: $to, first: 50) { "
              "nodes { strategy policy hour inputUnitCost expectedProfitPerUnit roi breakEvenRerollCost } "
              "pageInfo { hasNextPage endCursor } } }")
    items = "query Items { items { id name category watched } }"
    coverage = ("query Coverage($from: DateTime!, $to: DateTime!) { coverage(from: $from, to: $to) { hoursTotal "
                "hoursComplete hoursPartial hoursEmpty simulatedHours hours { hour stored missing complete } } }")
    for _ in range(3):
        bodies.append(("latestPrices", {"query": latest}))
    for item in greed_like:
        bodies.append(("priceSeries HOUR 7 d", {"query": hourly, "variables": {"item": item, "from": week,
                                                                              "to": _iso(end)}}))
    for offset in (0, 5):
        bodies.append(("priceSeries DAY 30 d x5 items", {"query": daily, "variables": {
            "items": list(history.items[offset:offset + 5]), "from": month, "to": _iso(end)}}))
    for _ in range(2):
        bodies.append(("profitability first page", {"query": profit, "variables": {"from": week, "to": _iso(end)}}))
    bodies.append(("items", {"query": items}))
    bodies.append(("coverage 7 d", {"query": coverage, "variables": {"from": week, "to": _iso(end)}}))
    return bodies


# --- wrk ------------------------------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_latency_distribution(output: str) -> dict[int, float]:
    """wrk --latency's "Latency Distribution" block as {percentile: milliseconds}."""
    lines = output.splitlines()
    start = next(n for n, line in enumerate(lines) if line.strip() == "Latency Distribution")
    distribution = {}
    for line in lines[start + 1:]:
        match = re.fullmatch(r"\s*(\d+)%\s+([\d.]+)(us|ms|s|m)\s*", line)
        if not match:
            break
        distribution[int(match.group(1))] = float(match.group(2)) * _UNIT_MS[match.group(3)]
    return distribution


def wrk_summary(output: str) -> dict:
    line = next(line for line in output.splitlines() if line.startswith("WRK_JSON "))
    return json.loads(line[len("WRK_JSON "):])


class RssSampler(threading.Thread):
    """The server's resident memory, once a second, in the background."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.samples: list[tuple[float, int]] = []
        self.stopped = threading.Event()
        self.started_at = time.monotonic()

    def rss(self) -> int:
        return self.process.memory_info().rss + sum(child.memory_info().rss
                                                    for child in self.process.children(recursive=True))

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append((time.monotonic() - self.started_at, self.rss()))
            self.stopped.wait(1.0)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=5)
        self.samples.append((time.monotonic() - self.started_at, self.rss()))


def _wrk() -> str:
    found = shutil.which("wrk") or ("/usr/bin/wrk" if Path("/usr/bin/wrk").exists() else None)
    if found is None:
        pytest.fail("wrk is not installed: run `make system-deps` (the Debian package wrk) and re-run the test")
    return found


@dataclass
class LoadRun:
    workload: list[tuple[str, dict]]
    alone: dict[str, list[float]]
    output: str
    summary: dict
    distribution: dict[int, float]
    samples: list[tuple[float, int]]
    rss_start: int

    @property
    def duration_s(self) -> float:
        return self.summary["duration_us"] / 1e6

    @property
    def socket_errors(self) -> int:
        s = self.summary
        return s["connect_errors"] + s["read_errors"] + s["write_errors"] + s["timeouts"]

    @property
    def errors(self) -> int:
        return self.summary["non_2xx"] + self.summary["graphql_errors"] + self.socket_errors


def run_load(server, history: LoadHistory, seconds: int, tmp_path: Path) -> LoadRun:
    """Every body of the workload answered once cleanly, then wrk for `seconds` with the server's RSS sampled."""
    wrk = _wrk()
    workload = dashboard_workload(history)
    # every body must answer cleanly before it is repeated thousands of times; this pass also
    # warms the connection pool and the plan caches
    alone: dict[str, list[float]] = {}
    with httpx.Client(base_url=server.base, timeout=30) as client:
        for kind, body in workload:
            answer = client.post("/graphql", json=body)
            assert answer.status_code == 200, f"{kind}: {answer.status_code} {answer.text[:300]}"
            assert "errors" not in answer.json(), f"{kind}: {answer.json()['errors']}"
        # each kind once more, alone on a warm server: which panel costs what under no load
        for kind, body in workload:
            started = time.perf_counter()
            client.post("/graphql", json=body).raise_for_status()
            alone.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
    bodies_file = tmp_path / "bodies.jsonl"
    bodies_file.write_text("".join(json.dumps(body, separators=(",", ":")) + "\n" for _, body in workload))

    sampler = RssSampler(server.proc.pid)
    rss_start = sampler.rss()
    sampler.start()
    try:
        done = subprocess.run(
            [wrk, "--latency", "-d", f"{seconds}s", "-c", str(CONNECTIONS), "-t", str(THREADS), "--timeout", TIMEOUT,
             "-s", str(LUA_SCRIPT), server.base + "/graphql", "--", str(bodies_file)],
            capture_output=True, text=True, timeout=seconds + 60)
    finally:
        sampler.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert server.proc.poll() is None, "the server died under load"
    output = done.stdout
    return LoadRun(workload, alone, output, wrk_summary(output), parse_latency_distribution(output), sampler.samples,
                   rss_start)


@pytest.fixture(scope="module")
def smoke_server(pg_server_url, tmp_path_factory, tradewatch_serve):
    with _load_history(pg_server_url, SMOKE_DAYS) as history:
        with _served(history, tmp_path_factory.mktemp("load_smoke_server"), tradewatch_serve) as served:
            yield served, history


@pytest.mark.timing  # a floor of requests per second: judged in the serial pass
def test_a_short_mixed_dashboard_workload_serves_without_errors(smoke_server, tmp_path):
    """The smoke `make test` runs: the full test's workload and error rules for a few seconds."""
    server, history = smoke_server
    run = run_load(server, history, SMOKE_SECONDS, tmp_path)
    assert run.errors == 0, run.output
    assert run.summary["requests"] >= MIN_REQUESTS_PER_SECOND * SMOKE_SECONDS, run.output


@pytest.mark.slow
@pytest.mark.long
def test_a_mixed_dashboard_workload_for_a_minute_serves_without_errors_at_flat_memory(
        server, load_history, figures, tmp_path):
    run = run_load(server, load_history, SECONDS, tmp_path)
    workload, alone, output, summary = run.workload, run.alone, run.output, run.summary
    distribution, samples, rss_start = run.distribution, run.samples, run.rss_start
    duration_s, socket_errors, errors = run.duration_s, run.socket_errors, run.errors
    rss_end = samples[-1][1]
    middle = min(samples, key=lambda sample: abs(sample[0] - duration_s / 2))
    second_half = [rss for t, rss in samples if t >= middle[0]]
    growth_second_half = max(second_half) - middle[1]
    mb = 1024 * 1024
    mix: dict[str, int] = {}
    for kind, _ in workload:
        mix[kind] = mix.get(kind, 0) + 1

    section = "load"
    figures.record(section, "duration", round(duration_s, 1), "s",
                   "wrk --latency; TRADEWATCH_LOAD_SECONDS shortens it" if SECONDS != 60 else "wrk --latency")
    figures.record(section, "connections", CONNECTIONS, "", f"{THREADS} wrk threads, keep-alive, loopback")
    figures.record(section, "server", "tradewatch serve (1 uvicorn process)", "",
                   f"read-only role tradewatch_api; {DAYS} days x {len(load_history.items)} items of simulated history")
    figures.record(section, "workload mix", ", ".join(f"{kind} x{count}" for kind, count in mix.items()), "",
                   f"{len(workload)} POST /graphql bodies per cycle, each connection cycles through them")
    figures.record(section, "latency of each kind alone", ", ".join(
        f"{kind} {min(times):.0f} ms" for kind, times in alone.items()), "", "one request at a time, warm, before the run")
    figures.record(section, "requests served", summary["requests"])
    figures.record(section, "throughput", round(summary["requests"] / duration_s, 1), "req/s")
    figures.record(section, "latency p50", round(distribution[50], 2), "ms")
    figures.record(section, "latency p99", round(distribution[99], 2), "ms")
    figures.record(section, "latency max", round(summary["max_us"] / 1000, 2), "ms")
    figures.record(section, "errors", errors, "",
                   f"non-2xx {summary['non_2xx']}, GraphQL errors {summary['graphql_errors']}, "
                   f"socket errors {socket_errors} (time-out {TIMEOUT})")
    figures.record(section, "RSS at start", round(rss_start / mb, 1), "MB", "after one warm-up pass")
    figures.record(section, "RSS at end", round(rss_end / mb, 1), "MB")
    figures.record(section, "RSS growth, whole run", round((rss_end - rss_start) / mb, 1), "MB")
    figures.record(section, "RSS growth, second half", round(growth_second_half / mb, 1), "MB",
                   f"peak of the second half minus the mid-run sample; bound {RSS_GROWTH_LIMIT_MB:.0f} MB")

    assert errors == 0, output
    assert summary["requests"] >= MIN_REQUESTS_PER_SECOND * SECONDS, output
    assert {50, 99} <= set(distribution), output
    assert len(samples) >= SECONDS // 2, "too few memory samples to judge"
    assert growth_second_half < RSS_GROWTH_LIMIT_MB * mb, \
        f"RSS grew {growth_second_half / mb:.1f} MB in the second half: {[round(r / mb, 1) for _, r in samples]}"
