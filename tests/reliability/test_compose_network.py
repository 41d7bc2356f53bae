"""The compose deployment is segmented (reliability section "hardening").

The reachability graph is computed from docker-compose.yml (resolved with a filled-in .env, as
`docker compose config` would): two containers reach each other when they share a network.
The `graphql` container, the one clients talk to, must reach PostgreSQL and nothing else (the
Dagster code server speaks unauthenticated gRPC and holds the owner's password and the
cookies), while every address a service is configured to use stays reachable. The API runs
there with introspection off, keys that pass the key rules and a Host check that lets the
healthcheck through.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import yaml

from deployment.conftest import FILLED
from deployment.deploy_files import (COMPOSE_ENV_EXAMPLE, WORKSPACE_FILE, commented_env_values, env_file_values,
                                     interpolate, load_compose, service_environment)
from graphql_api.config import MIN_KEY_CHARS, load_api_settings

DAGSTER_SERVICES = {"code", "webserver", "daemon"}
URL_VARIABLES = ("TRADEWATCH_DATABASE_URL", "TRADEWATCH_DAGSTER_PG_URL", "TRADEWATCH_API_DATABASE_URL",
                 "TRADEWATCH_TRADE_API_URL")


def _compose(extra: dict[str, str] | None = None) -> dict:
    env = {**env_file_values(COMPOSE_ENV_EXAMPLE), **FILLED, **(extra or {})}
    return interpolate(load_compose(), env)


def networks_of(service: dict) -> set[str]:
    networks = service.get("networks")
    return {"default"} if networks is None else set(networks)


def reachability(services: dict[str, dict]) -> dict[str, set[str]]:
    """service -> the other services it can open a connection to (a shared network)."""
    return {name: {other for other, svc in services.items() if other != name and networks_of(service) & networks_of(svc)}
            for name, service in services.items()}


def configured_peers(name: str, service: dict) -> set[str]:
    """The services `name` is configured to talk to: hosts of its URLs, the workspace's code server."""
    env = service_environment(service)
    hosts = {urlsplit(env[var]).hostname for var in URL_VARIABLES if env.get(var)}
    if name in ("webserver", "daemon"):
        [entry] = yaml.safe_load(WORKSPACE_FILE.read_text())["load_from"]
        hosts.add(entry["grpc_server"]["host"])
    return hosts


def test_the_api_container_reaches_postgres_and_nothing_else(figures):
    compose = _compose()
    services = compose["services"]
    declared = set(compose.get("networks") or {})
    for name, service in services.items():
        assert "network_mode" not in service, f"{name}: network_mode bypasses the segmentation"
        assert service.get("networks"), f"{name}: no networks listed, so it would join the flat default network"
        assert networks_of(service) <= declared, f"{name}: undeclared network {networks_of(service) - declared}"
    reach = reachability(services)
    assert reach["graphql"] == {"postgres"}, reach["graphql"]
    for name in DAGSTER_SERVICES:
        assert "graphql" not in reach[name], name
        assert not networks_of(services[name]) & networks_of(services["graphql"]), name
    # nothing is cut that is needed: every configured peer is reachable, demo simulator included
    demo = _compose(commented_env_values(COMPOSE_ENV_EXAMPLE))
    checked = 0
    for variant in (compose, demo):
        for name, service in variant["services"].items():
            for peer in configured_peers(name, service):
                if peer in variant["services"]:
                    assert peer in reach[name], f"{name} is configured to use {peer} but shares no network with it"
                    checked += 1
    pairs = sum(len(peers) for peers in reach.values()) // 2
    figures.record("hardening", "compose reachability", "graphql → postgres only", "",
                   f"{len(services)} services on networks {sorted(declared)}; {pairs} reachable pairs of "
                   f"{len(services) * (len(services) - 1) // 2}; graphql cannot reach code:4000 or webserver:3000; "
                   f"{checked} configured connections (URLs, workspace, demo simulator) all reachable")


def test_the_compose_api_runs_without_introspection_with_real_keys_and_a_host_check():
    graphql = _compose()["services"]["graphql"]
    settings = load_api_settings(environ=service_environment(graphql), env_file=None)
    assert settings.introspection is False and settings.graphiql is False
    assert settings.api_keys and all(len(key) >= MIN_KEY_CHARS for key in settings.api_keys)
    # the healthcheck calls http://127.0.0.1:8000/health: its Host must be allowed
    health_url = next(part for part in graphql["healthcheck"]["test"] if "http://" in part)
    assert urlsplit(health_url.split("'")[1]).hostname in settings.allowed_hosts
    with_proxy = _compose({"TRADEWATCH_ALLOWED_HOSTS": "api.example.com"})["services"]["graphql"]
    hosts = load_api_settings(environ=service_environment(with_proxy), env_file=None).allowed_hosts
    assert set(hosts) == {"127.0.0.1", "localhost", "api.example.com"}
    command = graphql["command"]
    assert "--limit-concurrency" in command and "--timeout-keep-alive" in command
