"""The read-only role Tableau (or any BI tool) logs in with: `tradewatch_reader`.

Migration 0003 creates it NOLOGIN with SELECT on schema `analytics` only. Its password
is not part of the schema (it must never be in the repository): `tradewatch db upgrade`
calls `apply_reader_password` when TRADEWATCH_READER_PASSWORD is set.
"""

from __future__ import annotations

from psycopg import sql

from tradewatch.db import connect
from tradewatch.settings import Secret

READER_ROLE = "tradewatch_reader"


def apply_reader_password(url: str, password: Secret) -> None:
    """Let the reader role log in with `password` (needs a role allowed to ALTER ROLE)."""
    # ALTER ROLE takes no bind parameters; Literal quotes the value safely.
    statement = sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
        sql.Identifier(READER_ROLE), sql.Literal(password.reveal()))
    with connect(url, autocommit=True) as conn:
        conn.execute(statement)
