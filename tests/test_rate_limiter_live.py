"""The limiter against the simulator over real HTTP, with the real policy shape scaled down."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tradewatch.market.strategy import DEAFENING_ESSENCES
from tradewatch.rate_limit import PostgresRateLimiter, minimum_duration, parse_rules
from tradewatch.bulk_exchange.client import TradeApiClient, exchange_body

# Windows of a fraction of a second: every test here judges time, in the serial pass of `make test`.
pytestmark = pytest.mark.timing

SCALE = 0.02  # 5:15:60,10:90:300,30:300:1800 becomes 5:0.3:1.2,10:1.8:6,30:6:36
ITEMS = [*DEAFENING_ESSENCES, "primal-lifeforce"]
ROOT = Path(__file__).resolve().parent.parent


def statuses(sim) -> list[int]:
    return [status for _, status, path in sim.app.state.request_log if "/exchange/" in path]


def scaled_rules(sim):
    answer = requests.get(sim.url + "/api/trade/data/static", timeout=5)
    assert answer.ok
    probe = requests.post(sim.url + "/api/trade/exchange/Standard", json={"engine": "new"}, timeout=5)
    sim.app.state.limiter.reset()
    sim.app.state.request_log.clear()
    return parse_rules(probe.headers)


def client_for(pool, sim, key="test") -> TradeApiClient:
    limiter = PostgresRateLimiter(pool, key=key, pad=0.02, poll=0.02)
    return TradeApiClient(sim.url, "poe1", "Standard", "TradeWatch tests", limiter, backoff=0.05)


def _unlimited_seconds(pool, start_sim) -> float:
    """What the same 21 requests cost on this machine now without any limit: HTTP, the limiter's
    bookkeeping in PostgreSQL, the simulator's books. The slack of the timing bounds below."""
    sim = start_sim(policy="100000:1:1", account_policy="100000:1:1")
    client = client_for(pool, sim, key="unlimited")
    started = time.monotonic()
    for item in ITEMS:
        assert client.exchange("divine", item).status_code == 200
    return time.monotonic() - started


def test_21_requests_finish_near_the_theoretical_floor_without_a_429(pool, start_sim):
    sim = start_sim(time_scale=SCALE)
    rules = scaled_rules(sim)
    assert len(rules) == 3
    client = client_for(pool, sim)
    started = time.monotonic()
    for item in ITEMS:
        assert client.exchange("divine", item).status_code == 200
    elapsed = time.monotonic() - started
    floor = minimum_duration(rules, len(ITEMS))
    assert statuses(sim) == [200] * len(ITEMS)
    # near the floor: the waits the policy forces (plus the limiter's 0.02 s pad per wait) and the
    # requests' own cost, measured right after; a limiter that waited one window more than needed
    # (1.8 s of the second rule) would be far above it
    work = _unlimited_seconds(pool, start_sim)
    assert floor <= elapsed <= 1.1 * floor + work + 0.2, (elapsed, floor, work)


def test_two_processes_sharing_the_limiter_never_exceed_the_policy(database_url, start_sim):
    sim = start_sim(time_scale=SCALE)
    rules = scaled_rules(sim)
    halves = [ITEMS[0::2], ITEMS[1::2]]
    workers = [
        subprocess.Popen([sys.executable, "-m", "tests.helpers.limiter_worker", database_url, sim.url, "shared",
                          ",".join(half)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for half in halves
    ]
    outputs = [w.communicate(timeout=120)[0].split() for w in workers]
    assert all(w.returncode == 0 for w in workers)
    started = min(float(o[0]) for o in outputs)
    finished = max(float(o[1]) for o in outputs)
    floor = minimum_duration(rules, len(ITEMS))
    assert statuses(sim) == [200] * len(ITEMS)
    # each process stamps its start after its imports: up to a second of skew between two interpreters
    # on a busy machine, on top of the waits and the requests (as in the test above)
    assert finished - started <= 1.25 * floor + 1.0, (finished - started, floor)


def test_a_429_with_retry_after_is_obeyed(pool, start_sim):
    sim = start_sim(time_scale=SCALE)
    body = exchange_body("divine", "deafening-essence-of-greed")
    # someone else on this IP breaks the limit; the server restricts the IP
    for _ in range(6):
        requests.post(sim.url + "/api/trade/exchange/Standard", json=body, timeout=5)
    assert statuses(sim)[-1] == 429
    sim.app.state.request_log.clear()
    client = client_for(pool, sim)
    asked = time.monotonic()
    answer = client.exchange("divine", "deafening-essence-of-greed")
    waited = time.monotonic() - asked
    assert answer.status_code == 200
    assert statuses(sim) == [429, 200]
    assert client.stats.rate_limited == 1
    assert waited >= 1.0  # the restriction is 60 s x 0.02 = 1.2 s, announced in Retry-After (whole seconds)


def test_counters_are_prefilled_when_the_server_counts_more_hits_than_we_made(pool, start_sim):
    sim = start_sim(time_scale=SCALE)
    body = exchange_body("divine", "deafening-essence-of-greed")
    for _ in range(4):  # hits we never made, from another program on this IP
        requests.post(sim.url + "/api/trade/exchange/Standard", json=body, timeout=5)
    sim.app.state.request_log.clear()
    client = client_for(pool, sim)
    for item in ITEMS[:6]:
        client.exchange("divine", item)
    assert statuses(sim) == [200] * 6


def test_old_hits_are_deleted_so_the_hit_log_stays_bounded_over_many_runs(pool, start_sim):
    from tradewatch.rate_limit import KEEP_HITS_SECONDS

    sim = start_sim(time_scale=SCALE)
    rules = scaled_rules(sim)
    sizes = []
    for run in range(30):
        # what thirty earlier hourly runs of 21 requests would have left behind
        with pool.connection() as conn:
            conn.execute(
                "INSERT INTO warehouse.rate_limit_hits (limiter_key, scope, at) "
                "SELECT 'bounded', '*', extract(epoch FROM clock_timestamp()) - %s - g FROM generate_series(1, 21) g",
                (KEEP_HITS_SECONDS + run * 3600,))
        client = client_for(pool, sim, key="bounded")
        client.exchange("divine", ITEMS[run % len(ITEMS)])
        with pool.connection() as conn:
            sizes.append(conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE at < extract(epoch FROM clock_timestamp()) - %s) "
                "FROM warehouse.rate_limit_hits WHERE limiter_key = 'bounded'", (KEEP_HITS_SECONDS,)).fetchone())
    assert rules  # the simulator announced its policy
    sent = len(statuses(sim))
    # only the hits of the last hour stay (the requests really sent), never the 21 stale ones per run
    assert all(stale == 0 for _, stale in sizes), sizes
    # every request counted (a retry counts again), 30 × 21 stale hits gone
    assert sent <= sizes[-1][0] <= sent + 2 and sizes[-1][0] < 30 + 21, (sizes[-1], sent)
