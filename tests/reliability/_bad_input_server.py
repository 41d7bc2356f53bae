"""Helpers for the bad-input and security tests: what no answer may contain, the warehouse's
row counts, and the API served by uvicorn on a real socket in a thread, with everything it
logs kept for inspection. (The database with a little simulated history, written through the
real pipeline, is helpers.databases.history_database.)"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import psycopg

from helpers.servers import ServedApp

# What no answer may contain: stack traces, source paths, driver and SQL error text.
LEAK_NEEDLES = ("Traceback", 'File "', "psycopg", "SQLSTATE", "syntax error at or near", "sqlalchemy",
                "/site-packages/", "/work/", "graphql_api/", "tradewatch/", ".py\"", "line 1, in",
                "pg_catalog", "relation \"", "column \"", "DETAIL:", "HINT:", "asyncpg", "Exception in ASGI")
# codes an error may carry (graphql_api/errors.py and auth.py); INTERNAL_SERVER_ERROR is a bug here
ERROR_CODES = {"BAD_USER_INPUT", "NOT_FOUND", "TIMEOUT", "SERVICE_UNAVAILABLE", "QUERY_TOO_COMPLEX",
               "GRAPHQL_PARSE_FAILED", "GRAPHQL_VALIDATION_FAILED", "UNAUTHENTICATED", "REQUEST_TOO_LARGE",
               "REQUEST_TIMEOUT", "QUERY_TOO_EXPENSIVE", "BUSY"}


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


class ServedApi(ServedApp):
    """ServedApp with a 60 s client time-out and a 30 s keep-alive."""

    def __init__(self, app, startup_seconds: float = 20) -> None:
        super().__init__(app, startup_seconds=startup_seconds, client_timeout=60, timeout_keep_alive=30)


def serve_api(url: str, watchlist, pool_timeout: float = 5.0, **settings) -> ServedApi:
    from graphql_api.app import create_app
    from graphql_api.config import ApiSettings

    return ServedApi(create_app(url, settings=ApiSettings(**settings), watchlist=watchlist, pool_timeout=pool_timeout))
