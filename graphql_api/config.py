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
* `TRADEWATCH_API_MAX_COST` — the budget of one request in cost units (≈ 1 ms of server work
  each; `graphql_api/cost.py`), default 1000; a request over it is refused before it runs.
"""

from __future__ import annotations

import os
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
    max_cost: int = 1000  # TRADEWATCH_API_MAX_COST


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


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
    graphiql_raw = env.get("TRADEWATCH_GRAPHIQL", "1").strip().lower()
    if graphiql_raw not in ("", "0", "1", "true", "false", "yes", "no", "on", "off"):
        raise ConfigError(f"TRADEWATCH_GRAPHIQL={graphiql_raw!r} must be 1 or 0")
    max_cost = _max_cost(env.get("TRADEWATCH_API_MAX_COST", ""))
    return ApiSettings(
        max_cost=max_cost,
        database_url=url,
        statement_timeout_ms=timeout,
        api_keys=frozenset(_split(env.get("TRADEWATCH_API_KEYS"))),
        cors_origins=_split(env.get("TRADEWATCH_CORS_ORIGINS")),
        graphiql=graphiql_raw not in ("0", "false", "no", "off"),
    )


def _max_cost(raw: str) -> int:
    """TRADEWATCH_API_MAX_COST: a whole number of cost units, at least 1 (unset: 1000)."""
    raw = raw.strip()
    if not raw:
        return ApiSettings.max_cost
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"TRADEWATCH_API_MAX_COST={raw[:40]!r} is not a whole number of cost units "
                          "(e.g. 1000; see the README's request budget)") from None
    if not 1 <= value <= 10**9:
        raise ConfigError(f"TRADEWATCH_API_MAX_COST={raw[:40]!r} must be between 1 and 1000000000")
    return value
