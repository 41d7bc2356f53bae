"""Bounded requests on every route: a body larger than the cap is refused with a 413 before any
of it is parsed, and a body that does not arrive in time with a 408.

The cap is checked twice: on the declared `Content-Length` (refused before one byte is read)
and on the bytes actually read (a chunked body, or a client that sends more than it declared,
is cut off as soon as it crosses the cap). Only then does the app see the body, in one piece.
A client that goes away mid-body is not an error: nothing is answered and nothing is logged.
Both refusals are coded JSON errors, as every other refusal of the API:
`extensions.code` REQUEST_TOO_LARGE or REQUEST_TIMEOUT.
"""

from __future__ import annotations

import asyncio

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def error_response(status: int, code: str, message: str) -> Response:
    """A coded JSON error that also ends the connection (the rest of the body is not wanted)."""
    body = {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json",
                    headers={"Connection": "close"})


def too_large(size: str, cap: int) -> Response:
    return error_response(413, "REQUEST_TOO_LARGE",
                          f"the request body is {size}; at most {cap} bytes are accepted "
                          "(TRADEWATCH_API_MAX_BODY_BYTES); ask for less per request")


class RequestSizeMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await too_large(f"{int(declared)} bytes (Content-Length)", self.max_body_bytes)(scope, receive, send)
            return
        body = bytearray()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_timeout
        while True:
            try:
                # a timeout scope, not wait_for: no task made per message (the body is usually one message)
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await error_response(408, "REQUEST_TIMEOUT",
                                     f"the request body did not arrive within {self.body_timeout:g} s; "
                                     "send it at once")(scope, receive, send)
                return
            if message["type"] == "http.disconnect":
                return  # the client went away: there is no one to answer
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await too_large(f"more than {self.max_body_bytes} bytes", self.max_body_bytes)(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # afterwards the app may still wait for the disconnect

        await self.app(scope, replay, send)
