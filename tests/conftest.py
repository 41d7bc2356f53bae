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
# Folders whose tests share a session fixture worth building once (a history of simulated days).
_SHARED_FOLDERS = ("graphql", "dashboard")
# The groups of more than a few seconds, longest first (seconds of a worker on 2 busy cores, the mean of
# three runs, in the comments); the scheduler hands these out before the rest, so that no long group
# starts last while the other worker has run out of work, and the last ones (all of a few seconds) let
# both workers end within seconds of each other. The two local-stack files start at once on both.
_LONG_FIRST = ("test_local_stack_stops.py", "test_local_stack_crashes.py",  # 86, 91
               "test_bench_smoke.py", "test_remote_trigger.py", "graphql", "dashboard", "test_demo.py",  # 105 .. 45
               "test_raw_asset.py", "reliability/test_graphql_fuzz.py", "test_currency_exchange_feed.py",  # 43 .. 36
               "deployment/test_dagster_instance.py", "test_market_backfill.py", "test_dumps.py",  # 31 .. 20
               "reliability/test_security.py", "reliability/test_request_limits.py",  # 19, 18
               "test_trade_sim_currency_exchange.py", "reliability/test_bad_config.py", "test_market_assets.py",  # 18 .. 12
               "test_embedded_pg_auth.py", "reliability/test_database_faults.py", "reliability/test_source_faults.py",
               "test_market_calibration.py", "test_trade_sim.py", "test_definitions.py",  # 12 .. 10
               "test_raw_body_migration.py", "test_derived_tables.py", "test_price_conversion.py",  # 9
               "test_currency_exchange_cli.py", "test_alerts.py", "test_settings_and_migrations.py",  # 8 .. 7
               "reliability/test_api_hardening.py")  # 7; the rest take 6 s or less


def xdist_group(nodeid: str) -> str:
    """The worker group of a test, from its node id (what pytest-xdist's scheduler sees): the tests of
    one file run on one worker, so its module fixtures (servers, histories) are built once; the
    graphql/ and dashboard/ folders each keep to one worker, so their session history is built once."""
    path, _, _ = nodeid.partition("::")
    parts = Path(path).parts
    parts = parts[1:] if parts[:1] == ("tests",) else parts
    if len(parts) > 1 and parts[0] in _SHARED_FOLDERS:
        return parts[0]
    return "/".join(parts)


def _rank(group: str) -> int:
    return _LONG_FIRST.index(group) if group in _LONG_FIRST else len(_LONG_FIRST)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items) -> None:
    """The longest groups first (a stable sort: the others keep their order); every worker collects
    the same order, which the scheduler below keeps."""
    items.sort(key=lambda item: _rank(xdist_group(item.nodeid)))


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`--dist loadgroup` (`make test`) by the groups of `xdist_group`, in collection order. Not
    pytest-xdist's own: under pytest 9 its `xdist_group` marks never reach the scheduler (it renames
    the items through an attribute pytest no longer reads), so every test went its own way and each
    worker built the shared histories again."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class FileAndFolderGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid)

        def schedule(self) -> None:
            config.option.loadscopereorder = False  # keep the longest-first order, not the most tests first
            super().schedule()

    return FileAndFolderGroups(config, log)


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
        _durability_off(server.url("postgres"))
        yield server.url("postgres")
    finally:
        close_pools()
        server.stop()
        shutil.rmtree(path, ignore_errors=True)


def _durability_off(url: str) -> None:
    """No fsync and no full-page images on the session's own server: a database per test (a copy of
    the template) then costs ~0.07 s instead of ~0.5, and every commit less. What it gives up is
    surviving a crash of the machine, which a test server need not; a crash of PostgreSQL itself
    (which the crash tests cause on servers of their own) still loses nothing committed, because
    the WAL is still written at every commit, to the operating system's cache."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET fsync = off")
        conn.execute("ALTER SYSTEM SET full_page_writes = off")
        conn.execute("SELECT pg_reload_conf()")


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
