"""Admission of GraphQL requests: how many run at once and for how long.

An ASGI middleware around `/graphql`:

* at most `limits.MAX_CONCURRENT_REQUESTS` requests are handled at once; one more cannot
  start and is answered at once with HTTP 503, `Retry-After` and a coded `BUSY` error;
* a request whose every root field was refused because the worker pool is full (all its
  errors `BUSY`, no data) is answered with HTTP 503 and `Retry-After` too (the view marks it);
* a request the view has seen before (the same query text and operation, validated) that needs
  more worker jobs than the pool has free is refused here, with the view's own HTTP 503 `BUSY`
  answer, before Strawberry parses its body, validates or executes anything: clients that
  ignore `Retry-After` send hundreds of these a second, and each cost the event loop a whole
  GraphQL request; now it is a dictionary lookup and the cost walk of a cached document;
* a BUSY refusal is sent at once; but a client (by address) that asks again before the
  `Retry-After` of its last BUSY refusal has passed gets its next refusal for want of worker
  slots (either of the two above) after `limits.BUSY_HOLD_SECONDS` (at most
  `limits.MAX_HELD_REFUSALS` held at a time, the rest at once): such a client is slowed to a
  few requests a second instead of hundreds (measured under four of them, their refusals took
  a quarter of the event loop and a core of the machine), one that obeys is never held;
* every request has a wall-clock budget (`limits.REQUEST_BUDGET_SECONDS`): its deadline is
  handed to the resolvers (`ApiContext.deadline`, and on to worker jobs), and a request still
  running at the deadline is cancelled and answered with HTTP 503 and a coded `TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

import anyio
import orjson
from graphql import OperationDefinitionNode

from graphql_api import limits
from graphql_api.contract import SCHEMA_VERSION
from graphql_api.cost import busy, operation_profile

BUSY_FLAG = "tw_busy"
_REMEMBERED_CLIENTS = 4096  # addresses whose last BUSY refusal is remembered (bounded memory)
DEADLINE = "tw_deadline"


def _error_body(code: str, message: str) -> bytes:
    # the same answer the view gives (graphql_api/view.py), schema version included
    return orjson.dumps({"data": None, "errors": [{"message": message, "extensions": {"code": code}}],
                         "extensions": {"schemaVersion": SCHEMA_VERSION}})


class KnownDocuments:
    """Validated documents by (query text, operation name), the newest `size`: filled by the cost
    check (`cost.cost_limiter`), read by `Admission` to refuse a BUSY request before parsing it."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._documents: OrderedDict[tuple[str, str | None], Any] = OrderedDict()

    def remember(self, query: str, operation_name: str | None, document: Any) -> None:
        keys = [(query, operation_name)]
        if sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) == 1:
            keys.append((query, None))  # the only operation runs when the request names none too
        for key in keys:
            self._documents[key] = document
            self._documents.move_to_end(key)
        while len(self._documents) > self.size:
            self._documents.popitem(last=False)

    def __len__(self) -> int:
        return len(self._documents)

    def get(self, query: Any, operation_name: Any) -> Any:
        try:
            return self._documents.get((query, operation_name))
        except TypeError:  # a query or operation name that is not a string (a list, an object)
            return None


def _early_busy(state: Any, body: bytes) -> str | None:
    """The BUSY message when the request in `body` would be refused for want of worker jobs,
    decided exactly as the cost check decides it (within the budget, more jobs than free); None
    when that is not known without the whole GraphQL path (a new query text, a batch, not JSON)."""
    documents, workers = getattr(state, "documents", None), getattr(state, "workers", None)
    # no known document needs jobs (the usual case): nothing to refuse early, no body to parse
    if not documents or workers is None or not body.lstrip()[:1] == b"{":
        return None
    try:
        request = orjson.loads(body)
        document = documents.get(request.get("query"), request.get("operationName"))
        if document is None:
            return None
        variables = request.get("variables")
        watchlist = getattr(state, "watchlist", None)
        spent, jobs = operation_profile(document, request.get("operationName"),
                                        variables if isinstance(variables, dict) else None,
                                        len(watchlist.items) if watchlist is not None else 0)
    except Exception:  # anything unusual is left to the full path, which says what is wrong
        return None
    if jobs and spent <= getattr(state, "max_cost", 0) and workers.free() < jobs:
        return busy(workers.slots).message
    return None


