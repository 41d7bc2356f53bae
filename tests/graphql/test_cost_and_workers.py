"""The API keeps answering under expensive queries: the cost budget (refused before anything
runs), the bounded worker pool (BUSY, HTTP 503 + Retry-After), the per-request wall-clock
budget, and the results cache of closed hours."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from graphql_api.admission import BUSY_FLAG, Admission
from graphql_api.config import ApiSettings, load_api_settings
from graphql_api.cost import operation_cost
from graphql_api.errors import ApiError
from graphql_api.result_cache import settled
from graphql_api.workers import WorkerPool
from graphql import parse
from helpers.servers import ServedApp
from helpers.slow_jobs import sleep_then_answer
from tradewatch.errors import ConfigError


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _evaluations(n: int, days: int, start: datetime) -> str:
    fields = " ".join(f'e{i}: evaluateStrategy(from: "{_iso(start)}", to: "{_iso(start + timedelta(days=days))}", '
                      f'rerollCostAmount: {10 + i}) {{ summary {{ hoursEvaluated }} }}' for i in range(n))
    return "{ " + fields + " }"


def _state(served):
    return served.server.config.app.state


def test_twenty_aliased_week_long_evaluations_are_refused_before_anything_runs(serve, history):
    served = serve()
    started = time.monotonic()
    body = served.gql(_evaluations(20, 7, history.start))
    assert time.monotonic() - started < 2
    (error,) = body["errors"]
    # each field: 1 + 168 hours; twenty aliases count twenty times
    assert error["extensions"] == {"code": "QUERY_TOO_EXPENSIVE", "cost": 20 * 169, "budget": 1000}
    assert "3380" in error["message"] and "1000" in error["message"]
    assert body["data"] is None
    results = _state(served).results
    assert (results.hits, results.misses, len(results)) == (0, 0, 0)  # no evaluation was even looked up


def test_the_cost_follows_fragments_variables_and_defaults(serve, history):
    served = serve()
    query = ("query($f: DateTime, $t: DateTime = \"%s\") { ...A ...A b: latestPrices { hour } } "
             "fragment A on Query { a: evaluateStrategy(from: $f, to: $t) { summary { hours } } }"
             % _iso(history.start + timedelta(days=6)))
    body = served.gql(query, {"f": _iso(history.start)})
    # 2 spreads x (1 + 144 hours) + latestPrices (1 + 21 items / 10) = 293.1 -> 294: within the budget
    assert operation_cost(parse(query), None, {"f": _iso(history.start)}, 21) == 294
    assert "errors" not in body
    body = served.gql("query($f: DateTime) { ...A ...A ...A ...A ...A ...A ...A ...A } "
                      "fragment A on Query { a: evaluateStrategy(from: $f) { summary { hours } } }",
                      {"f": _iso(history.start)})  # no `to`: up to the current hour, capped at 31 days
    assert body["errors"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"


def test_the_budget_is_configurable(serve, history):
    served = serve(ApiSettings(max_cost=50))
    refused = served.gql(_evaluations(1, 7, history.start))
    assert refused["errors"][0]["extensions"] == {"code": "QUERY_TOO_EXPENSIVE", "cost": 169, "budget": 50}
    accepted = served.data(_evaluations(1, 1, history.start + timedelta(days=1)))
    # run, not refused: the simulated market leaves an hour unpriceable at some times of day
    assert 20 < accepted["e0"]["summary"]["hoursEvaluated"] <= 24


@pytest.mark.parametrize("raw, problem", [("lots", "not a whole number"), ("0", "between 1"), ("-5", "between 1"),
                                          ("1e3", "not a whole number")])
def test_a_malformed_max_cost_is_refused_naming_the_variable(raw, problem):
    with pytest.raises(ConfigError, match=f"TRADEWATCH_API_MAX_COST.*{problem}"):
        load_api_settings({"TRADEWATCH_API_MAX_COST": raw}, env_file=None)
    assert load_api_settings({"TRADEWATCH_API_MAX_COST": " 250 "}, env_file=None).max_cost == 250
    assert load_api_settings({}, env_file=None).max_cost == 1000


def test_a_full_worker_pool_answers_busy_at_once_and_gives_the_slot_back_when_the_job_ends():
    async def scenario():
        pool = WorkerPool(workers=1, queue=0)
        pool.start()
        try:
            await pool.run(sleep_then_answer, 0.0, "warm", deadline=time.monotonic() + 60)  # the process is up
            slow = asyncio.ensure_future(pool.run(sleep_then_answer, 2.0, "slow", deadline=time.monotonic() + 30))
            for _ in range(500):  # until the slow job holds the only slot
                if pool.free() == 0:
                    break
                await asyncio.sleep(0.01)
            assert pool.free() == 0
            started = time.monotonic()
            with pytest.raises(ApiError) as busy:
                await pool.run(sleep_then_answer, 0.0, "x", deadline=time.monotonic() + 30)
            # at once: refused while the slow job still runs, not after waiting for its slot
            assert busy.value.code == "BUSY" and not slow.done() and time.monotonic() - started < 1.0
            assert await slow == "slow"
            assert pool.free() == 1
            # a job past its deadline: the caller gets TIMEOUT; the slot stays taken until the job ends
            with pytest.raises(ApiError) as late:
                await pool.run(sleep_then_answer, 1.0, "late", deadline=time.monotonic() + 0.3)
            assert late.value.code == "TIMEOUT"
            assert pool.free() == 0
            for _ in range(100):
                if pool.free() == 1:
                    break
                await asyncio.sleep(0.05)
            assert pool.free() == 1
        finally:
            pool.shutdown()

    asyncio.run(scenario())


def test_a_request_none_of_whose_fields_can_start_gets_503_with_retry_after(serve, history):
    served = serve()
    pool = _state(served).workers
    pool.in_use += pool.slots  # every slot taken (as by other clients' evaluations)
    try:
        alone = served.client.post("/graphql", json={"query": _evaluations(1, 1, history.start)})
        assert alone.status_code == 503 and alone.headers["retry-after"] == "1"
        assert alone.json()["errors"][0]["extensions"]["code"] == "BUSY"
        mixed = served.client.post("/graphql", json={"query": "{ latestPrices { hour } "
                                                              + _evaluations(1, 1, history.start)[1:]})
        # evaluateStrategy is non-null: its error nulls the whole answer, so nothing could be answered
        assert mixed.status_code == 503 and mixed.headers["retry-after"] == "1"
        assert mixed.json()["data"] is None
        assert [e["extensions"]["code"] for e in mixed.json()["errors"]] == ["BUSY"]
        assert served.client.post("/graphql", json={"query": "{ latestPrices { hour } }"}).status_code == 200
    finally:
        pool.in_use -= pool.slots
    assert served.data(_evaluations(1, 1, history.start))["e0"]["summary"]["hoursEvaluated"] > 20


def _slow_app(seconds: float) -> Starlette:
    async def slow(request):
        await asyncio.sleep(seconds)
        return JSONResponse({"data": {"ok": True}})
    return Starlette(routes=[Route("/graphql", slow, methods=["POST"])])


def test_a_request_over_its_wall_clock_budget_is_cancelled_with_a_coded_503():
    served = ServedApp(Admission(_slow_app(5.0), budget_seconds=0.3))
    try:
        started = time.monotonic()
        response = served.client.post("/graphql", json={})
        assert time.monotonic() - started < 2
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert response.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
    finally:
        served.stop()


def _busy_app() -> Starlette:
    async def busy(request):  # as the view answers when none of the fields could get a worker
        request.scope.setdefault("state", {})[BUSY_FLAG] = True
        return JSONResponse({"data": None, "errors": [{"message": "busy", "extensions": {"code": "BUSY"}}]})
    return Starlette(routes=[Route("/graphql", busy, methods=["POST"])])


def test_a_busy_refusal_is_sent_at_once_and_held_only_for_a_client_that_did_not_wait_as_asked():
    admission = Admission(_busy_app(), busy_hold=5.0, max_held=1)
    served = ServedApp(admission)
    held: list[httpx.Response] = []
    thread = threading.Thread(target=lambda: held.append(httpx.post(served.base + "/graphql", json={}, timeout=30)))
    try:
        started = time.monotonic()
        first = served.client.post("/graphql", json={})  # a client's first refusal: at once
        assert time.monotonic() - started < 2 and admission.held == 0
        assert first.status_code == 503 and first.headers["retry-after"] == "1"
        assert first.json()["errors"][0]["extensions"]["code"] == "BUSY"
        thread.start()  # the same address again within its Retry-After: held
        deadline = time.monotonic() + 5
        while admission.held < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert admission.held == 1 and not held  # the early comer's refusal is being held
        third = served.client.post("/graphql", json={})
        assert admission.held == 1 and not held  # past the cap of held ones: sent at once
        assert third.status_code == 503 and third.headers["retry-after"] == "1"
        assert third.json()["errors"][0]["extensions"]["code"] == "BUSY"
        thread.join(20)
        assert held[0].status_code == 503 and held[0].headers["retry-after"] == "1"
        assert held[0].json()["errors"][0]["extensions"]["code"] == "BUSY" and admission.held == 0
    finally:
        served.stop()
        thread.join(20)


def test_a_client_that_waits_its_retry_after_is_never_held():
    admission = Admission(_busy_app(), busy_hold=5.0, retry_after=1)
    served = ServedApp(admission)
    try:
        assert served.client.post("/graphql", json={}).status_code == 503
        admission._refused = {k: v - 1.5 for k, v in admission._refused.items()}  # its last refusal 1.5 s ago
        from collections import OrderedDict
        admission._refused = OrderedDict(admission._refused)
        started = time.monotonic()
        assert served.client.post("/graphql", json={}).status_code == 503
        assert time.monotonic() - started < 2 and admission.held == 0
    finally:
        served.stop()


def test_requests_past_the_concurrency_limit_cannot_start_and_get_503():
    admission = Admission(_slow_app(1.0), max_concurrent=1)
    served = ServedApp(admission)
    try:
        first: list[httpx.Response] = []
        thread = threading.Thread(target=lambda: first.append(httpx.post(served.base + "/graphql", json={})))
        thread.start()
        deadline = time.monotonic() + 5
        while admission.active < 1 and time.monotonic() < deadline:  # the first one is being handled
            time.sleep(0.01)
        started = time.monotonic()
        second = served.client.post("/graphql", json={})
        assert time.monotonic() - started < 0.5  # refused at once, not queued
        assert second.status_code == 503 and second.headers["retry-after"] == "1"
        assert second.json()["errors"][0]["extensions"]["code"] == "BUSY"
        thread.join(10)
        assert first[0].status_code == 200
    finally:
        served.stop()


def test_closed_hours_are_answered_from_the_cache_and_the_open_ones_never(serve, history):
    served = serve()
    results = _state(served).results
    query = ("query($f: DateTime, $t: DateTime) { evaluateStrategy(from: $f, to: $t, buyQuantity: 777) "
             "{ hours { hour unavailableReason topK { expectedProfitPerUnit stopSet } optimal "
             "{ expectedProfitPerUnit breakEvenRerollCost } } } }")
    span = {"f": _iso(history.end - timedelta(hours=30)), "t": _iso(history.end + timedelta(hours=2))}
    cold = served.data(query, span)["evaluateStrategy"]["hours"]
    assert len(cold) == 32 and results.hits == 0
    # kept: the 29 stored hours before the newest; not: the newest stored hour and the two after it
    # (the current hour among them), whose snapshots may still come or change
    assert len(results) == 29
    warm = served.data(query, span)["evaluateStrategy"]["hours"]
    assert warm == cold
    assert results.hits == 29 and results.misses == 32 + 3


def test_an_hour_is_settled_only_after_its_fetch_window_and_a_later_stored_hour():
    now = datetime(2026, 12, 1, 10, 30, tzinfo=timezone.utc)
    grace = timedelta(minutes=20)
    assert settled(datetime(2026, 12, 1, 8, tzinfo=timezone.utc), grace, datetime(2026, 12, 1, 9, tzinfo=timezone.utc), now)
    nine, ten = datetime(2026, 12, 1, 9, tzinfo=timezone.utc), datetime(2026, 12, 1, 10, tzinfo=timezone.utc)
    assert settled(nine, grace, ten, now)  # its window closed at 10:00 + 20 min
    assert not settled(nine, timedelta(minutes=40), ten, now)  # ... at 10:40 with a longer grace
    assert not settled(datetime(2026, 12, 1, 10, tzinfo=timezone.utc), grace, datetime(2026, 12, 1, 10, tzinfo=timezone.utc), now)  # current hour
    assert not settled(datetime(2026, 12, 1, 8, tzinfo=timezone.utc), grace, datetime(2026, 12, 1, 8, tzinfo=timezone.utc), now)  # newest stored
    assert not settled(datetime(2026, 12, 1, 8, tzinfo=timezone.utc), grace, None, now)


def test_a_known_query_that_cannot_get_its_workers_is_refused_before_the_graphql_view(serve, history, monkeypatch):
    from graphql_api.view import TradeWatchGraphQL

    served = serve()
    state = _state(served)
    query = ("query($f: DateTime!, $t: DateTime!, $c: Float!) { evaluateStrategy(from: $f, to: $t, "
             "rerollCostAmount: $c) { summary { hoursEvaluated } } }")
    week = {"f": _iso(history.start), "t": _iso(history.start + timedelta(days=7))}
    assert served.client.post("/graphql", json={"query": query, "variables": {**week, "c": 11.0}}).status_code == 200
    assert state.documents.get(query, None) is not None  # validated once: admission knows it now
    reached = []
    original = TradeWatchGraphQL.run

    async def counted(self, request, context=None, root_value=None):
        reached.append(request.url.path)
        return await original(self, request, context, root_value)

    monkeypatch.setattr(TradeWatchGraphQL, "run", counted)
    state.workers.in_use += state.workers.slots  # every slot taken
    try:
        early = served.client.post("/graphql", json={"query": query, "variables": {**week, "c": 12.0}})
        assert reached == []  # refused in admission: never parsed, validated or executed
        full = served.client.post("/graphql", json={"query": query + " ", "variables": {**week, "c": 12.0}})
        assert reached == ["/graphql"]  # a text it has not seen takes the whole path, to the same answer
        for response in (early, full):
            assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert early.json() == full.json() and early.json()["errors"][0]["extensions"]["code"] == "BUSY"
        # over the budget is still said as such, whatever the pool: the early check prices it first
        month = {"f": _iso(history.start - timedelta(days=31)), "t": _iso(history.start), "c": 13.0}
        state.max_cost, budget = 50, state.max_cost
        try:
            expensive = served.client.post("/graphql", json={"query": query, "variables": month})
        finally:
            state.max_cost = budget
        assert expensive.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"
    finally:
        state.workers.in_use -= state.workers.slots
    answered = served.client.post("/graphql", json={"query": query, "variables": {**week, "c": 14.0}})
    assert answered.status_code == 200 and answered.json()["data"]["evaluateStrategy"]["summary"]["hoursEvaluated"] > 20
