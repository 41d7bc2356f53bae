"""Settings from the environment and .env, and the warehouse migrations."""

from pathlib import Path

import psycopg
import pytest

from tradewatch.warehouse.db import psycopg2_url, redact
from tradewatch.errors import ConfigError
from tradewatch.warehouse.migrate import current_revision, head_revision
from tradewatch.settings import REAL_TRADE_API_URL, load_settings
from helpers.databases import migrate
from helpers.raw_rows import body_values


def test_defaults_point_at_the_real_site_and_the_embedded_database(tmp_path):
    settings = load_settings({}, env_file=None)
    assert settings.trade_api_url == REAL_TRADE_API_URL
    assert settings.database_url is None
    assert settings.poesessid is None
    assert settings.fetch_grace_minutes == 15


def test_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("TRADEWATCH_LEAGUE=FromFile\nTRADEWATCH_USER_AGENT=file-agent\n")
    settings = load_settings({"TRADEWATCH_LEAGUE": "FromEnv"}, env_file=env_file)
    assert settings.league == "FromEnv"
    assert settings.user_agent == "file-agent"


def test_secrets_never_show_in_the_settings_repr():
    settings = load_settings({"POESESSID": "abcdef0123456789secret", "CF_CLEARANCE": "cf-secret-value"}, env_file=None)
    shown = repr(settings) + str(settings.poesessid) + f"{settings.cf_clearance}"
    assert "abcdef0123456789secret" not in shown and "cf-secret-value" not in shown
    assert settings.poesessid.get_secret_value() == "abcdef0123456789secret"


@pytest.mark.parametrize("name, value, fragment", [
    ("TRADEWATCH_TRADE_API_URL", "ftp://example", "TRADEWATCH_TRADE_API_URL"),
    ("TRADEWATCH_DATABASE_URL", "mysql://x/y", "TRADEWATCH_DATABASE_URL"),
    ("TRADEWATCH_FETCH_GRACE_MINUTES", "soon", "TRADEWATCH_FETCH_GRACE_MINUTES"),
    ("TRADEWATCH_PG_PORT", "-3", "TRADEWATCH_PG_PORT"),
])
def test_a_malformed_setting_is_named_in_the_error(name, value, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_settings({name: value}, env_file=None)


def test_database_urls_get_the_driver_each_consumer_needs():
    assert psycopg2_url("postgresql://u:p@h:5/db") == "postgresql+psycopg2://u:p@h:5/db"
    assert psycopg2_url("postgres://u@h/db") == "postgresql+psycopg2://u@h/db"
    assert redact("postgresql://u:hunter2@h/db") == "postgresql://u:***@h/db"


def test_upgrade_from_empty_creates_the_schema_and_twice_is_a_no_op(empty_database_url):
    assert current_revision(empty_database_url) is None
    assert migrate(empty_database_url) == head_revision()
    with psycopg.connect(empty_database_url) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'warehouse'")}
        conn.execute(
            "INSERT INTO warehouse.rate_limit_hits (limiter_key, scope, at) VALUES ('k', '*', 1)")
        conn.commit()
    assert {"raw_trade_responses", "rate_limit_state", "rate_limit_hits"} <= tables
    migrate(empty_database_url)
    assert current_revision(empty_database_url) == head_revision()
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT count(*) FROM warehouse.rate_limit_hits").fetchone()[0] == 1


def test_raw_rows_must_be_whole_hours(database_url):
    with psycopg.connect(database_url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            """INSERT INTO warehouse.raw_trade_responses (game, league, observed_hour, item_id, paid_with,
               request_path, request_body, status_code, compression, body_sha256, body, body_origin,
               rate_limit_headers, fetched_at, duration_ms, attempt, response_bytes)
               VALUES ('poe1', 'Standard', '2026-01-01 10:30+00', 'x', 'divine', '/', '{}', 200, %s, %s, %s,
                       'received', '{}', now(), 1, 1, 2)""", body_values(b"{}"))


def test_migrations_apply_to_the_embedded_default_when_no_url_is_set(server_dir, monkeypatch):
    tmp_path = server_dir  # outside pytest's 0700 base temp dir (see the fixture)
    import socket

    from tradewatch.database import resolve_database_url

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = load_settings({"TRADEWATCH_HOME": str(tmp_path / "home"), "TRADEWATCH_PG_PORT": str(port)},
                             env_file=None)
    from tradewatch.database import embedded_server

    server = embedded_server(settings)
    try:
        url = resolve_database_url(settings)
        assert (tmp_path / "home" / "pg" / "PG_VERSION").exists()
        migrate(url)
        with psycopg.connect(url) as conn:
            conn.execute("INSERT INTO warehouse.rate_limit_hits (limiter_key, scope, at) VALUES ('kept', '*', 1)")
            conn.commit()
        server.stop()
        assert not server.is_running()
        # data survives a restart, and a running server is reused rather than started twice
        assert resolve_database_url(settings) == url
        assert server.start() is False
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM warehouse.rate_limit_hits WHERE limiter_key='kept'").fetchone()[0] == 1
    finally:
        server.stop()


def test_0014_indexes_one_items_hours_of_a_market_and_its_downgrade_drops_it(empty_database_url):
    from alembic import command

    from tradewatch.warehouse.migrate import _config

    def series_index() -> str | None:
        with psycopg.connect(empty_database_url) as conn:
            row = conn.execute("SELECT indexdef FROM pg_indexes WHERE schemaname = 'warehouse' "
                               "AND indexname = 'price_snapshots_series'").fetchone()
        return row[0] if row else None

    migrate(empty_database_url)
    assert "(game, league, paid_with, item_id, observed_hour)" in series_index()
    command.downgrade(_config(empty_database_url), "0013")
    assert series_index() is None
    migrate(empty_database_url)
    assert series_index() is not None
