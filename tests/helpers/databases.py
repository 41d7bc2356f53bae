"""Databases for the tests (and the benchmarks) on a real PostgreSQL server: URLs naming
another database or login on the same server, creating and dropping databases, and a
database filled with simulated history through the real pipeline (simulate_history ->
compute_snapshots -> compute_profitability).

Imported as `helpers.databases` by the tests (tests/conftest.py puts tests/ on sys.path) and
as `tests.helpers.databases` by the bench scripts (which put the repository root there).

The read-only roles are cluster-wide: every test gives them the same passwords, `reader-test-pw`
(tradewatch_reader) and `api-test-pw` (tradewatch_api), so that tests running at once on one
server (pytest-xdist workers, TRADEWATCH_TEST_DATABASE_URL) never lock each other out."""

from __future__ import annotations

import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Callable, Iterator, NamedTuple
from urllib.parse import urlsplit, urlunsplit

import psycopg


@contextmanager
def migration_lock(url: str) -> Iterator[None]:
    """One migration at a time on the server of `url`, across the processes of this machine (the
    pytest-xdist workers): role settings and grants live in catalogs the whole server shares, and
    PostgreSQL fails one of two concurrent updates of a row there ("tuple concurrently updated")."""
    import fcntl
    import tempfile
    from pathlib import Path

    parts = urlsplit(url)
    lock = Path(tempfile.gettempdir()) / f"tradewatch-tests-migrate-{parts.hostname}-{parts.port or 5432}.lock"
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(url: str, revision: str = "head") -> str:
    """The warehouse migrations on the database of `url` up to `revision`, under `migration_lock`."""
    from alembic import command

    from tradewatch.warehouse.migrate import _config, upgrade

    with migration_lock(url):
        if revision == "head":
            return upgrade(url)
        command.upgrade(_config(url), revision)
        return revision


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def with_user(url: str, user: str, password: str | None = None) -> str:
    """The same server and database, logged in as another role."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    auth = f"{user}:{password}" if password else user
    return urlunsplit((parts.scheme, f"{auth}@{host}", *parts[2:]))


def create_database(server_url: str, prefix: str, template: str | None = None) -> tuple[str, str]:
    """A new database named `<prefix>_<random>` (a copy of `template` when given): (name, url).

    A copy is made file by file (STRATEGY FILE_COPY, one checkpoint) rather than through the WAL,
    PostgreSQL 15's default: for a template of a few MB that is half the time, a fifth without fsync."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        # (PostgreSQL 14 and older copy file by file anyway, and know no STRATEGY)
        strategy = " STRATEGY FILE_COPY" if conn.info.server_version >= 150000 else ""
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"{strategy}' if template else ""))
    return name, with_database(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop a database even while something is still connected to it."""
    from tradewatch.warehouse.db import close_pools

    # FORCE kills the sessions of the process-wide pools too: close them first, so that none
    # is left reconnecting to a database that is gone
    close_pools()
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class History(NamedTuple):
    url: str
    start: datetime
    end: datetime


@contextmanager
def history_database(server_url: str, watchlist, prefix: str, days: int, seed: int,
                     mutate: Callable | None = None, end: datetime | None = None,
                     divine_book: bool = False) -> Iterator[History]:
    """A migrated database with `days` of simulated hours up to `end` (default: the hour before
    the last full one), and the snapshots and profitability computed from them; dropped on exit.

    Without the hourly book of divine paid in chaos unless `divine_book`: the tests of prices in
    chaos and divine place the divine rates they judge (exchange or book) on hours they choose.

    `mutate(pool, start, end)` runs between the simulation and the derived tables, to change
    the raw rows they are computed from (the GraphQL tests cut gaps into the coverage)."""
    from tradewatch.warehouse.db import get_pool
    from tradewatch.cli.simulated_history import simulate_history
    from tradewatch.hours import floor_hour, utc_now
    from tradewatch.warehouse.profitability import compute_profitability
    from tradewatch.warehouse.snapshots import compute_snapshots

    name, url = create_database(server_url, prefix)
    pool = None
    try:
        migrate(url)
        end = end if end is not None else floor_hour(utc_now()) - timedelta(hours=1)
        start = end - timedelta(days=days)
        pool = get_pool(url)
        simulate_history(pool, watchlist, start, end, seed=seed, divine_book=divine_book)
        if mutate is not None:
            mutate(pool, start, end)
        compute_snapshots(pool, watchlist, start, end)
        compute_profitability(pool, watchlist, start, end)
        yield History(url, start, end)
    finally:
        if pool is not None:
            pool.close()
        drop_database(server_url, name)


def insert_exchange_price(conn, league: str, hour: datetime, item_id: str, path: str, quote: str, vwap: float,
                          volume: float, realm: str = "pc", low: float | None = None,
                          high: float | None = None) -> None:
    """One row of `warehouse.exchange_prices` (and its item), as the exchange_prices writer stores it."""
    from tradewatch.currency_exchange.catalog import item_storage_key

    key = item_storage_key(path)
    conn.execute("INSERT INTO warehouse.exchange_items (item_key, item_path, item_id, mapped) VALUES (%s, %s, %s, true) "
                 "ON CONFLICT DO NOTHING", (key, path, item_id))
    conn.execute(
        "INSERT INTO warehouse.exchange_prices (realm, league, item_key, quote_currency, observed_hour, item_first, "
        "vwap_price, min_price, max_price, volume, quote_volume) VALUES (%s, %s, %s, %s, %s, true, %s, %s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        (realm, league, key, quote, hour, vwap, low if low is not None else vwap, high if high is not None else vwap,
         volume, volume * vwap))
