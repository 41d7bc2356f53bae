"""Shared fixtures for the GraphQL API tests: one database with ten days of simulated
history for the whole session (filled once through the real pipeline: simulate_history ->
compute_snapshots -> compute_profitability), and the app served by uvicorn on a real socket.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import uvicorn

from graphql_api.config import ApiSettings
from tradewatch.hours import floor_hour, utc_now
from tradewatch.migrate import upgrade
from tradewatch.watchlist import load_watchlist

DAYS = 10
# gaps the coverage test expects: one item missing in one hour, one hour missing entirely
GAP_ITEM = "deafening-essence-of-woe"


@dataclass(frozen=True)
class History:
    url: str
    start: datetime
    end: datetime
    gap_item_hour: datetime
    empty_hour: datetime


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def watchlist():
    return load_watchlist()


@pytest.fixture(scope="session")
def history(pg_server_url, watchlist) -> History:
    from tradewatch.db import get_pool
    from tradewatch.history import simulate_history
    from tradewatch.profitability import compute_profitability
    from tradewatch.snapshots import compute_snapshots

    name = f"tw_graphql_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(pg_server_url, name)
    upgrade(url)
    end = floor_hour(utc_now()) - timedelta(hours=1)
    start = end - timedelta(days=DAYS)
    gap_item_hour, empty_hour = start + timedelta(hours=30), start + timedelta(hours=50)
    pool = get_pool(url)
    simulate_history(pool, watchlist, start, end, seed=7)
    with pool.connection() as conn:
        conn.execute("DELETE FROM warehouse.raw_trade_responses WHERE (observed_hour = %s AND item_id = %s) "
                     "OR observed_hour = %s", (gap_item_hour, GAP_ITEM, empty_hour))
    compute_snapshots(pool, watchlist, start, end)
    compute_profitability(pool, watchlist, start, end)
    yield History(url, start, end, gap_item_hour, empty_hour)
    pool.close()
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def db(history):
    """A plain connection for computing the expected answers directly in SQL."""
    with psycopg.connect(history.url, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        yield conn


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """The app running under uvicorn in a thread, and an httpx client for it."""

    def __init__(self, app) -> None:
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.base = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.base, timeout=30)

    def gql(self, query: str, variables: dict | None = None, **kwargs) -> dict:
        response = self.client.post("/graphql", json={"query": query, "variables": variables or {}}, **kwargs)
        assert response.status_code < 500, response.text
        return response.json()

    def data(self, query: str, variables: dict | None = None) -> dict:
        body = self.gql(query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def serve(history, watchlist):
    """Start an app with given ApiSettings on a real socket; all are stopped at the end."""
    from graphql_api.app import create_app

    started: list[Served] = []

    def start(settings: ApiSettings | None = None, url: str | None = None, pool_timeout: float = 10.0) -> Served:
        served = Served(create_app(url or history.url, settings=settings or ApiSettings(), watchlist=watchlist,
                                   pool_timeout=pool_timeout))
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture(scope="session")
def api(serve, history) -> Served:
    """The API as deployed: connected as the read-only role tradewatch_api."""
    from urllib.parse import urlsplit, urlunsplit

    from tradewatch.roles import API_ROLE, apply_api_password
    from tradewatch.settings import Secret

    apply_api_password(history.url, Secret("api-test-pw"))
    parts = urlsplit(history.url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return serve(url=urlunsplit((parts.scheme, f"{API_ROLE}:api-test-pw@{host}", *parts[2:])))