class Admission:
    def __init__(self, app, *, max_concurrent: int = limits.MAX_CONCURRENT_REQUESTS,
                 budget_seconds: float = limits.REQUEST_BUDGET_SECONDS,
                 retry_after: int = limits.RETRY_AFTER_SECONDS, busy_hold: float | None = None,
                 max_held: int = limits.MAX_HELD_REFUSALS) -> None:
        self.app = app
        self.max_concurrent = max_concurrent
        self.budget_seconds = budget_seconds
        self.retry_after = retry_after
        # read when built, not when imported: bench/refusals.py measures the refusals without it
        self.busy_hold = limits.BUSY_HOLD_SECONDS if busy_hold is None else busy_hold
        self.max_held = max_held
        self.active = 0
        self.held = 0
        self._refused: OrderedDict[str, float] = OrderedDict()  # client address → its last BUSY refusal

    def _came_back_early(self, scope) -> bool:
        """Whether this client was refused BUSY less than `retry_after` s ago (and note this refusal)."""
        client = scope.get("client")
        address = str(client[0]) if client else "?"
        now = time.monotonic()
        last = self._refused.pop(address, None)
        self._refused[address] = now
        while len(self._refused) > _REMEMBERED_CLIENTS:
            self._refused.popitem(last=False)
        return last is not None and now - last < self.retry_after

    async def _hold(self, scope) -> None:
        """The pause before a BUSY refusal for want of workers, for a client that did not wait as asked
        (none when too many are held already)."""
        if not self._came_back_early(scope) or self.busy_hold <= 0 or self.held >= self.max_held:
            return
        self.held += 1
        try:
            await anyio.sleep(self.busy_hold)
        finally:
            self.held -= 1

    async def _refuse(self, send, code: str, message: str) -> None:
        body = _error_body(code, message)
        await send({"type": "http.response.start", "status": 503, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(self.retry_after).encode()), (b"cache-control", b"no-store")]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/graphql"):
            await self.app(scope, receive, send)
            return
        if self.active >= self.max_concurrent:
            await self._refuse(send, "BUSY", f"the server is handling {self.active} requests, its limit; "
                                             f"retry in {self.retry_after} s")
            return
        if scope.get("method") == "POST" and "app" in scope:
            body, receive = await _buffered(receive)
            message = _early_busy(scope["app"].state, body)
            if message is not None:
                await self._hold(scope)
                await self._refuse(send, "BUSY", message)
                return
        state = scope.setdefault("state", {})
        state[DEADLINE] = time.monotonic() + self.budget_seconds
        started = False

        async def send_marked(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if state.get(BUSY_FLAG):
                    await self._hold(scope)
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"retry-after"]
                    message = {**message, "status": 503,
                               "headers": headers + [(b"retry-after", str(self.retry_after).encode())]}
            await send(message)

        self.active += 1
        try:
            # asyncio's own timeout scope: cheaper on the event loop than anyio's cancel scope, every request
            budget = asyncio.timeout(self.budget_seconds)
            try:
                async with budget:
                    await self.app(scope, receive, send_marked)
            except TimeoutError:
                if not budget.expired():  # raised by the app, not the budget: not ours to answer
                    raise
                if not started:
                    await self._refuse(send, "TIMEOUT", f"the request ran longer than its budget of "
                                                        f"{self.budget_seconds:g} s; ask for less at a time")
        finally:
            self.active -= 1


async def _buffered(receive) -> tuple[bytes, Any]:
    """The whole body (the size middleware outside has read it already: one message), and a
    `receive` that hands it to the app again."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return b"", _replaying([message], receive)  # a disconnect: let the app see it
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    return body, _replaying([{"type": "http.request", "body": body, "more_body": False}], receive)


def _replaying(messages: list, receive):
    async def replay():
        return messages.pop(0) if messages else await receive()
    return replay
