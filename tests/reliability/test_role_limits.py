"""The read-only roles cannot loosen their own limits (reliability section "hardening").

A database migrated to 0005 (as one deployed before migration 0006) is upgraded in place;
then, logged in as `tradewatch_reader` (Tableau) and as `tradewatch_api` (GraphQL), every
limit is attempted: temporary tables (with the session switched to read-write first, so the
privilege is what refuses, not the read-only default), raising `temp_file_limit`, opening
more connections than the role's CONNECTION LIMIT, and connecting to the maintenance
databases. The session defaults (`statement_timeout`, `default_transaction_read_only`) are
there and, as documented, a session may change them.
"""

from __future__ import annotations

import contextlib

import psycopg
import pytest

from helpers.databases import migrate, with_database, with_user
from pydantic import SecretStr as Secret
from tradewatch.warehouse.migrate import current_revision, head_revision
from tradewatch.warehouse.roles import API_ROLE, READER_ROLE, apply_api_password, apply_reader_password

EXPECTED = {  # role -> (connection limit, temp_file_limit, statement_timeout)
    READER_ROLE: (16, "1GB", "1min"),
    API_ROLE: (32, "256MB", "10s"),
}
# the roles are cluster-wide: the passwords every test gives them, so tests running at once agree
PASSWORDS = {READER_ROLE: "reader-test-pw", API_ROLE: "api-test-pw"}


@pytest.fixture
def upgraded_in_place(empty_database_url) -> str:
    migrate(empty_database_url, "0005")
    assert current_revision(empty_database_url) == "0005"
    migrate(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()
    apply_reader_password(empty_database_url, Secret(PASSWORDS[READER_ROLE]))
    apply_api_password(empty_database_url, Secret(PASSWORDS[API_ROLE]))
    return empty_database_url


def _as(url: str, role: str, database: str | None = None) -> str:
    url = with_user(url, role, PASSWORDS[role])
    return with_database(url, database) if database else url


def _refused(conn: psycopg.Connection, statement: str) -> str:
    """The error text of a statement that must fail (the transaction is rolled back after)."""
    try:
        conn.execute(statement)
    except psycopg.Error as exc:
        return str(exc).splitlines()[0]
    pytest.fail(f"{statement!r} succeeded as {conn.info.user}")


def test_the_read_only_roles_cannot_loosen_their_limits(upgraded_in_place, figures):
    url = upgraded_in_place
    attempted: list[str] = []
    refused: list[str] = []

    def attempt(what: str, error: str, *fragments: str) -> None:
        attempted.append(what)
        assert any(fragment in error for fragment in fragments), f"{what}: {error}"
        refused.append(what)

    for role, (limit, temp_limit, timeout) in EXPECTED.items():
        with psycopg.connect(url, autocommit=True) as owner:
            connlimit, config = owner.execute("SELECT rolconnlimit, rolconfig FROM pg_roles WHERE rolname = %s",
                                              (role,)).fetchone()
        assert connlimit == limit and "default_transaction_read_only=on" in config, (role, connlimit, config)

        with psycopg.connect(_as(url, role), autocommit=True) as conn:
            show = {name: conn.execute(f"SHOW {name}").fetchone()[0]
                    for name in ("temp_file_limit", "statement_timeout", "default_transaction_read_only",
                                 "idle_in_transaction_session_timeout")}
            assert show == {"temp_file_limit": temp_limit, "statement_timeout": timeout,
                            "default_transaction_read_only": "on", "idle_in_transaction_session_timeout": "1min"}
            # the read-only default refuses first; switched off, the missing privilege still does
            attempt(f"{role}: CREATE TEMP TABLE (read-only default)",
                    _refused(conn, "CREATE TEMP TABLE t AS SELECT generate_series(1, 100000) AS n"),
                    "read-only transaction", "permission denied")
            conn.execute("SET default_transaction_read_only = off")
            attempt(f"{role}: CREATE TEMP TABLE (read-write session)",
                    _refused(conn, "CREATE TEMP TABLE t AS SELECT generate_series(1, 100000) AS n"),
                    "permission denied to create temporary tables")
            attempt(f"{role}: CREATE TEMPORARY TABLE in pg_temp",
                    _refused(conn, "CREATE TABLE pg_temp.t (n int)"), "permission denied")
            for value in ("-1", "'100GB'"):
                attempt(f"{role}: SET temp_file_limit = {value}",
                        _refused(conn, f"SET temp_file_limit = {value}"), "permission denied to set parameter")
            attempt(f"{role}: ALTER ROLE SET temp_file_limit",
                    _refused(conn, f"ALTER ROLE {role} SET temp_file_limit = -1"), "permission denied")
            attempt(f"{role}: ALTER ROLE CONNECTION LIMIT",
                    _refused(conn, f"ALTER ROLE {role} CONNECTION LIMIT -1"), "permission denied")
            # documented as defaults a session may change: the privileges are the guard
            conn.execute("SET statement_timeout = 0")
            assert conn.execute("SHOW statement_timeout").fetchone()[0] == "0"

        for database in ("postgres", "template1"):
            with pytest.raises(psycopg.OperationalError) as denied:
                psycopg.connect(_as(url, role, database), connect_timeout=5).close()
            attempt(f"{role}: connect to {database}", str(denied.value), "permission denied for database")

        # the connection limit: open connections until the server refuses one (other sessions of
        # the role elsewhere on a shared server count too, so the refusal may come earlier)
        with contextlib.ExitStack() as stack:
            opened = 0
            with pytest.raises(psycopg.OperationalError) as too_many:
                for _ in range(limit + 1):
                    stack.enter_context(psycopg.connect(_as(url, role), connect_timeout=5))
                    opened += 1
            assert opened <= limit
            attempt(f"{role}: connection {opened + 1} (limit {limit})", str(too_many.value),
                    "too many connections for role")

    assert refused == attempted
    figures.record("hardening", "role limits attempted and refused", f"{len(refused)}/{len(attempted)}",
                   "attempts", "as tradewatch_reader and tradewatch_api on a database upgraded in place from 0005: "
                   "temporary tables (also after SET default_transaction_read_only = off), SET/ALTER ROLE "
                   "temp_file_limit, ALTER ROLE CONNECTION LIMIT, connecting to postgres and template1, one "
                   "connection past the limit")
    figures.record("hardening", "role limits in place", "; ".join(
        f"{role}: CONNECTION LIMIT {limit}, temp_file_limit {temp}, statement_timeout {timeout}"
        for role, (limit, temp, timeout) in EXPECTED.items()), "",
        "plus default_transaction_read_only = on and idle_in_transaction_session_timeout 1 min (session defaults)")
    figures.record("hardening", "session defaults a role may change", "statement_timeout, default_transaction_read_only",
                   "", "SET statement_timeout = 0 succeeds, as documented; writes and temporary tables stay refused "
                   "by the privileges")

