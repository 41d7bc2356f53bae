"""docker-compose.yml: every service starts something real, gets the settings it needs and
nothing TradeWatch does not read, starts in the right order, keeps secrets out of the file
and publishes ports on loopback only."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import yaml

from graphql_api.config import load_api_settings
from tradewatch.warehouse.db import psycopg2_url
from tradewatch.warehouse.roles import API_ROLE
from tradewatch.settings import REAL_TRADE_API_URL, load_settings

from .conftest import FILLED
from .deploy_files import (
    COMPOSE_ENV_EXAMPLE, ENV_EXAMPLE, ROOT, WORKSPACE_FILE, CommandError, MissingVariable, check_command,
    commented_env_values, dagster_yaml_env_names, dockerfile_env, env_file_names, interpolate, option_value,
    parse_dockerfile, references, service_environment, unknown_variable,
)

SECRET_WORDS = ("PASSWORD", "KEY", "SECRET", "TOKEN", "POESESSID", "CF_CLEARANCE")


@pytest.fixture(autouse=True)
def _in_the_image_workdir(monkeypatch):
    # the image's WORKDIR holds workspace.compose.yaml, as the repository root does
    monkeypatch.chdir(ROOT)


def container_env(service: dict) -> dict[str, str]:
    """What the process in the container sees: the image's ENV overlaid by the service's."""
    return {**dockerfile_env(parse_dockerfile()), **service_environment(service)}


def healthcheck_argv(service: dict) -> list[str] | None:
    test = (service.get("healthcheck") or {}).get("test")
    if not test:
        return None
    if isinstance(test, str):
        return ["sh", "-c", test]
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", test[1]]
    assert test[0] == "CMD", f"healthcheck test must start with CMD or CMD-SHELL: {test}"
    return test[1:]


def runs_dagster(argv: list[str]) -> bool:
    return any(token.startswith("dagster") for token in " ".join(argv).split())


def test_the_expected_services_exist(compose):
    assert {"postgres", "migrate", "code", "webserver", "daemon", "graphql", "sim"} <= set(compose["services"])


def test_every_command_and_healthcheck_runs_a_real_entry_point_with_options_it_accepts(ours):
    problems = []
    for name, service in ours.items():
        for what, argv in (("command", service.get("command")), ("entrypoint", service.get("entrypoint")),
                           ("healthcheck", healthcheck_argv(service))):
            if argv is None:
                continue
            assert isinstance(argv, list), f"{name}.{what}: use the exec (list) form, not a shell string"
            try:
                check_command(argv)
            except (CommandError, SyntaxError) as exc:
                problems.append(f"{name}.{what}: {exc}")
    assert not problems, "\n".join(problems)


def test_the_command_check_catches_a_wrong_verb_module_or_flag():
    # without this the test above could pass by checking nothing
    for argv in (["tradewatch", "serv"], ["tradewatch", "serve", "--hots", "0.0.0.0"], ["python", "-m", "trade_simm"],
                 ["dagster", "code-server", "begin"], ["dagster-webserver", "--no-such-flag"],
                 ["dagster-daemon", "run", "--port", "1"]):
        with pytest.raises(CommandError):
            check_command(argv)


def test_every_variable_set_anywhere_is_one_tradewatch_or_dagster_reads(compose):
    problems = []
    for name, service in compose["services"].items():
        # the postgres image reads its own POSTGRES_* variables
        allowed = ("POSTGRES_",) if name == "postgres" else ()
        problems += [f"{name}: {why}" for var in service_environment(service)
                     if (why := unknown_variable(var, allowed))]
    for var in dockerfile_env(parse_dockerfile()):
        if why := unknown_variable(var, ("PYTHON", "PIP_")):
            problems.append(f"Dockerfile ENV: {why}")
    for path in (COMPOSE_ENV_EXAMPLE, ENV_EXAMPLE):
        for var in env_file_names(path):
            # compose's own (COMPOSE_PROFILES) and the postgres service's are read by them, not us
            if why := unknown_variable(var, ("COMPOSE_", "POSTGRES_")):
                problems.append(f"{path.relative_to(ROOT)}: {why}")
    assert not problems, "\n".join(problems)


def test_the_variable_check_catches_a_typo():
    assert unknown_variable("TRADEWATCH_DATABASE_URL") is None
    assert unknown_variable("TRADEWATCH_DATABSE_URL") is not None
    assert unknown_variable("POESESID") is not None
    assert unknown_variable("DAGSTER_HOME") is None and unknown_variable("DAGSTER_HOMME") is not None


def test_env_example_lists_every_variable_the_compose_file_interpolates(compose_raw):
    used = {name for name, _, _ in references(compose_raw)}
    documented = env_file_names(COMPOSE_ENV_EXAMPLE)
    assert used - documented == set(), "interpolated in docker-compose.yml but not in deploy/compose.env.example"
    # and nothing in the example is dead: each entry reaches docker compose itself or a service
    assert {name for name in documented - used if not name.startswith("COMPOSE_")} == set()


def test_secrets_only_come_from_the_environment_and_compose_stops_without_them(compose_raw, dot_env):
    text = (ROOT / "docker-compose.yml").read_text()
    for value in FILLED.values():
        assert value not in text
    checked_urls = []
    for name, service in compose_raw["services"].items():
        for var, raw in service_environment(service).items():
            if any(word in var for word in SECRET_WORDS):
                # a secret is exactly one reference to the same-named variable: no literal, no default
                assert raw in (f"${{{var}:-}}",) or (raw.startswith(f"${{{var}:?") and raw.endswith("}")), \
                    f"{name}.{var} = {raw!r}: take it from the environment as ${{{var}:?...}}"
            # (not urlsplit: the `/` in a `${VAR:?message}` would end its netloc early)
            url = re.match(r"^[a-z][a-z0-9+.-]*://(?P<userinfo>.*)@[^@]*$", raw)
            if url and ":" in url.group("userinfo"):
                password = url.group("userinfo").split(":", 1)[1]
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", password), f"{name}.{var}: password written into the URL"
                checked_urls.append(f"{name}.{var}")
    assert "graphql.TRADEWATCH_API_DATABASE_URL" in checked_urls and "code.TRADEWATCH_DATABASE_URL" in checked_urls
    required = {name for name, op, _ in references(compose_raw) if op == ":?"}
    assert {"POSTGRES_PASSWORD", "TRADEWATCH_API_PASSWORD", "TRADEWATCH_API_KEYS"} <= required
    for name in required:
        without = {key: value for key, value in dot_env.items() if key != name}
        with pytest.raises(MissingVariable) as missing:
            interpolate(compose_raw, without)
        assert missing.value.name == name and ".env" in missing.value.message


def test_each_service_gets_the_settings_it_needs(compose, ours, dot_env):
    postgres_env = service_environment(compose["services"]["postgres"])
    owner = (postgres_env["POSTGRES_USER"], postgres_env["POSTGRES_PASSWORD"])
    database = postgres_env["POSTGRES_DB"]
    assert owner[1] == dot_env["POSTGRES_PASSWORD"]

    def points_at_postgres(url: str, user: str, password: str) -> None:
        parts = urlsplit(url)
        assert (parts.hostname, parts.port or 5432, parts.path.lstrip("/")) == ("postgres", 5432, database), url
        assert (parts.username, parts.password) == (user, password)

    for name, service in ours.items():
        env = container_env(service)
        if runs_dagster(service["command"]):
            # the Dagster instance: $DAGSTER_HOME/dagster.yaml and every variable it reads
            assert env.get("DAGSTER_HOME"), f"{name}: DAGSTER_HOME is not set"
            for var in dagster_yaml_env_names():
                assert env.get(var), f"{name}: dagster.yaml reads {var}, which is not set"
            pg_url = env["TRADEWATCH_DAGSTER_PG_URL"]
            assert urlsplit(pg_url).scheme == "postgresql+psycopg2"  # dagster-postgres breaks on psycopg 3
            points_at_postgres(pg_url, *owner)
        settings = load_settings(environ=env, env_file=None)  # every value parses
        if name in ("migrate", "code"):
            # without a URL TradeWatch would start an embedded PostgreSQL inside the container
            assert settings.database_url, f"{name}: TRADEWATCH_DATABASE_URL is not set"
            points_at_postgres(settings.database_url, *owner)
            assert psycopg2_url(settings.database_url) == env["TRADEWATCH_DAGSTER_PG_URL"]

    migrate = container_env(ours["migrate"])
    assert load_settings(environ=migrate, env_file=None).api_password.get_secret_value() == dot_env["TRADEWATCH_API_PASSWORD"]
    assert load_settings(environ=migrate, env_file=None).reader_password.get_secret_value() == dot_env["TRADEWATCH_READER_PASSWORD"]

    graphql = container_env(ours["graphql"])
    api = load_api_settings(environ=graphql, env_file=None)
    points_at_postgres(api.database_url, API_ROLE, dot_env["TRADEWATCH_API_PASSWORD"])
    assert api.graphiql is False
    assert api.api_keys == frozenset(dot_env["TRADEWATCH_API_KEYS"].split(","))
    # the API container never holds the owner's password
    assert not any(owner[1] in value for value in graphql.values())

    code = load_settings(environ=container_env(ours["code"]), env_file=None)
    assert code.trade_api_url == REAL_TRADE_API_URL


def test_the_sim_profile_runs_the_simulator_where_the_demo_url_points(compose_raw, compose, dot_env):
    sim = compose["services"]["sim"]
    assert sim["profiles"] == ["sim"]
    check_command(sim["command"])
    assert sim["command"][:3] == ["python", "-m", "trade_sim"]
    demo = commented_env_values(COMPOSE_ENV_EXAMPLE)
    assert demo["COMPOSE_PROFILES"] == "sim"
    url = urlsplit(demo["TRADEWATCH_TRADE_API_URL"])
    assert (url.hostname, url.port) == ("sim", int(option_value(sim["command"], "--port")))
    assert option_value(sim["command"], "--host") == "0.0.0.0"
    # with the demo lines in .env the code location, which runs the fetches, talks to the simulator
    demo_compose = interpolate(compose_raw, {**dot_env, **demo})
    code_env = container_env(demo_compose["services"]["code"])
    assert load_settings(environ=code_env, env_file=None).trade_api_url == demo["TRADEWATCH_TRADE_API_URL"]
    # and only services outside the profile start by default; none needs the simulator to start
    for name, service in compose["services"].items():
        if name != "sim":
            assert "profiles" not in service, name
            assert (service.get("depends_on") or {}).get("sim", {"required": False})["required"] is False, name


def test_postgres_has_a_healthcheck_and_keeps_its_data_in_a_named_volume(compose):
    postgres = compose["services"]["postgres"]
    assert "pg_isready" in " ".join(healthcheck_argv(postgres))
    env = service_environment(postgres)
    assert f"-U {env['POSTGRES_USER']}" in " ".join(healthcheck_argv(postgres))
    volumes = [v.split(":") if isinstance(v, str) else [v["source"], v["target"]] for v in postgres["volumes"]]
    data = [source for source, target, *_ in volumes if target == "/var/lib/postgresql/data"]
    assert data and data[0] in compose["volumes"], "the data directory must be a named volume"


def test_services_start_in_order_migrations_first(compose, ours):
    services = compose["services"]
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = rule["condition"]
            assert condition in ("service_started", "service_healthy", "service_completed_successfully")
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target} to be healthy: it has no check"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"].get("restart") == "no"
    for name in set(ours) - {"migrate", "sim"}:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert services[name].get("restart") == "unless-stopped", name
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["code"]["condition"] == "service_healthy"


def test_published_ports_listen_on_loopback_only(compose):
    published = []
    for name, service in compose["services"].items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                host_ip = port.get("host_ip")
            else:
                parts = str(port).split(":")
                host_ip = parts[0] if len(parts) == 3 else None
            assert host_ip == "127.0.0.1", f"{name} publishes {port} on every interface"
            published.append(name)
    assert set(published) == {"postgres", "webserver", "graphql"}


def test_the_compose_workspace_points_at_the_code_service(compose):
    workspace = yaml.safe_load(WORKSPACE_FILE.read_text())
    [entry] = workspace["load_from"]
    server = entry["grpc_server"]
    code = compose["services"]["code"]["command"]
    assert code[:3] == ["dagster", "code-server", "start"]
    assert server["host"] == "code"
    assert option_value(code, "-h", "--host") == "0.0.0.0"  # reachable from the other containers
    assert server["port"] == int(option_value(code, "-p", "--port"))
    assert server["location_name"] == option_value(code, "--location-name")
    assert option_value(code, "-m", "--module-name") == "tradewatch_assets.definitions"
    for name in ("webserver", "daemon"):
        assert option_value(compose["services"][name]["command"], "-w", "--workspace") == WORKSPACE_FILE.name
