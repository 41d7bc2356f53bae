"""Faults at the source: a full hour of the default watchlist against a misbehaving trade API.

The simulator (real HTTP, in this process) injects 20 % faults, 4 % of each kind: 5xx
(JSON 500/503 and Cloudflare's HTML 502/504), 429 with `Retry-After` but no rate-limit
headers, Cloudflare's 403 HTML challenge, JSON cut in half, and responses held back
longer than the client's timeout. `raw_trade_responses` is materialized through Dagster,
as the hourly schedule does, on a real PostgreSQL. Afterwards:

* every watched item has exactly one stored row for the hour, and every stored body is
  exactly what the market answered (so no cut-off or HTML body slipped through);
* the simulator's request log, replayed against the rules it announced, shows no window
  of the policy was ever exceeded and no restriction was ever started;
* the client's accounting (requests, retries, 429s, attempts per row) matches what the
  simulator says it injected, request for request.

Figures go to the `source_faults` section of the reliability report.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from datetime import timedelta

import psycopg
import pytest
from dagster import materialize

from tradewatch.warehouse.db import psycopg2_url
from tradewatch.hours import floor_hour, partition_key, utc_now
from tradewatch.rate_limit import Rule, parse_rules
from tradewatch.watchlist import load_watchlist
from tradewatch_assets.resources import TradeApiResource, WarehouseResource, WatchlistResource
from tradewatch_assets.trade_api.assets import raw_trade_responses
from helpers.raw_rows import select_raw

SECTION = "source_faults"
# The real policy shape scaled down: 5:15:60,10:90:300,30:300:1800 becomes 5:0.3:1.2,10:1.8:6,30:6:36.
TIME_SCALE = 0.02
FAULT_RATE = 0.04  # per kind; five kinds make the 20 % of the issue
SLOW_SECONDS = 4.0  # the simulator's delay is in real seconds (not scaled) ...
CLIENT_TIMEOUT = 1.5  # ... and the client gives up well before it, so a slow answer is a timeout
FAULT_RATES = dict(error_5xx_rate=FAULT_RATE, cloudflare_403_rate=FAULT_RATE, truncated_json_rate=FAULT_RATE,
                   spurious_429_rate=FAULT_RATE, slow_rate=FAULT_RATE, slow_seconds=SLOW_SECONDS)
FAULT_KINDS = ("5xx", "spurious_429", "cloudflare_403", "truncated_json", "slow")
EXCHANGE = "/exchange/"


def fault_of(draw) -> str | None:
    """The fault the client meets for one simulator draw.

    A held-back answer is a timeout whatever it would have carried (the client never sees
    it), so a delay counts as "slow" even on top of another kind.
    """
    return "slow" if draw.delay > 0 else draw.kind


def seed_exercising_every_fault(items: int) -> int:
    """The first fault seed whose first `items` draws fire every kind at about the nominal rate.

    At 4 % per kind and ~26 requests, an arbitrary seed often never fires one kind at all
    (then the test would prove nothing about it). The fault sequence is seeded and drawn
    once per request that passes the rate limiter, and at least `items` requests always do,
    so a seed chosen here is certain to exercise all five kinds in the run. One slow answer
    must be a good answer held back: only that one proves the timeout fires (a slow error
    page would be retried with or without a timeout).
    """
    from trade_sim.config import SimConfig
    from trade_sim.faults import FaultInjector

    for seed in range(1, 5000):
        injector = FaultInjector(SimConfig(seed=seed, **FAULT_RATES))
        raw = [injector.draw() for _ in range(items + 4)]
        draws = [fault_of(d) for d in raw]
        faulty = sum(1 for d in draws if d)
        # every kind early on, and no more faults overall than the nominal 20 % (+ one)
        if (set(FAULT_KINDS) <= set(draws[:items]) and faulty <= round(0.2 * len(draws)) + 1
                and any(d.kind is None and d.delay > 0 for d in raw[:items])):
            return seed
    raise AssertionError("no seed fires every fault kind; widen the search")


class RecordingFaults:
    """Wraps the simulator's FaultInjector and keeps every draw: the simulator's own log of what it injected.

    The app draws once per exchange request that passed its rate limiter, so the list is
    in request-processing order and its length is the number of requests let through.
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self.draws: list = []

    @property
    def config(self):
        return self.inner.config

    @config.setter
    def config(self, value) -> None:  # the app re-points its helpers at the live config on every request
        self.inner.config = value

    def draw(self):
        result = self.inner.draw()
        self.draws.append(result)
        return result


@pytest.fixture
def instance(database_url):
    # Dagster's own storage in the same PostgreSQL, as in production
    from dagster._core.test_utils import instance_for_test

    with instance_for_test(overrides={"storage": {"postgres": {"postgres_url": psycopg2_url(database_url)}}}) as inst:
        yield inst


