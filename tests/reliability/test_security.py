"""Security (reliability section "security").

* A secret set in the environment (POESESSID, CF_CLEARANCE, the reader's and the API's role
  passwords, the database password) appears in no log line, Dagster event, metadata value,
  raw row or error message: a real Dagster materialization against trade_sim (one that
  succeeds, one that Cloudflare blocks, one whose site is unreachable), the CLI, and the
  GraphQL server pointed at a database it cannot reach, all with every output kept and
  searched. The simulator records the cookies it received, so the test fails if the
  secret was simply never sent.
* The API's and Tableau's database roles cannot write: every kind of write on every table
  and view of every schema, object creation in every schema, the same again after
  `SET default_transaction_read_only = off`, and functions that persist (large objects,
  sequences) are all refused with a privilege error. What PostgreSQL lets every role do and
  that persists nothing (advisory locks, NOTIFY, temporary tables) is not tried; that a
  role may change its own password or session defaults (ALTER ROLE itself) is PostgreSQL's
  rule and not data, so it is not counted either.
* With API keys set, every route of the app (found by walking `app.routes`, so routes
  added later are covered too) refuses every method without a key and with a wrong one,
  and answers with the right one; `/health` needs none; WebSocket handshakes are refused.
* GraphiQL can be turned off for production while queries still work.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
import psycopg
import pytest
from psycopg import sql

from helpers.databases import create_database, drop_database, with_user
from helpers.servers import free_port
from helpers.raw_rows import select_raw
from tradewatch.hours import floor_hour, partition_key, utc_now
from tradewatch.watchlist import load_watchlist

from ._bad_input_server import LogKeeper, ServedApi, serve_api, table_counts

ROOT = Path(__file__).resolve().parents[2]
TRADEWATCH = Path(sys.executable).with_name("tradewatch")
GREED = "deafening-essence-of-greed"


# --- helpers -------------------------------------------------------------------------------


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, f"{user}:{password}@{host}", *parts[2:]))


class _CookieLog:
    """ASGI middleware for the simulator: keeps the Cookie header of every exchange request."""

    def __init__(self, app, seen: list[str]) -> None:
        self.app, self.seen = app, seen

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and "/exchange/" in scope.get("path", ""):
            headers = dict(scope.get("headers") or [])
            self.seen.append(headers.get(b"cookie", b"").decode("latin-1"))
        await self.app(scope, receive, send)


def _start_sim(started: list, seen: list[str], **config):
    from trade_sim import SimConfig, SimServer

    sim = SimServer(SimConfig(**config))
    sim.app.add_middleware(_CookieLog, seen=seen)  # before it starts: the stack is built on first use
    sim.start()
    started.append(sim)
    return sim


def _run_cli(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([str(TRADEWATCH), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


# --- secrets -------------------------------------------------------------------------------


def test_a_secret_set_in_the_environment_appears_in_no_log_event_metadata_row_or_message(
        database_url, tmp_path, monkeypatch, capfd, figures):
    from dagster import EnvVar, materialize
    from dagster._core.test_utils import instance_for_test
    from dagster._serdes import serialize_value

    from tradewatch.warehouse.db import psycopg2_url
    from tradewatch_assets.resources import TradeApiResource, WarehouseResource, WatchlistResource
    from tradewatch_assets.trade_api.assets import raw_trade_responses

    markers = {name: f"{name.lower().replace('_', '')}-{uuid.uuid4().hex}" for name in
               ("POESESSID", "CF_CLEARANCE", "TRADEWATCH_READER_PASSWORD", "TRADEWATCH_API_PASSWORD", "DB_PASSWORD")}
    # a login whose password really is the marker: the embedded server checks passwords (SCRAM)
    with psycopg.connect(database_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'tw_secret_probe'").fetchone()
        conn.execute(sql.SQL("{} ROLE tw_secret_probe LOGIN SUPERUSER PASSWORD {}").format(
            sql.SQL("ALTER" if exists else "CREATE"), sql.Literal(markers["DB_PASSWORD"])))
    secret_url = _with_password(with_user(database_url, "tw_secret_probe"), markers["DB_PASSWORD"])
    for name in ("POESESSID", "CF_CLEARANCE", "TRADEWATCH_READER_PASSWORD", "TRADEWATCH_API_PASSWORD"):
        monkeypatch.setenv(name, markers[name])
    monkeypatch.setenv("TRADEWATCH_DATABASE_URL", secret_url)
    monkeypatch.setenv("TRADEWATCH_DAGSTER_PG_URL", psycopg2_url(secret_url))
    monkeypatch.chdir(tmp_path)  # no stray .env of the developer's

    keeper = LogKeeper()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(keeper)
    root.setLevel(logging.DEBUG)
    texts: dict[str, str] = {}  # where -> text that must not hold any marker
    cookies_seen: list[str] = []
    sims: list = []
    served: list[ServedApi] = []
    try:
        hour = floor_hour(utc_now())
        # one simulator for all three runs, so the limiter knows its rules after the first answer
        # (before any, it allows one request per 4 s): fine, then Cloudflare-blocked, then stopped
        sim = _start_sim(sims, cookies_seen, time_scale=0.01, fixed_hour=hour)
        two_items = tmp_path / "two.yaml"
        two_items.write_text(f"items: [{GREED}, primal-lifeforce]\n")

        def resources(base_url: str, league: str | None = None, watchlist: Path | None = None) -> dict:
            # bound from the environment as tradewatch_assets.definitions binds them in production
            warehouse = WarehouseResource(database_url=EnvVar("TRADEWATCH_DATABASE_URL"))
            return {"warehouse": warehouse,
                    "watchlist": WatchlistResource(path=str(watchlist) if watchlist else None, league=league),
                    "trade_api": TradeApiResource(base_url=base_url, poesessid=EnvVar("POESESSID"),
                                                  cf_clearance=EnvVar("CF_CLEARANCE"), limiter_pad_seconds=0.02,
                                                  backoff_seconds=0.02, max_attempts=3)}

        storage = {"storage": {"postgres": {"postgres_url": {"env": "TRADEWATCH_DAGSTER_PG_URL"}}}}
        with instance_for_test(overrides=storage) as instance:
            def run(league: str | None = None, watchlist: Path | None = None):
                return materialize([raw_trade_responses], partition_key=partition_key(hour), instance=instance,
                                   resources=resources(sim.url, league, watchlist), raise_on_error=False)

            runs = {"fetched": run()}
            sim.app.state.config.cloudflare_403_rate = 1.0  # every answer is now a Cloudflare challenge page
            runs["cloudflare"] = run("Hardcore", two_items)  # a league the trade site lists (others are refused first)
            sim.stop()  # and now nothing answers on that port
            runs["unreachable"] = run("Nowhere", two_items)
            assert runs["fetched"].success
            assert not runs["cloudflare"].success and not runs["unreachable"].success
            failures = [e.event_specific_data.error.message for name in ("cloudflare", "unreachable")
                        for e in runs[name].get_step_failure_events()]
            assert any("CF_CLEARANCE" in f for f in failures), failures  # the Cloudflare advice was given
            texts["step failure messages"] = "\n".join(failures)
            events = 0
            for name, result in runs.items():
                entries = instance.all_logs(result.run_id)
                events += len(entries)
                texts[f"dagster event log of the {name} run"] = "\n".join(serialize_value(e) for e in entries)
                metadata = [str(v.value) for e in result.all_events if e.is_step_materialization
                            for v in e.event_specific_data.materialization.metadata.values()]
                texts[f"materialization metadata of the {name} run"] = "\n".join(metadata)
            compute_logs = [p for p in Path(instance.root_directory).rglob("*") if p.is_file()]
            for path in compute_logs:
                texts[f"dagster file {path.name}"] = path.read_bytes().decode("utf-8", "replace")

        with psycopg.connect(database_url, autocommit=True) as conn:
            raw = [r[0] for r in conn.execute(
                "SELECT row_to_json(r)::text FROM warehouse.raw_trade_responses r").fetchall()]
            assert len(raw) == 22  # the successful run stored every item and the divine book
            texts["raw rows (every column)"] = "\n".join(raw)
            # the bodies are stored compressed: search them as they decompress, too
            bodies = select_raw(conn, "response_body")
            texts["raw bodies (decompressed)"] = "\n".join(orjson.dumps(b).decode() for (b,) in bodies)

        # the CLI: an upgrade that applies both role passwords, and a bad setting naming a password
        cli_env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV_"))}
        upgraded = _run_cli(["db", "upgrade"], cli_env, tmp_path)
        assert upgraded.returncode == 0, upgraded.stderr
        assert "tradewatch_reader" in upgraded.stdout and "tradewatch_api" in upgraded.stdout
        bad = dict(cli_env, TRADEWATCH_DATABASE_URL=f"postgresql://u:{markers['DB_PASSWORD']}@[::1/tradewatch")
        refused = _run_cli(["db", "status"], bad, tmp_path)
        assert refused.returncode == 2 and "TRADEWATCH_DATABASE_URL" in refused.stderr
        unreachable = dict(cli_env, TRADEWATCH_DATABASE_URL=_with_password(
            f"postgresql://postgres@127.0.0.1:{free_port()}/tradewatch", markers["DB_PASSWORD"]))
        down = _run_cli(["db", "upgrade"], unreachable, tmp_path)
        assert down.returncode != 0
        for name, done in (("db upgrade", upgraded), ("db status with a bad URL", refused),
                           ("db upgrade of an unreachable server", down)):
            texts[f"cli {name}"] = done.stdout + done.stderr

        # the GraphQL server: a database it cannot reach, and one it can, both URLs holding the password
        watchlist = load_watchlist()
        unreachable_api = serve_api(_with_password(f"postgresql://postgres@127.0.0.1:{free_port()}/x",
                                                   markers["DB_PASSWORD"]), watchlist, pool_timeout=1.0)
        served.append(unreachable_api)
        reachable_api = serve_api(secret_url, watchlist)
        served.append(reachable_api)
        answers = []
        for api in served:
            answers.append(api.client.get("/health"))
            answers.append(api.client.post("/graphql", json={"query": "{ latestPrices { hour minPrice } }"}))
            answers.append(api.client.post("/graphql", json={"query": "{ rawResponses(first: 50) { nodes { "
                                                                      "requestBody requestPath rateLimitHeaders "
                                                                      "responseBody } } }"}))
            answers.append(api.client.get("/export/price-series.csv", params={"item": GREED}))
            answers.append(api.client.post("/graphql", json={"query": "{ nope }"}))
        assert answers[0].status_code == 503  # the unreachable one says so
        assert "SERVICE_UNAVAILABLE" in answers[1].text
        assert answers[7].status_code == 200 and GREED in answers[7].text  # the reachable one serves raw rows
        texts["graphql answers"] = "\n".join(f"{r.status_code} {dict(r.headers)} {r.text}" for r in answers)
    finally:
        for api in served:
            api.stop()
        for sim in sims:
            sim.stop()
        root.removeHandler(keeper)
        root.setLevel(old_level)

    captured = capfd.readouterr()
    texts["captured stdout"], texts["captured stderr"] = captured.out, captured.err
    texts["log records"] = "\n".join(keeper.texts())

    # the whole database too: every table of every schema (Dagster's storage lives here as well)
    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = conn.execute("SELECT table_schema, table_name FROM information_schema.tables "
                              "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                              "AND table_type = 'BASE TABLE'").fetchall()
        assert any(name == "event_logs" for _, name in tables)
        for schema, name in tables:
            for marker_name, marker in markers.items():
                hits = conn.execute(sql.SQL("SELECT count(*) FROM {}.{} t WHERE t::text LIKE %s").format(
                    sql.Identifier(schema), sql.Identifier(name)), (f"%{marker}%",)).fetchone()[0]
                assert hits == 0, f"{marker_name} is stored in {schema}.{name}"

    # the secrets were really in play: the simulator got both cookies on every exchange request
    assert cookies_seen and all(markers["POESESSID"] in c and markers["CF_CLEARANCE"] in c for c in cookies_seen)
    assert len(keeper.records) > 50 and texts["dagster event log of the fetched run"]

    found = [(where, name) for where, text in texts.items() for name, marker in markers.items() if marker in text]
    assert not found, f"secrets leaked: {found}"
    scanned = sum(len(t) for t in texts.values())
    figures.record("security", "secret markers searched for", len(markers), "secrets",
                   "POESESSID, CF_CLEARANCE, reader and API role passwords, database password")
    figures.record("security", "places searched", len(texts) + len(tables), "",
                   f"log records, stdout/stderr, Dagster events of {len(runs)} runs (1 ok, 2 failing), "
                   f"metadata, raw rows, CLI output, API answers, {len(tables)} database tables")
    figures.record("security", "text searched", round(scanned / 1e6, 2), "MB",
                   f"{len(keeper.records)} log records, {events} Dagster events")
    figures.record("security", "secret occurrences found", 0, "",
                   f"the simulator received the cookies on {len(cookies_seen)} requests")


# --- database roles ------------------------------------------------------------------------

# a view over a join is not updatable at all (ObjectNotInPrerequisiteState): refused before privileges
_PRIVILEGE_ERRORS = (psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction,
                     psycopg.errors.ObjectNotInPrerequisiteState)


def _write_attempts(conn: psycopg.Connection) -> list[str]:
    """Every write we can think of on every table and view of every schema, plus object creation."""
    relations = conn.execute(
        "SELECT n.nspname, c.relname, c.relkind, a.attname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN LATERAL (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum > 0 "
        "              AND NOT attisdropped AND attidentity = '' AND attgenerated = '' "
        "              ORDER BY attnum LIMIT 1) a ON true "
        "WHERE n.nspname IN ('warehouse', 'analytics', 'public') AND c.relkind IN ('r', 'v', 'm', 'p') "
        "ORDER BY 1, 2").fetchall()
    assert any(s == "warehouse" for s, *_ in relations) and any(s == "analytics" for s, *_ in relations)
    attempts = []
    for schema, name, kind, column in relations:
        t = f'"{schema}"."{name}"'
        c = f'"{column}"'
        what = "VIEW" if kind == "v" else "TABLE"
        attempts += [f"INSERT INTO {t} DEFAULT VALUES",
                     f"INSERT INTO {t} ({c}) SELECT {c} FROM {t} LIMIT 1",
                     f"UPDATE {t} SET {c} = {c}",
                     f"DELETE FROM {t}",
                     f"DROP {what} {t}",
                     f"ALTER {what} {t} RENAME TO intruder",
                     f"GRANT ALL ON {t} TO PUBLIC",
                     f"COMMENT ON {what} {t} IS 'intruder'",
                     f"LOCK TABLE {t} IN ACCESS EXCLUSIVE MODE",
                     f"CREATE RULE intruder AS ON INSERT TO {t} DO INSTEAD NOTHING",
                     f"DO $$ BEGIN DELETE FROM {t}; END $$"]
        if kind != "v":
            attempts += [f"TRUNCATE {t}", f"ALTER TABLE {t} ADD COLUMN intruder int",
                         f"CREATE INDEX intruder_idx ON {t} ({c})", f"SELECT * FROM {t} LIMIT 1 FOR UPDATE",
                         f"COPY {t} ({c}) FROM STDIN"]
    for schema in ("public", "analytics", "warehouse"):
        attempts += [f"CREATE TABLE {schema}.intruder (x int)",
                     f"CREATE VIEW {schema}.intruder AS SELECT 1 AS x",
                     f"CREATE SEQUENCE {schema}.intruder",
                     f"CREATE FUNCTION {schema}.intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
                     f"CREATE TYPE {schema}.intruder AS (x int)",
                     f"CREATE MATERIALIZED VIEW {schema}.intruder AS SELECT 1 AS x"]
    sequences = conn.execute("SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                             "WHERE c.relkind = 'S' AND n.nspname IN ('warehouse', 'analytics', 'public')").fetchall()
    for schema, name in sequences:
        attempts += [f"SELECT nextval('\"{schema}\".\"{name}\"')", f"SELECT setval('\"{schema}\".\"{name}\"', 1)"]
    attempts += ["CREATE SCHEMA intruder", "SELECT lo_create(0)", "SELECT lo_creat(-1)",
                 "SELECT lo_from_bytea(0, 'intruder')", "SELECT lo_import('/etc/hostname')",
                 "CREATE ROLE intruder", "ALTER ROLE postgres NOLOGIN",
                 "CREATE PUBLICATION intruder FOR ALL TABLES", "SELECT pg_stat_reset()",
                 f'ALTER DATABASE "{conn.info.dbname}" SET default_transaction_read_only = off']
    # trusted extensions may be created by any role with CREATE on the database; which ones a
    # server ships differs (the embedded server has few), so try those this server offers
    offered = conn.execute(
        "SELECT name FROM pg_available_extensions WHERE installed_version IS NULL AND name IN "
        "('pgcrypto', 'hstore', 'citext', 'pg_trgm', 'ltree', 'tablefunc', 'intarray', 'btree_gist', "
        "'fuzzystrmatch', 'isn', 'cube', 'seg', 'unaccent', 'tcn', 'lo', 'dict_int', 'plperl') "
        "ORDER BY name LIMIT 3").fetchall()
    attempts += [f"CREATE EXTENSION {name}" for (name,) in offered]
    return attempts


def _try(conn: psycopg.Connection, statement: str, notices: list[str]) -> str:
    """'refused' when PostgreSQL refuses for lack of privilege (or read-only), else what happened."""
    notices.clear()
    try:
        with conn.transaction():
            if statement.startswith("COPY"):
                with conn.cursor().copy(statement) as copy:
                    copy.write_row([None])
            else:
                conn.execute(statement)
        if statement.startswith("GRANT") and any("no privileges were granted" in n for n in notices):
            return "refused"  # GRANT without the grant option only warns (the ACLs are compared too)
        return "DONE"
    except _PRIVILEGE_ERRORS:
        return "refused"
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:
        if "view" in str(exc):  # a view nobody can write through (joins, aggregates): refused before privileges
            return "refused"
        return f"failed otherwise: {type(exc).__name__}: {str(exc).splitlines()[0]}"
    except psycopg.Error as exc:
        return f"failed otherwise: {type(exc).__name__}: {str(exc).splitlines()[0]}"


def test_the_api_and_tableau_roles_cannot_write(database_url, figures):
    from tradewatch.warehouse.roles import API_ROLE, READER_ROLE, apply_api_password, apply_reader_password
    from pydantic import SecretStr as Secret

    # some data, so that a DELETE or UPDATE would have something to hit
    from tradewatch.warehouse.db import get_pool
    from tradewatch.cli.simulated_history import simulate_history
    from tradewatch.warehouse.snapshots import compute_snapshots

    watchlist = load_watchlist()
    end = floor_hour(utc_now())
    simulate_history(get_pool(database_url), watchlist, end - timedelta(hours=2), end, seed=3)
    compute_snapshots(get_pool(database_url), watchlist, end - timedelta(hours=2), end)

    apply_reader_password(database_url, Secret("reader-test-pw"))
    apply_api_password(database_url, Secret("api-test-pw"))

    def catalog_state() -> tuple:
        with psycopg.connect(database_url, autocommit=True) as conn:
            objects = conn.execute("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                   "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') "
                                   "AND n.nspname NOT LIKE 'pg_temp%' AND n.nspname NOT LIKE 'pg_toast_temp%'"
                                   ).fetchone()[0]
            schemas = conn.execute("SELECT count(*) FROM pg_namespace").fetchone()[0]
            large_objects = conn.execute("SELECT count(*) FROM pg_largeobject_metadata").fetchone()[0]
            functions = conn.execute("SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                                     "WHERE n.nspname IN ('public', 'warehouse', 'analytics')").fetchone()[0]
            roles = conn.execute("SELECT count(*), bool_and(rolcanlogin) FILTER (WHERE rolname = 'postgres') "
                                 "FROM pg_roles").fetchone()
            db_settings = conn.execute("SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d "
                                       "ON d.oid = s.setdatabase WHERE d.datname = current_database()").fetchone()[0]
            acls = conn.execute("SELECT md5(string_agg(c.relname || coalesce(c.relacl::text, ''), ',' ORDER BY c.oid)) "
                                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname IN ('public', 'warehouse', 'analytics')").fetchone()[0]
        return objects, schemas, large_objects, functions, roles, db_settings, acls

    before_rows, before_catalog = table_counts(database_url), catalog_state()
    outcomes: dict[str, list[tuple[str, str]]] = {}
    attempts_made = 0
    for role, password, readable in ((API_ROLE, "api-test-pw", "SELECT count(*) FROM warehouse.price_snapshots"),
                                     (READER_ROLE, "reader-test-pw", "SELECT count(*) FROM analytics.price_history")):
        with psycopg.connect(with_user(database_url, role, password), autocommit=True) as conn:
            assert conn.execute("SELECT current_user").fetchone()[0] == role
            assert conn.execute(readable).fetchone()[0] > 0  # it can read what it is for: refusals are real
            notices: list[str] = []
            conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
            attempts = _write_attempts(conn)
            for statement in attempts:
                outcomes.setdefault(f"{role}", []).append((statement, _try(conn, statement, notices)))
            # the read-only default is a default: switch it off, and privileges alone must still refuse
            conn.execute("SET default_transaction_read_only = off")
            conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE")
            for statement in attempts:
                outcomes.setdefault(f"{role} (read-only off)", []).append((statement, _try(conn, statement, notices)))
            attempts_made += 2 * len(attempts)

    not_refused = [(who, s, o) for who, tried in outcomes.items() for s, o in tried if o != "refused"]
    assert not not_refused, "\n".join(f"{who}: {s} -> {o}" for who, s, o in not_refused)
    assert table_counts(database_url) == before_rows
    assert catalog_state() == before_catalog
    figures.record("security", "write attempts by the read-only roles", attempts_made, "statements",
                   "tradewatch_api and tradewatch_reader; each statement also after "
                   "SET default_transaction_read_only = off")
    figures.record("security", "write attempts refused", attempts_made - len(not_refused), "statements",
                   "INSERT/UPDATE/DELETE/TRUNCATE/DROP/ALTER/COPY/LOCK/... on every table and view, "
                   "CREATE in public/analytics/warehouse, sequences, large objects, roles")


# --- API keys, every route -------------------------------------------------------------------

KEY = "k-" + uuid.uuid4().hex
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path) or "/"


def _every_route(routes, prefix: str = "") -> list[tuple[str, str]]:
    """(kind, path) of every route of the app, walking into mounts."""
    from starlette.routing import Host, Mount, Route, WebSocketRoute

    found = []
    for route in routes:
        if isinstance(route, Route):
            found.append(("http", _concrete(prefix + route.path)))
        elif isinstance(route, WebSocketRoute):
            found.append(("websocket", _concrete(prefix + route.path)))
        elif isinstance(route, Mount):
            inner = getattr(route, "routes", None) or []
            base = _concrete(prefix + route.path)
            if inner:
                found += _every_route(inner, base)
            else:  # a mounted app answers anything under its path, and may speak WebSocket
                found += [("http", base + "/"), ("http", base + "/anything"), ("websocket", base + "/")]
        elif isinstance(route, Host):
            found += _every_route(route.routes, prefix)
        else:
            pytest.fail(f"unknown route type {type(route).__name__}: extend the route walk")
    return found


@pytest.fixture(scope="module")
def locked_api(pg_server_url, _template_db):
    name, url = create_database(pg_server_url, "tw_sec", template=_template_db)
    api = serve_api(url, load_watchlist(), api_keys=frozenset({KEY, "other-key"}),
                    cors_origins=("https://dash.example",))
    yield api
    api.stop()
    drop_database(pg_server_url, name)


def test_with_api_keys_every_route_but_health_refuses_requests_without_a_valid_one(locked_api, figures):
    routes = sorted(set(_every_route(locked_api.server.config.app.routes)))
    paths = {p for kind, p in routes if kind == "http"}
    assert {"/health", "/graphql", "/export/price-series.csv"} <= paths
    paths |= {"/", "/no-such-route", "/graphql?query=%7B%20items%20%7B%20id%20%7D%20%7D", "/HEALTH", "/health/"}
    client = locked_api.client
    wrong_keys = [{}, {"x-api-key": "wrong"}, {"x-api-key": KEY[:-1]}, {"x-api-key": KEY + "x"},
                  {"x-api-key": KEY.upper()}, {"authorization": f"Basic {KEY}"}, {"authorization": "Bearer"},
                  {"authorization": f"Token {KEY}"}, {"x-api-key": ""}, {"cookie": f"x-api-key={KEY}"}]
    right_keys = [{"x-api-key": KEY}, {"authorization": f"Bearer {KEY}"}, {"x-api-key": "other-key"}]
    refused = answered = requests = 0
    problems = []
    for path in sorted(paths):
        for method in METHODS:
            for headers in wrong_keys + [dict(h, accept="text/html") for h in wrong_keys[:2]]:
                response = client.request(method, path, headers=headers)
                requests += 1
                if path == "/health":
                    if response.status_code == 401:
                        problems.append(f"{method} {path} needs a key")
                    continue
                if response.status_code != 401:
                    problems.append(f"{method} {path} {headers} -> {response.status_code} without a valid key")
                    continue
                refused += 1
                if method != "HEAD":
                    body = response.json()
                    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
                    assert "graphiql" not in response.text.lower() and "<html" not in response.text.lower()
            for headers in right_keys:
                response = client.request(method, path, headers=headers)
                requests += 1
                answered += response.status_code != 401
                if response.status_code == 401:
                    problems.append(f"{method} {path} refuses the right key {list(headers)}")
    assert not problems, "\n".join(problems)
    # the GraphiQL page is behind the key too (it used to be exempt)
    page = client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 401 and "graphiql" not in page.text.lower()
    assert "graphiql" in client.get("/graphql", headers={"accept": "text/html", "x-api-key": KEY}).text.lower()
    # a CORS preflight carries no key and no data: it passes, the real request then needs the key
    preflight = client.options("/graphql", headers={"origin": "https://dash.example",
                                                    "access-control-request-method": "POST",
                                                    "access-control-request-headers": "content-type,x-api-key"})
    assert preflight.status_code == 200 and "x-api-key" in preflight.headers["access-control-allow-headers"].lower()
    assert "data" not in preflight.text
    figures.record("security", "routes checked with API keys on", len(paths), "paths",
                   f"{len(routes)} routes found by walking app.routes (incl. mounts): "
                   + ", ".join(sorted(paths - {'/', '/no-such-route', '/HEALTH', '/health/'})[:12]))
    figures.record("security", "requests without a valid key refused", refused, "requests",
                   f"{len(METHODS)} methods x {len(wrong_keys) + 2} missing/wrong key forms per path; "
                   "/health alone answers")
    figures.record("security", "requests with a valid key answered", answered, "requests")


def test_websocket_handshakes_need_a_key_too(locked_api):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    routes = _every_route(locked_api.server.config.app.routes)
    sockets = sorted({p for kind, p in routes if kind == "websocket"} | {"/graphql/", "/graphql"})
    for path in sockets:
        with pytest.raises(InvalidStatus) as refused:
            with connect(f"ws://127.0.0.1:{locked_api.port}{path}", subprotocols=["graphql-transport-ws"],
                         open_timeout=10):
                pass
        assert refused.value.response.status_code in (403, 404)
    # even with the key there is no WebSocket transport for GraphQL (the schema has no subscriptions)
    try:
        with connect(f"ws://127.0.0.1:{locked_api.port}/graphql/", subprotocols=["graphql-transport-ws"],
                     additional_headers={"x-api-key": KEY}, open_timeout=10) as ws:
            ws.send(json.dumps({"type": "connection_init"}))
            answer = ws.recv(timeout=10)
            pytest.fail(f"a WebSocket GraphQL session was opened: {answer!r}")
    except InvalidStatus:
        pass
    except Exception as exc:  # closed by the server after the handshake: no session either
        assert "4406" in str(exc) or "close" in type(exc).__name__.lower() or "Connection" in type(exc).__name__, exc


def test_graphiql_can_be_turned_off_for_production(figures):
    from tradewatch.warehouse.db import close_pools

    watchlist = load_watchlist()
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"  # `items` needs no database
    off = serve_api(url, watchlist, graphiql=False)
    on = serve_api(url, watchlist)
    try:
        query = {"query": "{ items(search: \"greed\") { id } }"}
        for path in ("/graphql", "/graphql/"):
            page = off.client.get(path, headers={"accept": "text/html"})
            assert page.status_code in (404, 405) or page.headers["content-type"].startswith("application/json")
            assert "graphiql" not in page.text.lower() and "<html" not in page.text.lower()
            assert "graphiql" in on.client.get(path, headers={"accept": "text/html"}).text.lower()
        for client in (off.client, on.client):
            assert client.post("/graphql", json=query).json()["data"] == {"items": [{"id": GREED}]}
            assert client.get("/graphql", params=query).json()["data"] == {"items": [{"id": GREED}]}
    finally:
        off.stop()
        on.stop()
        close_pools()
    figures.record("security", "GraphiQL with TRADEWATCH_GRAPHIQL=0", "off", "",
                   "GET /graphql (text/html) answers 404 without the IDE; POST and GET queries still answer")
