"""The API's own settings, read from the environment (and `.env`) next to the core settings.

Names (all optional; listed in `.env.example`):

* `TRADEWATCH_API_DATABASE_URL` — the URL the API reads with; meant for the read-only
  role `tradewatch_api` (migration 0004). Default: the warehouse URL (`TRADEWATCH_DATABASE_URL` or the
  embedded server). Connections are read-only and time-limited whatever the role.
* `TRADEWATCH_API_STATEMENT_TIMEOUT_MS` — PostgreSQL `statement_timeout` (default 5000).
* `TRADEWATCH_API_KEYS` — comma-separated keys; when set, every request but `/health`
  needs one (`X-API-Key: …` or `Authorization: Bearer …`).
* `TRADEWATCH_CORS_ORIGINS` — comma-separated origins allowed to call from a browser
  (`*` for any); unset = no CORS headers.
* `TRADEWATCH_GRAPHIQL` — `0` turns the in-browser GraphiQL off (default on).
* `TRADEWATCH_INTROSPECTION` — `0` refuses `__schema`/`__type` queries (default on; the
  committed SDL documents the schema either way).
* `TRADEWATCH_API_MAX_BODY_BYTES` — the largest request body accepted, on every route
  (default 1048576); a larger one is a 413 before any of it is parsed.
* `TRADEWATCH_API_MAX_VARIABLE_VALUES` — how many values (every scalar, list and object,
  counted through the nesting) the `variables` of one request may hold (default 10000).
* `TRADEWATCH_ALLOWED_HOSTS` — comma-separated `Host` names the API answers (default
  `127.0.0.1,localhost`; `*` for any): a guard against DNS rebinding.

* `TRADEWATCH_API_MAX_COST` — the budget of one request in cost units (≈ 1 ms of server work
  each; `graphql_api/cost.py`), default 1000; a request over it is refused before it runs.

Keys fail closed: `TRADEWATCH_API_KEYS` set but holding no key (e.g. `" , "`) or holding a
key shorter than MIN_KEY_CHARS is a ConfigError, never a silent "no keys, no auth".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from pydantic import Field, field_validator

from tradewatch.errors import ConfigError
from tradewatch.settings import ENV_FILE, EnvSettings, number, split_list

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")
MIN_KEY_CHARS = 16
_HOW_TO_KEY = "generate one with `openssl rand -hex 32` (or leave the variable unset to serve without keys)"


def _switch(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text not in ("", *_TRUE, *_FALSE):
        raise ConfigError(f"{name}={text!r} must be 1 or 0")
    return text not in _FALSE


def _positive_int(name: str, raw: Any, default: int, unit: str) -> int:
    if isinstance(raw, str) and raw.strip():
        try:
            int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a whole number of {unit} (default {default})") from None
    value = number(name, raw, int, minimum=1)
    return value


class ApiSettings(EnvSettings):
    database_url: str | None = Field(None, alias="TRADEWATCH_API_DATABASE_URL")
    statement_timeout_ms: int = Field(5000, alias="TRADEWATCH_API_STATEMENT_TIMEOUT_MS")
    api_keys: frozenset[str] = Field(frozenset(), alias="TRADEWATCH_API_KEYS", repr=False)
    cors_origins: tuple[str, ...] = Field((), alias="TRADEWATCH_CORS_ORIGINS")
    graphiql: bool = Field(True, alias="TRADEWATCH_GRAPHIQL")
    introspection: bool = Field(True, alias="TRADEWATCH_INTROSPECTION")
    max_body_bytes: int = Field(1_048_576, alias="TRADEWATCH_API_MAX_BODY_BYTES")
    max_variable_values: int = Field(10_000, alias="TRADEWATCH_API_MAX_VARIABLE_VALUES")
    allowed_hosts: tuple[str, ...] = Field(("127.0.0.1", "localhost"), alias="TRADEWATCH_ALLOWED_HOSTS")
    max_cost: int = Field(1000, alias="TRADEWATCH_API_MAX_COST")

    _one_line = False  # today's API variables are not checked for control characters
    _blank_is_a_value = frozenset({"api_keys"})  # "TRADEWATCH_API_KEYS= " must not turn keys off

    @field_validator("database_url")
    @classmethod
    def _database(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("postgresql://", "postgres://", "postgresql+")):
            raise ConfigError("TRADEWATCH_API_DATABASE_URL must be a PostgreSQL URL such as "
                              "postgresql://tradewatch_api:secret@host:5432/tradewatch (unset = the warehouse URL)")
        return url

    @field_validator("statement_timeout_ms", mode="before")
    @classmethod
    def _timeout(cls, raw: Any) -> int:
        if isinstance(raw, str) and raw.strip():
            try:
                int(raw)
            except ValueError:
                raise ConfigError(f"TRADEWATCH_API_STATEMENT_TIMEOUT_MS={raw!r} is not a whole number of "
                                  "milliseconds") from None
        return number("TRADEWATCH_API_STATEMENT_TIMEOUT_MS", raw, int, minimum=1)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys(cls, raw: Any) -> frozenset[str]:
        """Set but empty, or a short key, refuses to start (the value itself is never echoed)."""
        keys = split_list(raw)
        if not isinstance(raw, str):  # given in code (tests, embedding apps), not read from the environment
            return frozenset(keys)
        if not keys:
            raise ConfigError(f"TRADEWATCH_API_KEYS is set but holds no key (only commas and spaces); {_HOW_TO_KEY}")
        short = sum(len(key) < MIN_KEY_CHARS for key in keys)
        if short:
            raise ConfigError(f"TRADEWATCH_API_KEYS holds {short} key(s) shorter than {MIN_KEY_CHARS} characters; "
                              f"{_HOW_TO_KEY}")
        return frozenset(keys)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, raw: Any) -> tuple[str, ...]:
        hosts = split_list(raw) or ("127.0.0.1", "localhost")
        for host in hosts:
            if host != "*" and not re.fullmatch(r"(\*\.)?[A-Za-z0-9._-]+", host):
                raise ConfigError(f"TRADEWATCH_ALLOWED_HOSTS: {host[:80]!r} is not a host name such as "
                                  "api.example.com, *.example.com or 127.0.0.1 (no scheme, port or path)")
        return hosts

    @field_validator("max_body_bytes", mode="before")
    @classmethod
    def _body(cls, raw: Any) -> int:
        return _positive_int("TRADEWATCH_API_MAX_BODY_BYTES", raw, 1_048_576, "bytes")

    @field_validator("max_variable_values", mode="before")
    @classmethod
    def _variables(cls, raw: Any) -> int:
        return _positive_int("TRADEWATCH_API_MAX_VARIABLE_VALUES", raw, 10_000, "values")

    @field_validator("max_cost", mode="before")
    @classmethod
    def _max_cost(cls, raw: Any) -> int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            value = raw
        else:
            raw = str(raw).strip()
            try:
                value = int(raw)
            except ValueError:
                raise ConfigError(f"TRADEWATCH_API_MAX_COST={raw[:40]!r} is not a whole number of cost units "
                                  "(e.g. 1000; see the README's request budget)") from None
        if not 1 <= value <= 10**9:
            raise ConfigError(f"TRADEWATCH_API_MAX_COST={str(raw)[:40]!r} must be between 1 and 1000000000")
        return value

    @field_validator("introspection", mode="before")
    @classmethod
    def _introspection(cls, raw: Any) -> bool:
        return _switch("TRADEWATCH_INTROSPECTION", raw)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, raw: Any) -> tuple[str, ...]:
        return split_list(raw)

    @field_validator("graphiql", mode="before")
    @classmethod
    def _graphiql(cls, raw: Any) -> bool:
        return _switch("TRADEWATCH_GRAPHIQL", raw)


def load_api_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = ENV_FILE) -> ApiSettings:
    """Read the API settings; a malformed value raises ConfigError naming the variable."""
    return ApiSettings.load(environ, env_file)
