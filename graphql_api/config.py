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
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from pydantic import Field, field_validator

from tradewatch.errors import ConfigError
from tradewatch.settings import ENV_FILE, EnvSettings, number, split_list

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


class ApiSettings(EnvSettings):
    database_url: str | None = Field(None, alias="TRADEWATCH_API_DATABASE_URL")
    statement_timeout_ms: int = Field(5000, alias="TRADEWATCH_API_STATEMENT_TIMEOUT_MS")
    api_keys: frozenset[str] = Field(frozenset(), alias="TRADEWATCH_API_KEYS", repr=False)
    cors_origins: tuple[str, ...] = Field((), alias="TRADEWATCH_CORS_ORIGINS")
    graphiql: bool = Field(True, alias="TRADEWATCH_GRAPHIQL")

    _one_line = False  # today's API variables are not checked for control characters

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
        if isinstance(raw, str):
            try:
                int(raw)
            except ValueError:
                raise ConfigError(f"TRADEWATCH_API_STATEMENT_TIMEOUT_MS={raw!r} is not a whole number of "
                                  "milliseconds") from None
        return number("TRADEWATCH_API_STATEMENT_TIMEOUT_MS", raw, int, minimum=1)

    @field_validator("api_keys", mode="before")
    @classmethod
    def _keys(cls, raw: Any) -> frozenset[str]:
        return frozenset(split_list(raw))

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, raw: Any) -> tuple[str, ...]:
        return split_list(raw)

    @field_validator("graphiql", mode="before")
    @classmethod
    def _graphiql(cls, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text not in ("", *_TRUE, *_FALSE):
            raise ConfigError(f"TRADEWATCH_GRAPHIQL={text!r} must be 1 or 0")
        return text not in _FALSE


def load_api_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = ENV_FILE) -> ApiSettings:
    """Read the API settings; a malformed value raises ConfigError naming the variable."""
    return ApiSettings.load(environ, env_file)
