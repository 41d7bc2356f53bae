"""The read-only database roles, and how they get a password.

* `tradewatch_reader` (migration 0003): Tableau and other BI tools; SELECT on schema
  `analytics` only.
* `tradewatch_api` (migration 0004): the GraphQL API; SELECT on the warehouse tables it
  serves (raw responses, snapshots, profitability, items) and on `analytics`; no writes.

Migration 0006 limits both where a session cannot loosen it (CONNECTION LIMIT,
temp_file_limit, no TEMPORARY on the warehouse, no CONNECT on the maintenance databases)
and gives them session defaults (read-only transactions, statement_timeout).

Both are created NOLOGIN. Passwords are not part of the schema (they must never be in the
repository): `tradewatch db upgrade` sets them from TRADEWATCH_READER_PASSWORD and
TRADEWATCH_API_PASSWORD when those are set.
"""

from __future__ import annotations

from psycopg import sql

from tradewatch.warehouse.db import connect
from pydantic import SecretStr

READER_ROLE = "tradewatch_reader"
API_ROLE = "tradewatch_api"


def apply_role_password(url: str, role: str, password: SecretStr) -> None:
    """Let `role` log in with `password` (needs a role allowed to ALTER ROLE)."""
    # ALTER ROLE takes no bind parameters; Literal quotes the value safely.
    statement = sql.SQL("ALTER ROLE {} WITH LOGIN PASSWORD {}").format(
        sql.Identifier(role), sql.Literal(password.get_secret_value()))
    with connect(url, autocommit=True) as conn:
        conn.execute(statement)


def apply_reader_password(url: str, password: SecretStr) -> None:
    apply_role_password(url, READER_ROLE, password)


def apply_api_password(url: str, password: SecretStr) -> None:
    apply_role_password(url, API_ROLE, password)
