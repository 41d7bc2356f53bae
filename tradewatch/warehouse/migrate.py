"""Applies the warehouse migrations (Alembic) to a database URL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from tradewatch.warehouse.db import connect, redact, sqlalchemy_psycopg_url
from tradewatch.errors import TradeWatchError

MIGRATIONS = Path(__file__).parent / "migrations"


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # '%' would be read as interpolation by configparser
    config.set_main_option("sqlalchemy.url", sqlalchemy_psycopg_url(url).replace("%", "%%"))
    return config


def head_revision() -> str:
    return ScriptDirectory.from_config(_config("postgresql://x/y")).get_current_head()


def current_revision(url: str) -> str | None:
    engine = create_engine(sqlalchemy_psycopg_url(url))
    try:
        with engine.connect() as conn:
            exists = conn.execute(text("SELECT to_regclass('public.tradewatch_schema_version')")).scalar()
            if exists is None:
                return None
            return conn.execute(text("SELECT version_num FROM public.tradewatch_schema_version")).scalar()
    finally:
        engine.dispose()


def upgrade(url: str) -> str:
    """Bring the schema to the newest revision (a no-op when it is there); returns it."""
    try:
        command.upgrade(_config(url), "head")
    except Exception as exc:
        raise TradeWatchError(f"could not migrate the warehouse at {redact(url)}: {exc}") from exc
    load_reference_data(url)
    return head_revision()


def load_reference_data(url: str) -> None:
    """The packaged data the schema serves (the exchange catalogue), brought up to date: data, not
    schema, so a refreshed catalogue reaches a warehouse without a migration of its own."""
    from tradewatch.warehouse.exchange_catalogue import sync_catalogue

    try:
        with connect(url) as conn, conn.transaction():
            # the same lock as the migrations: two concurrent upgrades load one after the other
            conn.execute("SELECT pg_advisory_xact_lock(727274001)")
            sync_catalogue(conn)
    except Exception as exc:
        raise TradeWatchError(f"could not load the exchange catalogue into the warehouse at {redact(url)}: "
                              f"{exc}") from exc


def require_current(url: str) -> None:
    """Raise, saying what to run, unless the warehouse at `url` is at the newest revision."""
    head, current = head_revision(), current_revision(url)
    if current != head:
        state = "has no TradeWatch schema" if current is None else f"is at revision {current}, not {head}"
        raise TradeWatchError(f"the warehouse at {redact(url)} {state}: run `tradewatch db upgrade` "
                              "(the demo and the compose `migrate` service do it for you)")
