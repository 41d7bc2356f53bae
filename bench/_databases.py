"""Where a benchmark's databases live, created the one way every benchmark creates them.

The server is the one in TRADEWATCH_BENCH_DATABASE_URL (a URL to a maintenance database on a
server you own) when set, else an embedded PostgreSQL started in a temporary directory for the
run and removed after it. The embedded server requires passwords and its URLs name the password
file in their query string (`?passfile=…`), so every URL made here keeps the server URL's query
string: a database on the same server is the same URL with another path, nothing else changed.

A benchmark either takes a fresh database (`fresh_database`: a unique name, dropped afterwards)
or a named one it keeps between runs (`kept_database`: created when missing).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit

import psycopg

from tests.helpers.databases import create_database, drop_database, with_database
from tests.helpers.servers import free_port

SERVER_VARIABLE = "TRADEWATCH_BENCH_DATABASE_URL"

__all__ = ["SERVER_VARIABLE", "bench_server", "database_name", "fresh_database", "kept_database", "with_database"]


@contextmanager
def bench_server(configured: str | None = None, keep_in: Path | None = None) -> Iterator[str]:
    """The URL of a maintenance database: `configured`, else TRADEWATCH_BENCH_DATABASE_URL, else
    an embedded PostgreSQL of this run, stopped on exit. Its data lives in a temporary directory
    removed on exit, or in `keep_in`, kept for the next run (a benchmark that keeps its data)."""
    configured = configured or os.environ.get(SERVER_VARIABLE)
    if configured:
        yield configured
        return
    from tradewatch.warehouse.embedded_pg import EmbeddedPostgres

    folder = keep_in if keep_in is not None else Path(tempfile.mkdtemp(prefix="tw_bench_pg_"))
    server = EmbeddedPostgres(folder / "pg", free_port())
    try:
        server.start()
        yield server.url("postgres")
    finally:
        from tradewatch.warehouse.db import close_pools

        close_pools()  # the pools of this process, before their server goes
        server.stop()
        if keep_in is None:
            shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str, prefix: str = "tw_bench") -> Iterator[str]:
    """A new, empty database `<prefix>_<random>` on the server (its URL keeps the server URL's
    query string); dropped on exit."""
    name, url = create_database(server_url, prefix)
    try:
        yield url
    finally:
        drop_database(server_url, name)


def database_name(url: str) -> str:
    """The database a URL names (its path), refused when it names none or one we cannot quote."""
    name = urlsplit(url).path.lstrip("/")
    if not name or '"' in name or "/" in name:
        raise ValueError(f"the URL must name a database in its path, e.g. "
                         f"postgresql://postgres@127.0.0.1:5432/tw_bench_year (got {name!r})")
    return name


def kept_database(url: str) -> str:
    """`url`'s database, created (through the server's `postgres` database, with the same
    credentials and query string) when it does not exist yet; kept after the run."""
    name = database_name(url)
    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url
