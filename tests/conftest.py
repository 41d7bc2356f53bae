"""Shared fixtures: a real PostgreSQL (the one in TRADEWATCH_TEST_DATABASE_URL, else an
embedded one started for the session) with a fresh, migrated database per test."""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tradewatch.db import close_pools
from tradewatch.embedded_pg import EmbeddedPostgres
from tradewatch.migrate import upgrade

DATA = Path(__file__).parent / "data"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory) -> str:
    """A URL to a maintenance database on a real server."""
    configured = os.environ.get("TRADEWATCH_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    server = EmbeddedPostgres(tmp_path_factory.mktemp("embedded") / "pg", _free_port())
    server.start()
    try:
        yield server.url("postgres")
    finally:
        close_pools()
        server.stop()


@pytest.fixture(scope="session")
def _template_db(pg_server_url) -> str:
    name = f"tw_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    upgrade(_with_database(pg_server_url, name))
    yield name
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_server_url, _template_db) -> str:
    """A fresh database with the warehouse schema, dropped after the test."""
    name = f"tw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{_template_db}"')
    yield _with_database(pg_server_url, name)
    close_pools()
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(pg_server_url) -> str:
    """A fresh database without any schema (for migration tests)."""
    name = f"tw_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_database(pg_server_url, name)
    close_pools()
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def start_sim():
    """Start trade_sim servers on free ports (real HTTP); all are stopped after the test."""
    from trade_sim import SimConfig, SimServer

    servers = []

    def start(**config):
        server = SimServer(SimConfig(**config))
        server.__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


@pytest.fixture
def pool(database_url):
    from tradewatch.db import get_pool

    return get_pool(database_url)
