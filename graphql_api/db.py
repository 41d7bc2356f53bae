"""The API's database access: an async pool of read-only, time-limited connections.

Whatever role the URL names, every session is `default_transaction_read_only` and has a
`statement_timeout`, so a buggy or hostile query can neither write nor run for long.
Sessions run in UTC so timestamps built into JSON by PostgreSQL are ISO-8601 with +00:00.

A connection is not checked with a round trip each time it is taken from the pool (that
doubled the round trips of every answer); instead a statement that fails because its
connection turned out dead (the server restarted, a backend was terminated) is run once more
on a fresh connection, after the pool has tested its idle ones: every statement here is a
read-only transaction of its own.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from graphql_api.errors import ApiError
from tradewatch.warehouse.db import libpq_url


def session_options(statement_timeout_ms: int) -> str:
    return (f"-c default_transaction_read_only=on -c statement_timeout={statement_timeout_ms} "
            "-c TimeZone=UTC")


def create_pool(url: str, statement_timeout_ms: int, max_size: int = 8, timeout: float = 10.0) -> AsyncConnectionPool:
    """A closed pool; open it in the app's lifespan (it needs the running event loop)."""
    return AsyncConnectionPool(
        libpq_url(url), min_size=1, max_size=max_size, open=False, timeout=timeout,
        # autocommit: each statement is its own read-only transaction, no BEGIN/COMMIT trips
        kwargs={"autocommit": True, "connect_timeout": max(1, int(timeout)), "options": session_options(statement_timeout_ms)},
    )


async def fetch_all(pool: AsyncConnectionPool, sql: str, params: Any = None, *, rows_as_dicts: bool = True,
                    binary: bool = False) -> list[Any]:
    """Run one statement; database trouble becomes a coded ApiError instead of a 500. `binary`: the results in
    PostgreSQL's binary format (bytea as the bytes themselves)."""
    try:
        for attempt in (1, 2):
            async with pool.connection() as conn:
                try:
                    cur = conn.cursor(row_factory=dict_row, binary=binary) if rows_as_dicts else conn.cursor(binary=binary)
                    async with cur:
                        await cur.execute(sql, params)
                        return await cur.fetchall()
                except psycopg.OperationalError:
                    # a pooled connection that died while idle: the pool drops it, a fresh one runs it
                    if attempt == 2 or not conn.broken:
                        raise
            # what ended it (a server restart, terminated backends) ended the other idle ones too: the pool
            # tests them and replaces the dead, so the second attempt is not handed one of them
            await pool.check()
        raise AssertionError("unreachable")
    except psycopg.errors.QueryCanceled:
        raise ApiError("the query ran longer than the statement timeout; ask for a shorter range or fewer items",
                       code="TIMEOUT") from None
    except (PoolTimeout, psycopg.OperationalError):
        raise ApiError("the database is unreachable right now; try again shortly",
                       code="SERVICE_UNAVAILABLE") from None
