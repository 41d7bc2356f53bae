"""How the GraphQL API process is served: the uvicorn options every launcher uses (`tradewatch
serve`, which the compose file runs, and the API process of `tradewatch demo`/`run`), and an
HTTP protocol that closes connections whose request head does not arrive in time.

uvicorn closes idle keep-alive connections (`timeout_keep_alive`) but has no time limit on a
request head: 300 sockets that each send half a request line would stay open for good, and
count against `limit_concurrency` all the while. `HeadTimeoutProtocol` gives every connection
HEAD_TIMEOUT seconds, from the moment it opens or a new request begins, to finish the request
line and headers; the body's own deadline is the app's (graphql_api/request_size.py). A
reverse proxy in front should have its own, shorter, header and body timeouts (README).
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

APP = "graphql_api.app:app"
PROTOCOL = "tradewatch.cli.api_server:HeadTimeoutProtocol"
# connections + running requests per process; past it uvicorn answers 503 at once instead of
# queueing without bound (the database pool behind it has 8 connections)
LIMIT_CONCURRENCY = 200
TIMEOUT_KEEP_ALIVE = 5          # seconds an idle keep-alive connection is kept
HEAD_TIMEOUT = 10.0             # seconds for the request line and headers
TIMEOUT_GRACEFUL_SHUTDOWN = 10  # seconds running requests get on SIGTERM
# No line per request: formatting and writing it is work on the event loop for every answer;
# a reverse proxy in front keeps the access log.
ACCESS_LOG = False


class HeadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing a connection that is slower than `head_timeout`
    to send a request head."""

    head_timeout: float = HEAD_TIMEOUT
    _head_timer: asyncio.TimerHandle | None = None

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_head_timer()

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)


def uvicorn_options() -> dict:
    """Keyword arguments for uvicorn.run / uvicorn.Config."""
    return {"http": PROTOCOL, "limit_concurrency": LIMIT_CONCURRENCY, "timeout_keep_alive": TIMEOUT_KEEP_ALIVE,
            "timeout_graceful_shutdown": TIMEOUT_GRACEFUL_SHUTDOWN, "access_log": ACCESS_LOG}


def uvicorn_arguments() -> list[str]:
    """The same options as `python -m uvicorn` arguments."""
    return ["--http", PROTOCOL, "--limit-concurrency", str(LIMIT_CONCURRENCY),
            "--timeout-keep-alive", str(TIMEOUT_KEEP_ALIVE),
            "--timeout-graceful-shutdown", str(TIMEOUT_GRACEFUL_SHUTDOWN),
            *([] if ACCESS_LOG else ["--no-access-log"])]
