"""A warehouse in the server's `postgres` database (the default database of most servers) keeps
its read-only roles: the migrations never revoke CONNECT on the warehouse's own database, a
warehouse migrated before that was fixed gets it back from revision 0015, and `template1`
stays closed to both roles.

On an embedded server the test starts itself: the shared test server's `postgres` database
is every test's maintenance database and must not become a warehouse."""

from __future__ import annotations

import psycopg
import pytest
from alembic import command

from helpers.servers import free_port
from tradewatch.cli.main import main
from tradewatch.warehouse.db import close_pools
from tradewatch.warehouse.embedded_pg import EmbeddedPostgres
from tradewatch.warehouse.migrate import _config, current_revision, head_revision
from tradewatch.warehouse.roles import API_ROLE, READER_ROLE, apply_api_password, apply_reader_password

PASSWORDS = {READER_ROLE: "reader-on-postgres-4e1", API_ROLE: "api-on-postgres-9b7"}
# what each role is for: a read that must work once it is in
READS = {READER_ROLE: "SELECT count(*) FROM analytics.price_history",
         API_ROLE: "SELECT count(*) FROM warehouse.price_snapshots"}


@pytest.fixture
def server(server_dir, monkeypatch):
    # libpq would otherwise take a password from the environment or ~/.pgpass
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/dev/null")
    server = EmbeddedPostgres(server_dir / "home" / "pg", free_port())
    server.start()
    yield server
    close_pools()
    server.stop()


def _login(server: EmbeddedPostgres, role: str, database: str) -> psycopg.Connection:
    return psycopg.connect(host="127.0.0.1", port=server.port, user=role, dbname=database,
                           password=PASSWORDS[role], passfile="/dev/null", connect_timeout=5)


def _both_roles_read_the_warehouse(server: EmbeddedPostgres) -> None:
    for role in PASSWORDS:
        with _login(server, role, "postgres") as conn:
            assert conn.execute("SELECT current_user, current_database()").fetchone() == (role, "postgres")
            assert conn.execute(READS[role]).fetchone()[0] == 0


def _template1_refused(server: EmbeddedPostgres) -> None:
    for role in PASSWORDS:
        with pytest.raises(psycopg.OperationalError, match="permission denied for database \"?template1"):
            _login(server, role, "template1").close()


def test_both_read_only_roles_log_in_when_the_warehouse_is_the_postgres_database(server, monkeypatch):
    url = server.url("postgres")
    # a fresh warehouse up to 0014: 0006 closes the maintenance databases but not the warehouse's own
    command.upgrade(_config(url), "0014")
    apply_reader_password(url, _secret(PASSWORDS[READER_ROLE]))
    apply_api_password(url, _secret(PASSWORDS[API_ROLE]))
    _both_roles_read_the_warehouse(server)
    _template1_refused(server)

    # a warehouse migrated before the fix: 0006 had revoked CONNECT on it too
    with psycopg.connect(url, autocommit=True) as owner:
        owner.execute(f"REVOKE CONNECT ON DATABASE postgres FROM PUBLIC, {READER_ROLE}, {API_ROLE}")
    with pytest.raises(psycopg.OperationalError, match="permission denied for database \"?postgres"):
        _login(server, READER_ROLE, "postgres").close()

    # `tradewatch db upgrade` as an operator runs it: the passwords from the settings, 0015 repairs
    monkeypatch.setenv("TRADEWATCH_DATABASE_URL", url)
    monkeypatch.setenv("TRADEWATCH_READER_PASSWORD", PASSWORDS[READER_ROLE])
    monkeypatch.setenv("TRADEWATCH_API_PASSWORD", PASSWORDS[API_ROLE])
    assert main(["db", "upgrade"]) == 0
    assert current_revision(url) == head_revision()
    _both_roles_read_the_warehouse(server)
    _template1_refused(server)

    # going back below 0015 never takes the warehouse away from them again
    command.downgrade(_config(url), "0014")
    _both_roles_read_the_warehouse(server)
    command.upgrade(_config(url), "head")
    _both_roles_read_the_warehouse(server)


def _secret(value: str):
    from pydantic import SecretStr

    return SecretStr(value)