def max_window_usage(arrivals: list[float], rule: Rule) -> int:
    """The most requests that ever fell inside one window of `rule`, counted as the server counts.

    The simulator counts a hit at `t` against the window ending at `now` when
    `t > now - period`; the fullest window always ends at some request's arrival.
    """
    best = 0
    for i, now in enumerate(arrivals):
        first = bisect.bisect_right(arrivals, now - rule.period, 0, i + 1)
        best = max(best, i + 1 - first)
    return best


def test_a_full_hour_completes_under_20_percent_faults_without_breaking_the_policy(
        instance, database_url, start_sim, figures):
    watchlist = load_watchlist()
    items = list(watchlist.items)
    seed = seed_exercising_every_fault(len(items))
    hour = floor_hour(utc_now())
    # fixed_hour: the simulator serves this hour's market even if the clock turns the hour mid-test
    sim = start_sim(time_scale=TIME_SCALE, fixed_hour=hour, seed=seed, **FAULT_RATES)
    recorder = RecordingFaults(sim.app.state.faults)
    sim.app.state.faults = recorder

    warehouse = WarehouseResource(database_url=database_url)
    trade_api = TradeApiResource(base_url=sim.url, timeout_seconds=CLIENT_TIMEOUT,
                                 limiter_pad_seconds=0.02, backoff_seconds=0.02)
    assert trade_api.timeout_seconds < SLOW_SECONDS
    started = time.monotonic()
    result = materialize([raw_trade_responses], partition_key=partition_key(hour), instance=instance,
                         resources={"warehouse": warehouse, "watchlist": WatchlistResource(),
                                    "trade_api": trade_api}, raise_on_error=False)
    elapsed = time.monotonic() - started
    assert result.success
    (materialization,) = result.asset_materializations_for_node("raw_trade_responses")
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    requests_sent = metadata["requests_made"]

    # A held-back answer is logged when the simulator finally sends it, after the client gave up:
    # wait (bounded) until every request the client sent is in the simulator's log.
    deadline = time.monotonic() + SLOW_SECONDS + 5
    while sum(1 for *_, path in sim.app.state.request_log if EXCHANGE in path) < requests_sent:
        assert time.monotonic() < deadline, "the simulator never logged some of the client's requests"
        time.sleep(0.05)
    log = [(arrival, status) for arrival, status, path in sim.app.state.request_log if EXCHANGE in path]
    draws = recorder.draws
    injected = Counter(fault_of(d) for d in draws)
    injected.pop(None, None)

    # --- the client and the simulator agree on every request ---
    assert len(log) == requests_sent
    # every request the server saw passed its limiter and drew its fault: none met the real limit
    real_429 = len(log) - len(draws)
    assert real_429 == 0
    # (a held-back 429 is still logged as one, after the client gave up on it)
    assert sum(1 for _, status in log if status == 429) == sum(1 for d in draws if d.kind == "spurious_429")
    assert set(injected) == set(FAULT_KINDS), injected
    # A 5xx, a Cloudflare page, cut-off JSON and a timed-out answer are each one retry; a slow
    # answer is a timeout whatever it would have carried, so the timeout really fired.
    assert metadata["retries"] == sum(1 for d in draws
                                      if fault_of(d) in ("5xx", "cloudflare_403", "truncated_json", "slow"))
    assert metadata["rate_limited_429"] == injected["spurious_429"]
    # Retry-After was obeyed: requests are sequential, so in arrival order the n-th request drew the
    # n-th fault, and the one after an injected 429 came no sooner than that 429 asked
    arrivals = sorted(arrival for arrival, _ in log)
    obeyed = [(arrivals[i + 1] - arrivals[i], d.retry_after) for i, d in enumerate(draws[:-1])
              if fault_of(d) == "spurious_429"]
    assert obeyed and all(waited >= asked for waited, asked in obeyed), obeyed
    # exactly one clean answer per item: nothing was fetched twice, nothing lost
    # (and one for the divine book, divine paid in chaos, which the hour fetches besides the items)
    assert sum(1 for d in draws if fault_of(d) is None) == len(items) + 1
    assert metadata["items_fetched"] == len(items) and metadata["items_missing"] == 0

    # --- the stored partition ---
    from trade_sim import exchange_response

    with psycopg.connect(database_url) as conn:
        rows = select_raw(conn, "item_id, status_code, request_body, response_body, rate_limit_headers, attempt",
                          "WHERE observed_hour = %s ORDER BY item_id", (hour,))
        duplicates = conn.execute(
            "SELECT observed_hour, item_id, league, count(*) FROM warehouse.raw_trade_responses "
            "GROUP BY observed_hour, item_id, league HAVING count(*) > 1"
        ).fetchall()
        all_rows = conn.execute("SELECT count(*) FROM warehouse.raw_trade_responses").fetchone()[0]
    assert duplicates == []
    assert all_rows == len(items) + 1
    assert sorted(r[0] for r in rows) == sorted([*items, "divine"])
    announced: set[tuple[Rule, ...]] = set()
    for item, status, request, body, headers, attempt in rows:
        assert status == 200 and attempt >= 1
        paid = "chaos" if item == "divine" else "divine"
        assert request["query"]["want"] == [item] and request["query"]["have"] == [paid]
        # the shape of the real API's answer (see /work/shared/trade_api/examples) ...
        assert isinstance(body["id"], str) and isinstance(body["total"], int)
        assert isinstance(body["result"], dict)  # may be empty: nobody sells that item this hour
        for listing_id, entry in body["result"].items():
            assert entry["id"] == listing_id
            offers = entry["listing"]["offers"]
            # a listing carries one offer per currency it accepts; one of them is the one asked for
            assert paid in {o["exchange"]["currency"] for o in offers}
            for offer in offers:
                assert offer["exchange"]["amount"] > 0
                assert offer["item"]["currency"] == item and offer["item"]["amount"] > 0
        # ... and byte for byte the market's answer: not half of it, not an error page
        assert body == exchange_response(request, hour, league=watchlist.league, seed=seed)
        announced.add(tuple(parse_rules(headers)))
    # attempts of the stored rows account for every request sent (429s included)
    assert sum(r[5] for r in rows) == requests_sent
    assert max(r[5] for r in rows) > 1

    # --- the policy, replayed from the simulator's clock ---
    (rules,) = announced  # the policy did not change during the hour
    from trade_sim.rate_limit import parse_policy

    expected = [(r.max_hits, round(r.period * TIME_SCALE, 3), round(r.restriction * TIME_SCALE, 3))
                for r in parse_policy(sim.config.policy)]
    assert [(r.max_hits, r.period, r.restriction) for r in rules] == expected
    usage = {rule: max_window_usage(arrivals, rule) for rule in rules}
    for rule, used in usage.items():
        assert used <= rule.max_hits, f"{used} requests within {rule.period} s, the rule allows {rule.max_hits}"
    # the server still has nothing against us: no restriction is running
    state = sim.app.state.limiter.headers("127.0.0.1")["X-Rate-Limit-Ip-State"]
    assert all(triple.split(":")[2] == "0" for triple in state.split(","))

    # --- figures ---
    rec = lambda name, value, unit="", note="": figures.record(SECTION, name, value, unit, note)  # noqa: E731
    rec("watched items", len(items))
    rec("fault rate configured", round(5 * FAULT_RATE * 100), "%", "4 % for each of the five kinds")
    rec("fault seed", seed, note="first seed firing every kind in the first 21 requests")
    rec("requests sent", requests_sent, note="client count; equals the simulator's log")
    rec("faults injected", sum(injected.values()),
        note=f"{100 * sum(injected.values()) / len(draws):.0f} % of the requests")
    for kind in FAULT_KINDS:
        rec(f"faults injected: {kind}", injected[kind],
            note={"slow": f"held {SLOW_SECONDS:g} s against a {CLIENT_TIMEOUT:g} s client timeout "
                          "(whatever it carried)",
                  "spurious_429": "with Retry-After, without rate-limit headers",
                  "5xx": ", ".join(f"{s}×{n}" for s, n in sorted(Counter(
                      d.status_5xx for d in draws if fault_of(d) == "5xx").items())),
                  "cloudflare_403": "HTML challenge page",
                  "truncated_json": "body cut in half"}[kind])
    rec("retries", metadata["retries"], note="5xx, Cloudflare, cut-off JSON, timeouts")
    rec("429 answers obeyed", metadata["rate_limited_429"],
        note="all injected; the next request waited " + ", ".join(f"{w:.2f} s (asked {a} s)" for w, a in obeyed))
    rec("429s from the real limit", real_429)
    rec("responses stored", metadata["items_fetched"])
    rec("rows checked", len(rows), note="shape + equal to the market's answer; no duplicates")
    rec("max window usage vs limit",
        ", ".join(f"{usage[r]}/{r.max_hits} in {r.period:g} s" for r in rules),
        note=f"policy {sim.config.policy} × {TIME_SCALE}")
    rec("restrictions / bans", 0)
    rec("hour fetched in", round(elapsed, 1), "s", "Dagster run, scaled policy")
    # keep the wall time honest: the faults cost retries, not a stall
    assert elapsed < 120, timedelta(seconds=elapsed)
