"""The embedded PostgreSQL asks every role for its password: no password and a wrong one are
refused, the right one lets in; the owner's is generated, kept 0600 and never in a URL; a data
directory from the trust-everyone days is switched over in place with its data."""

from __future__ import annotations

import stat
from urllib.parse import urlsplit

import psycopg
import pytest
from pydantic import SecretStr

from helpers.databases import with_user
from helpers.servers import free_port
from tradewatch.warehouse.db import close_pools, redact
from tradewatch.warehouse.embedded_pg import OWNER, EmbeddedPostgres
from tradewatch.warehouse.migrate import upgrade
from tradewatch.warehouse.roles import API_ROLE, READER_ROLE, apply_api_password, apply_reader_password


def _login(server: EmbeddedPostgres, user: str, password: str | None, database: str = "postgres"):
    # an empty password file: nothing but the password given here may be used
    return psycopg.connect(host="127.0.0.1", port=server.port, user=user, dbname=database,
                           password=password, passfile="/dev/null", connect_timeout=5)


def _refused(server: EmbeddedPostgres, user: str, password: str | None, database: str = "postgres") -> str:
    with pytest.raises(psycopg.OperationalError) as refused:
        _login(server, user, password, database).close()
    return str(refused.value)


@pytest.fixture
def server(server_dir, monkeypatch):
    # libpq would otherwise take a password from the environment or ~/.pgpass
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/dev/null")
    server = EmbeddedPostgres(server_dir / "home" / "pg", free_port())
    yield server
    close_pools()
    server.stop()


def _owner_password(server: EmbeddedPostgres) -> str:
    return server.password_file.read_text().strip().rsplit(":", 1)[1]


def test_the_owner_needs_the_generated_password_kept_only_for_this_user(server):
    server.start()
    mode = stat.S_IMODE(server.password_file.stat().st_mode)
    assert mode == 0o600
    password = _owner_password(server)
    assert len(password) >= 32

    assert "password" in _refused(server, OWNER, None)
    assert "password authentication failed" in _refused(server, OWNER, "not-" + password)
    with _login(server, OWNER, password) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == OWNER

    # the URL the rest of TradeWatch uses works, and carries no password to print or log
    url = server.url()
    assert password not in url and urlsplit(url).password is None and redact(url) == url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone()[0] == "tradewatch"
    # the log of the server never saw it
    assert password not in (server.pgdata / "server.log").read_text()


def test_read_only_roles_log_in_only_with_the_passwords_from_their_settings(server):
    server.start()
    url = server.url()
    upgrade(url)
    # before `db upgrade` set their passwords they cannot log in at all
    _refused(server, READER_ROLE, None, "tradewatch")
    _refused(server, READER_ROLE, "anything", "tradewatch")

    apply_reader_password(url, SecretStr("reader-right-7c1"))
    apply_api_password(url, SecretStr("api-right-55d"))
    for role, right in ((READER_ROLE, "reader-right-7c1"), (API_ROLE, "api-right-55d")):
        assert "password" in _refused(server, role, None, "tradewatch")
        assert "password authentication failed" in _refused(server, role, right + "x", "tradewatch")
        with psycopg.connect(with_user(url, role, right)) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == role


def test_a_trusting_installation_is_switched_to_passwords_in_place_with_its_data(server):
    # an installation made before passwords: initdb with trust, no password file
    server.pgdata.mkdir(parents=True)
    server._prepare_permissions()
    done = server._run("initdb", "-D", str(server.pgdata), "--auth=trust", "--encoding=UTF8",
                       "--locale=C", "-U", OWNER)
    assert done.returncode == 0, done.stderr
    options = f"-h 127.0.0.1 -p {server.port} -k ''"
    done = server._run("pg_ctl", "-D", str(server.pgdata), "-l", str(server.pgdata / "server.log"),
                       "-o", options, "-w", "start")
    assert done.returncode == 0, done.stderr
    with _login(server, OWNER, None) as conn:  # anyone gets in
        conn.autocommit = True
        conn.execute('CREATE DATABASE "tradewatch"')
    with _login(server, OWNER, None, "tradewatch") as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (42)")

    # the running old server is upgraded by the next start, without a restart
    assert not server.password_file.exists()
    assert server.start() is False
    assert "password" in _refused(server, OWNER, None)
    with psycopg.connect(server.url()) as conn:
        assert conn.execute("SELECT n FROM kept").fetchone()[0] == 42

    # and it stays so across a restart
    server.stop()
    assert server.start() is True
    assert "password" in _refused(server, OWNER, None)
    with psycopg.connect(server.url()) as conn:
        assert conn.execute("SELECT n FROM kept").fetchone()[0] == 42


def test_a_lost_password_file_is_a_clear_error_not_a_new_password(server):
    from tradewatch.errors import TradeWatchError

    server.start()
    server.stop()
    server.password_file.unlink()
    with pytest.raises(TradeWatchError, match="pg.pgpass, which is missing"):
        server.start()
