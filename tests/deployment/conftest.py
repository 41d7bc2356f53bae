"""Fixtures for the deployment tests: the compose file raw and resolved with a filled-in .env."""

from __future__ import annotations

import pytest

from .deploy_files import COMPOSE_ENV_EXAMPLE, env_file_values, interpolate, load_compose

# What a user would put into .env: the example, with every empty secret filled in. URL-safe
# values, as the example asks; distinct, so a test can tell which one ended up where.
FILLED = {
    "POSTGRES_PASSWORD": "owner-pw-1f3a",
    "TRADEWATCH_API_PASSWORD": "api-pw-77c2",
    "TRADEWATCH_READER_PASSWORD": "reader-pw-09be",
    "TRADEWATCH_API_KEYS": "key-one-5f0c1d2e3a4b,key-two-9e8d7c6b5a41",
}


@pytest.fixture(scope="session")
def compose_raw() -> dict:
    return load_compose()


@pytest.fixture(scope="session")
def dot_env() -> dict[str, str]:
    values = env_file_values(COMPOSE_ENV_EXAMPLE)
    values.update(FILLED)
    return values


@pytest.fixture(scope="session")
def compose(compose_raw, dot_env) -> dict:
    """docker-compose.yml as `docker compose config` would see it with that .env."""
    return interpolate(compose_raw, dot_env)


@pytest.fixture(scope="session")
def ours(compose) -> dict[str, dict]:
    """The services that run the TradeWatch image (everything but postgres)."""
    return {name: service for name, service in compose["services"].items() if "build" in service}
