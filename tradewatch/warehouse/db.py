"""Database access: URL forms for each driver, pooled psycopg 3 connections.

One PostgreSQL holds the warehouse and Dagster's own storage. Users give one URL in any
common form; each consumer gets the form it needs (libpq for psycopg, an explicit
`+psycopg2` scheme for dagster-postgres, which breaks on psycopg 3 under SQLAlchemy 2.1).
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg_pool import ConnectionPool


_pools: dict[str, ConnectionPool] = {}
_pools_lock = threading.Lock()


def _with_scheme(url: str, scheme: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        raise ValueError(f"not a PostgreSQL URL: {redact(url)}")
    return urlunsplit((scheme, *parts[1:]))


def libpq_url(url: str) -> str:
    """`postgresql://…` for psycopg, whatever driver suffix the user wrote."""
    return _with_scheme(url, "postgresql")


def psycopg2_url(url: str) -> str:
    """The SQLAlchemy URL dagster-postgres must get (see the module docstring)."""
    return _with_scheme(url, "postgresql+psycopg2")


def sqlalchemy_psycopg_url(url: str) -> str:
    return _with_scheme(url, "postgresql+psycopg")


def redact(url: str) -> str:
    """The URL with its password replaced, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit((parts.scheme, netloc, *parts[2:]))


def get_pool(url: str, max_size: int = 4) -> ConnectionPool:
    """A process-wide pool per database URL, opened on first use."""
    key = libpq_url(url)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None or pool.closed:
            pool = ConnectionPool(
                key, min_size=1, max_size=max_size, open=True, timeout=30,
                kwargs={"connect_timeout": 10}, check=ConnectionPool.check_connection,
            )
            _pools[key] = pool
        return pool


def close_pools() -> None:
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


def connect(url: str, **kwargs) -> psycopg.Connection:
    """A single unpooled connection (for migrations and one-off commands)."""
    return psycopg.connect(libpq_url(url), connect_timeout=10, **kwargs)
