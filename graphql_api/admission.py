"""Admission of GraphQL requests: how many run at once and for how long.

An ASGI middleware around `/graphql`:

* at most `limits.MAX_CONCURRENT_REQUESTS` requests are handled at once; one more cannot
  start and is answered at once with HTTP 503, `Retry-After` and a coded `BUSY` error;
* a request whose every root field was refused because the worker pool is full (all its
  errors `BUSY`, no data) is answered with HTTP 503 and `Retry-After` too (the view marks it);
* every request has a wall-clock budget (`limits.REQUEST_BUDGET_SECONDS`): its deadline is
  handed to the resolvers (`ApiContext.deadline`, and on to worker jobs), and a request still
  running at the deadline is cancelled and answered with HTTP 503 and a coded `TIMEOUT`.
"""

from __future__ import annotations

import time

import anyio
import orjson

from graphql_api import limits

BUSY_FLAG = "tw_busy"
DEADLINE = "tw_deadline"


def _error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"data": None, "errors": [{"message": message, "extensions": {"code": code}}]})


class Admission:
    def __init__(self, app, *, max_concurrent: int = limits.MAX_CONCURRENT_REQUESTS,
                 budget_seconds: float = limits.REQUEST_BUDGET_SECONDS,
                 retry_after: int = limits.RETRY_AFTER_SECONDS) -> None:
        self.app = app
        self.max_concurrent = max_concurrent
        self.budget_seconds = budget_seconds
        self.retry_after = retry_after
        self.active = 0

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
        state = scope.setdefault("state", {})
        state[DEADLINE] = time.monotonic() + self.budget_seconds
        started = False

        async def send_marked(message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if state.get(BUSY_FLAG):
                    headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"retry-after"]
                    message = {**message, "status": 503,
                               "headers": headers + [(b"retry-after", str(self.retry_after).encode())]}
            await send(message)

        self.active += 1
        try:
            with anyio.move_on_after(self.budget_seconds) as deadline:
                await self.app(scope, receive, send_marked)
            if deadline.cancelled_caught and not started:
                await self._refuse(send, "TIMEOUT", f"the request ran longer than its budget of "
                                                    f"{self.budget_seconds:g} s; ask for less at a time")
        finally:
            self.active -= 1
