"""Shared fixtures: a real PostgreSQL (the one in TRADEWATCH_TEST_DATABASE_URL, else an
embedded one started for the session) with a fresh, migrated database per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# helpers/ is importable from every test folder: pytest's default (prepend) import mode puts this
# conftest's folder, tests/, on sys.path, and tests/ has no __init__.py
from helpers.databases import create_database, drop_database, migrate
from helpers.servers import free_port
from tradewatch.warehouse.db import close_pools
from tradewatch.warehouse.embedded_pg import EmbeddedPostgres

DATA = Path(__file__).parent / "data"
TESTS = Path(__file__).resolve().parent
# Folders whose tests share a session fixture worth building once (a history of simulated days).
_SHARED_FOLDERS = ("graphql", "dashboard")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config, items) -> None:
    """Groups for pytest-xdist's `--dist loadgroup` (`make test`): the tests of one file run on one
    worker, so its module fixtures (servers, histories) are built once; the graphql/ and dashboard/
    folders each keep to one worker, so their session history is built once too."""
    for item in items:
        try:
            parts = Path(str(item.path)).resolve().relative_to(TESTS).parts
        except ValueError:
            continue
        group = parts[0] if len(parts) > 1 and parts[0] in _SHARED_FOLDERS else "/".join(parts)
        item.add_marker(pytest.mark.xdist_group(group))


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """A URL to a maintenance database on a real server: one embedded server per session (per
    pytest-xdist worker), its data outside pytest's base temp dir (see `server_dir`)."""
    configured = os.environ.get("TRADEWATCH_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="tw-embedded-test-"))
    server = EmbeddedPostgres(path / "pg", free_port())
    try:
        server.start()
        yield server.url("postgres")
    finally:
        close_pools()
        server.stop()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def _template_db(pg_server_url) -> str:
    name, url = create_database(pg_server_url, "tw_template")
    migrate(url)
    yield name
    drop_database(pg_server_url, name)


@pytest.fixture
def database_url(pg_server_url, _template_db) -> str:
    """A fresh database with the warehouse schema, dropped after the test."""
    name, url = create_database(pg_server_url, "tw_test", template=_template_db)
    yield url
    drop_database(pg_server_url, name)


@pytest.fixture
def empty_database_url(pg_server_url) -> str:
    """A fresh database without any schema (for migration tests)."""
    name, url = create_database(pg_server_url, "tw_empty")
    yield url
    drop_database(pg_server_url, name)


@pytest.fixture
def server_dir():
    """A fresh directory for an embedded server's data, outside pytest's base temp dir: pytest
    makes that 0700 at every session start (another session's too), which locks out the server
    user PostgreSQL runs as when the tests run as root."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="tw-server-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


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
    from tradewatch.warehouse.db import get_pool

    return get_pool(database_url)
