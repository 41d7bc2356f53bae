"""The API's own settings, read from the environment (and `.env`) next to the core settings.

Names (all optional; listed in `.env.example`):

* `TRADEWATCH_API_DATABASE_URL` — the URL the API reads with; meant for the read-only
  role `tradewatch_reader`. Default: the warehouse URL (`TRADEWATCH_DATABASE_URL` or the
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

Keys fail closed: `TRADEWATCH_API_KEYS` set but holding no key (e.g. `" , "`) or holding a
key shorter than MIN_KEY_CHARS is a ConfigError, never a silent "no keys, no auth".
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from tradewatch.errors import ConfigError
from tradewatch.settings import merged_environment


@dataclass(frozen=True)
class ApiSettings:
    database_url: str | None = None
    statement_timeout_ms: int = 5000
    api_keys: frozenset[str] = field(default=frozenset(), repr=False)
    cors_origins: tuple[str, ...] = ()
    graphiql: bool = True
    introspection: bool = True
    max_body_bytes: int = 1_048_576
    max_variable_values: int = 10_000
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")


MIN_KEY_CHARS = 16
_SWITCH_VALUES = ("", "0", "1", "true", "false", "yes", "no", "on", "off")


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw not in _SWITCH_VALUES:
        raise ConfigError(f"{name}={raw!r} must be 1 or 0")
    return default if raw == "" else raw in ("1", "true", "yes", "on")


def _positive_int(env: Mapping[str, str], name: str, default: int, unit: str) -> int:
    raw = env.get(name, "").strip() or str(default)
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number of {unit} (default {default})") from None
    if value < 1:
        raise ConfigError(f"{name}={raw!r} must be at least 1 (default {default})")
    return value


def _api_keys(env: Mapping[str, str]) -> frozenset[str]:
    """The keys; set-but-empty or a short key refuses to start (the value itself is never echoed)."""
    if not env.get("TRADEWATCH_API_KEYS"):  # unset or empty: no keys asked (the documented default)
        return frozenset()
    keys = _split(env["TRADEWATCH_API_KEYS"])
    how = "generate one with `openssl rand -hex 32` (or leave the variable unset to serve without keys)"
    if not keys:
        raise ConfigError(f"TRADEWATCH_API_KEYS is set but holds no key (only commas and spaces); {how}")
    short = sum(len(key) < MIN_KEY_CHARS for key in keys)
    if short:
        raise ConfigError(f"TRADEWATCH_API_KEYS holds {short} key(s) shorter than {MIN_KEY_CHARS} characters; {how}")
    return frozenset(keys)


def _allowed_hosts(env: Mapping[str, str]) -> tuple[str, ...]:
    hosts = _split(env.get("TRADEWATCH_ALLOWED_HOSTS")) or ApiSettings.allowed_hosts
    for host in hosts:
        if host != "*" and not re.fullmatch(r"(\*\.)?[A-Za-z0-9._-]+", host):
            raise ConfigError(f"TRADEWATCH_ALLOWED_HOSTS: {host[:80]!r} is not a host name such as "
                              "api.example.com, *.example.com or 127.0.0.1 (no scheme, port or path)")
    return hosts


def load_api_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> ApiSettings:
    """Read the API settings; a malformed value raises ConfigError naming the variable."""
    env = merged_environment(os.environ if environ is None else environ, env_file)

    url = env.get("TRADEWATCH_API_DATABASE_URL", "").strip() or None
    if url is not None and not url.startswith(("postgresql://", "postgres://", "postgresql+")):
        raise ConfigError("TRADEWATCH_API_DATABASE_URL must be a PostgreSQL URL such as "
                          "postgresql://tradewatch_api:secret@host:5432/tradewatch (unset = the warehouse URL)")
    raw_timeout = env.get("TRADEWATCH_API_STATEMENT_TIMEOUT_MS", "").strip() or "5000"
    try:
        timeout = int(raw_timeout)
    except ValueError:
        raise ConfigError(f"TRADEWATCH_API_STATEMENT_TIMEOUT_MS={raw_timeout!r} is not a whole number of milliseconds") from None
    if timeout < 1:
        raise ConfigError(f"TRADEWATCH_API_STATEMENT_TIMEOUT_MS={raw_timeout!r} must be at least 1")
    return ApiSettings(
        database_url=url,
        statement_timeout_ms=timeout,
        api_keys=_api_keys(env),
        cors_origins=_split(env.get("TRADEWATCH_CORS_ORIGINS")),
        graphiql=_switch(env, "TRADEWATCH_GRAPHIQL", True),
        introspection=_switch(env, "TRADEWATCH_INTROSPECTION", True),
        max_body_bytes=_positive_int(env, "TRADEWATCH_API_MAX_BODY_BYTES", ApiSettings.max_body_bytes, "bytes"),
        max_variable_values=_positive_int(env, "TRADEWATCH_API_MAX_VARIABLE_VALUES",
                                          ApiSettings.max_variable_values, "values"),
        allowed_hosts=_allowed_hosts(env),
    )
