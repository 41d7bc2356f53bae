"""Helpers for the bad-input and security tests: a database with a little simulated history
(written through the real pipeline), and the API served by uvicorn on a real socket in a
thread, with everything it logs kept for inspection."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import uvicorn

from tradewatch.hours import floor_hour, utc_now

# What no answer may contain: stack traces, source paths, driver and SQL error text.
LEAK_NEEDLES = ("Traceback", 'File "', "psycopg", "SQLSTATE", "syntax error at or near", "sqlalchemy",
                "/site-packages/", "/work/", "graphql_api/", "tradewatch/", ".py\"", "line 1, in",
                "pg_catalog", "relation \"", "column \"", "DETAIL:", "HINT:", "asyncpg", "Exception in ASGI")
# codes an error may carry (graphql_api/errors.py and auth.py); INTERNAL_SERVER_ERROR is a bug here
ERROR_CODES = {"BAD_USER_INPUT", "NOT_FOUND", "TIMEOUT", "SERVICE_UNAVAILABLE", "QUERY_TOO_COMPLEX",
               "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "UNAUTHENTICATED"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def with_user(url: str, user: str, password: str | None = None) -> str:
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    auth = f"{user}:{password}" if password else user
    return urlunsplit((parts.scheme, f"{auth}@{host}", *parts[2:]))


@dataclass(frozen=True)
class HistoryDb:
    name: str
    url: str
    start: datetime
    end: datetime


def create_history_database(server_url: str, watchlist, days: int = 2, prefix: str = "tw_badin") -> HistoryDb:
    """A migrated database with `days` of simulated hours, snapshots and profitability."""
    from tradewatch.db import get_pool
    from tradewatch.history import simulate_history
    from tradewatch.migrate import upgrade
    from tradewatch.profitability import compute_profitability
    from tradewatch.snapshots import compute_snapshots

    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(server_url, name)
    upgrade(url)
    end = floor_hour(utc_now()) - timedelta(hours=1)
    start = end - timedelta(days=days)
    pool = get_pool(url)
    simulate_history(pool, watchlist, start, end, seed=11)
    compute_snapshots(pool, watchlist, start, end)
    compute_profitability(pool, watchlist, start, end)
    return HistoryDb(name, url, start, end)


def drop_database(server_url: str, name: str) -> None:
    from tradewatch.db import close_pools

    close_pools()
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def table_counts(url: str) -> dict[str, int]:
    """Every table and view of the warehouse's schemas (and public) with its row count."""
    with psycopg.connect(url, autocommit=True) as conn:
        names = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('warehouse', 'analytics', 'public') ORDER BY 1, 2").fetchall()
        return {f"{s}.{t}": conn.execute(f'SELECT count(*) FROM "{s}"."{t}"').fetchone()[0] for s, t in names}


@dataclass(frozen=True)
class Kept:
    name: str
    levelno: int
    text: str  # the message, and the formatted traceback when there was one

    def getMessage(self) -> str:  # noqa: N802 - reads like a LogRecord
        return self.text


class LogKeeper(logging.Handler):
    """Keeps every record logged anywhere in the process while installed (the server runs in a
    thread), formatted at once: holding the records would keep their tracebacks' frames alive."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[Kept] = []
        self._formatter = logging.Formatter()
        self._lock_records = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
        except Exception:  # a broken log call must not break the test's view of the log
            text = str(record.msg)
        if record.exc_info:
            text += "\n" + self._formatter.formatException(record.exc_info)
        with self._lock_records:
            self.records.append(Kept(record.name, record.levelno, text))

    def texts(self) -> list[str]:
        return [f"{r.name} {logging.getLevelName(r.levelno)} {r.text}" for r in list(self.records)]

    def errors(self, *loggers: str) -> list[Kept]:
        return [r for r in list(self.records) if r.levelno >= logging.ERROR
                and (not loggers or any(r.name == n or r.name.startswith(n + ".") for n in loggers))]


class ServedApi:
    """The app under uvicorn on 127.0.0.1:<free port> (a real TCP server) and an httpx client."""

    def __init__(self, app, startup_seconds: float = 20) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", timeout_keep_alive=30))
        self.thread = threading.Thread(target=self.server.run, name=f"api-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + startup_seconds
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.stop()
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.base = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.base, timeout=60)

    def stop(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout=5)


def serve_api(url: str, watchlist, pool_timeout: float = 5.0, **settings) -> ServedApi:
    from graphql_api.app import create_app
    from graphql_api.config import ApiSettings

    return ServedApi(create_app(url, settings=ApiSettings(**settings), watchlist=watchlist, pool_timeout=pool_timeout))
