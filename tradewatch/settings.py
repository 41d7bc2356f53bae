"""Settings from environment variables, with an optional `.env` file underneath — the one
loader of the project (the core's `Settings` here, the API's `ApiSettings` on the same base).

Built on pydantic-settings: each class lists its variables by their exact names, with their
defaults and checks; a bad value raises `ConfigError` with one line naming the variable (never
repeating a value that may be a secret). The real environment wins over `.env`, as
docker-compose and most tools do it; `.env` is read once per process (`environment`).
Secrets (`POESESSID`, `CF_CLEARANCE`, the role passwords) are `SecretStr`, so printing the
settings, an exception or a log line never shows them. Every name is listed in `.env.example`.
"""

from __future__ import annotations

import math
import os
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Mapping
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from tradewatch.errors import ConfigError

REAL_TRADE_API_URL = "https://www.pathofexile.com"
DEFAULT_USER_AGENT = "TradeWatch/0.1.0 (contact: set TRADEWATCH_USER_AGENT to your e-mail)"
ENV_FILE = Path(".env")
# The Currency Exchange history: the public copy (no login) and the authenticated host.
PUBLIC_CX_URL = "https://web.poecdn.com/api/currency-exchange"
AUTHENTICATED_CX_URL = "https://api.pathofexile.com/currency-exchange"
DEFAULT_CX_TOKEN_URL = "https://www.pathofexile.com/oauth/token"
CX_REALMS = ("pc", "poe2", "xbox", "sony")

# Dagster reads these in every process it starts; TradeWatch sets them once, here, for the
# processes that load the code location and for the ones `tradewatch demo` starts.
# Single-run backfills of a year of hours: Dagster writes one "planned" and one "materialized"
# event per partition, ~10 ms each on PostgreSQL (minutes for 8,760 hours). These make that
# one planned event per asset (carrying the partition range) and materializations in batches
# of 1,000. Trade-off: when a range run fails, its partitions show as missing rather than
# failed (the derived write is atomic anyway, so nothing of the range was written).
DAGSTER_EVENT_SWITCHES = {"DAGSTER_EVENT_BATCH_SIZE": "1000", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}


# --- the environment: real variables over `.env` ----------------------------------------


def _env_file_values(path: Path) -> tuple[tuple[str, str], ...]:
    return _read_env_file(path.resolve(), path)


@lru_cache(maxsize=8)
def _read_env_file(resolved: Path, path: Path) -> tuple[tuple[str, str], ...]:
    # cached by the resolved path: a process that changes directory reads the other `.env`
    if not resolved.is_file():
        return ()
    try:
        values = dotenv_values(resolved)
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not a UTF-8 text file of NAME=value lines; "
                          "fix it or remove it (every setting can come from the environment)") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror}); fix its permissions or remove it") from None
    return tuple((k, v) for k, v in values.items() if v is not None)


def environment(environ: Mapping[str, str] | None = None, env_file: Path | None = ENV_FILE) -> dict[str, str]:
    """The variables of `.env` (when present, read once per process) overlaid by the real environment."""
    merged = dict(_env_file_values(env_file)) if env_file is not None else {}
    merged.update(os.environ if environ is None else environ)
    return merged


def export_env_file(env_file: Path = ENV_FILE) -> None:
    """Put what `.env` sets into `os.environ` (the real environment still wins), for what reads
    `os.environ` itself: Dagster's `EnvVar` and the processes this one starts."""
    for name, value in _env_file_values(env_file):
        os.environ.setdefault(name, value)


def set_dagster_event_switches(env: dict[str, str] | os._Environ = os.environ) -> None:
    for name, value in DAGSTER_EVENT_SWITCHES.items():
        env.setdefault(name, value)


# --- checks shared by the settings, the watchlist and the API ---------------------------


def has_control_character(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def is_league_name(value: str) -> bool:
    """Whether `value` can be a league as the trade site spells it: one path segment of its
    URLs, printable, not blank, at most 100 characters (the settings, the watchlist and the
    API all accept the same names)."""
    return bool(value.strip()) and "/" not in value and len(value) <= 100 and not has_control_character(value)


def checked_url(name: str, url: str, example: str, need_host: bool = True) -> None:
    """A URL with a host and a valid port; the message never repeats the URL (it may hold a password)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number in 0..65535
    except ValueError:
        raise ConfigError(f"{name} is not a valid URL (check the host and the port); e.g. {example}") from None
    if need_host and (not parts.hostname or " " in url):
        raise ConfigError(f"{name} is not a valid URL (it needs a host and no spaces); e.g. {example}")


def number(name: str, raw: Any, kind: type = float, minimum: float = 0, maximum: float | None = None) -> float:
    """`raw` (text from the environment, or a number) as a finite `kind` within bounds."""
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        value, raw = raw, str(raw)
    else:
        raw = str(raw).strip()
        if not raw:  # only spaces: unset, as everywhere
            raise PydanticUseDefault()
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r} is not a {kind.__name__}; set it to a number or unset it") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name}={raw!r} is not a finite number; set it to a number or unset it")
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must not be negative" if minimum == 0 else
                          f"{name}={raw!r} must be at least {minimum:g}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={raw!r} must be at most {maximum:g}")
    return kind(value)


def split_list(value: Any) -> tuple[str, ...]:
    """A comma-separated variable as its non-empty parts."""
    if isinstance(value, (tuple, list, set, frozenset)):
        return tuple(value)
    return tuple(part.strip() for part in str(value or "").split(",") if part.strip())


# --- the loader ----------------------------------------------------------------------------


_SOURCE: ContextVar[Mapping[str, str]] = ContextVar("tradewatch_settings_source", default={})


class _Variables(PydanticBaseSettingsSource):
    """Each field's variable (its alias) from one mapping; empty counts as unset."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.variables = variables

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = field.alias or field_name
        return self.variables.get(name), name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for field_name, field in self.settings_cls.model_fields.items():
            value, name, _ = self.get_field_value(field, field_name)
            if value is not None and value != "":
                found[name] = value
        return found


class EnvSettings(BaseSettings):
    """Base of every settings class: variables by exact name, `ConfigError` on a bad value."""

    model_config = SettingsConfigDict(frozen=True, populate_by_name=True, extra="ignore",
                                      hide_input_in_errors=True, validate_default=False)
    # Variables whose text must be one line (header injection, secrets in messages).
    _one_line: ClassVar[bool] = True
    # Fields for which a value of only spaces is a mistake to report, not "unset".
    _blank_is_a_value: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   **_: PydanticBaseSettingsSource) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _Variables(settings_cls, _SOURCE.get()))

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = ENV_FILE):
        """Read the settings; a malformed value raises ConfigError naming the variable."""
        token = _SOURCE.set(environment(environ, env_file))
        try:
            return cls()
        except ValidationError as exc:
            for error in exc.errors():
                cause = (error.get("ctx") or {}).get("error")
                if isinstance(cause, ConfigError):
                    raise ConfigError(str(cause)) from None
            raise ConfigError(f"bad settings: {exc.errors()[0].get('msg')} "
                              f"({', '.join(str(e['loc'][0]) for e in exc.errors())})") from None
        finally:
            _SOURCE.reset(token)

    @field_validator("*", mode="before")
    @classmethod
    def _text_on_one_line(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            name = cls.model_fields[info.field_name].alias or info.field_name
            if not value.strip() and info.field_name not in cls._blank_is_a_value:
                raise PydanticUseDefault()
            value = value.strip()
            if cls._one_line and has_control_character(value):  # not repeated: it may be a secret
                raise ConfigError(f"{name} contains a control character (a line break, tab or NUL); "
                                  "write the value on one line without them")
        return value


def _var(name: str, default: Any = None, **kwargs: Any) -> Any:
    return Field(default, alias=name, **kwargs)


class Settings(EnvSettings):
    """The core's settings (see `.env.example` for each)."""

    trade_api_url: str = _var("TRADEWATCH_TRADE_API_URL", REAL_TRADE_API_URL)
    database_url: str | None = _var("TRADEWATCH_DATABASE_URL")
    # read-only URLs for readers (tradewatch.frames): the reader role's, else the API role's
    reader_database_url: str | None = _var("TRADEWATCH_READER_DATABASE_URL")
    api_database_url: str | None = _var("TRADEWATCH_API_DATABASE_URL")
    league: str | None = _var("TRADEWATCH_LEAGUE")
    watchlist_path: Path | None = _var("TRADEWATCH_WATCHLIST")
    user_agent: str = _var("TRADEWATCH_USER_AGENT", DEFAULT_USER_AGENT)
    home: Path = Field(default_factory=lambda: Path(".tradewatch").resolve(), alias="TRADEWATCH_HOME")
    embedded_pg_port: int = _var("TRADEWATCH_PG_PORT", 54329)
    fetch_grace_minutes: float = _var("TRADEWATCH_FETCH_GRACE_MINUTES", 15.0)
    # the first hour the code location's partitions offer (UTC, Dagster's hourly key format)
    history_start: str = _var("TRADEWATCH_HISTORY_START", "2025-01-01-00:00")
    poesessid: SecretStr | None = _var("POESESSID", repr=False)
    cf_clearance: SecretStr | None = _var("CF_CLEARANCE", repr=False)
    reader_password: SecretStr | None = _var("TRADEWATCH_READER_PASSWORD", repr=False)
    api_password: SecretStr | None = _var("TRADEWATCH_API_PASSWORD", repr=False)
    # Currency Exchange history (see tradewatch/currency_exchange/): the URL is the authenticated
    # host when a client id and secret are set and TRADEWATCH_CX_URL is not.
    cx_url: str | None = _var("TRADEWATCH_CX_URL")
    cx_realms: tuple[str, ...] = _var("TRADEWATCH_CX_REALMS", ("pc",))
    cx_client_id: str | None = _var("TRADEWATCH_CX_CLIENT_ID")
    cx_client_secret: SecretStr | None = _var("TRADEWATCH_CX_CLIENT_SECRET", repr=False)
    cx_token_url: str = _var("TRADEWATCH_CX_TOKEN_URL", DEFAULT_CX_TOKEN_URL)
    cx_max_in_flight: int = _var("TRADEWATCH_CX_MAX_IN_FLIGHT", 4)
    cx_max_per_minute: int = _var("TRADEWATCH_CX_MAX_PER_MINUTE", 60)
    # Alerts: webhook URLs (comma-separated; secret, Discord's carry a token) and how far back a
    # crossing is still delivered (so that a backfill of history does not flood them).
    alert_webhooks: SecretStr | None = _var("TRADEWATCH_ALERT_WEBHOOKS", repr=False)
    alert_lookback_hours: float = _var("TRADEWATCH_ALERT_LOOKBACK_HOURS", 2.0)
    # Daily bulk files (tradewatch.dumps): where `tradewatch export` and the daily_dumps asset write.
    dump_dir: Path | None = _var("TRADEWATCH_DUMP_DIR")

    def alert_webhook_urls(self) -> tuple[str, ...]:
        """The webhook URLs (secrets: log only `tradewatch.webhooks.redact_webhook` of one)."""
        return split_list(self.alert_webhooks.get_secret_value()) if self.alert_webhooks else ()

    @field_validator("trade_api_url")
    @classmethod
    def _trade_api(cls, url: str) -> str:
        url = url.rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"TRADEWATCH_TRADE_API_URL={url!r} is not an http(s) URL; "
                              f"use {REAL_TRADE_API_URL} or the simulator's address, e.g. http://127.0.0.1:8090")
        checked_url("TRADEWATCH_TRADE_API_URL", url, f"{REAL_TRADE_API_URL} or http://127.0.0.1:8090")
        return url

    @field_validator("database_url")
    @classmethod
    def _database(cls, url: str | None) -> str | None:
        if url is None:
            return None
        if not url.startswith(("postgresql://", "postgres://", "postgresql+")):
            raise ConfigError("TRADEWATCH_DATABASE_URL must be a PostgreSQL URL such as "
                              "postgresql://user:password@host:5432/dbname (unset it to use the embedded PostgreSQL)")
        # no host is fine here: libpq then uses the local socket
        checked_url("TRADEWATCH_DATABASE_URL", url, "postgresql://user:password@host:5432/dbname", need_host=False)
        return url

    @field_validator("reader_database_url", "api_database_url")
    @classmethod
    def _reader_database(cls, url: str | None, info: ValidationInfo) -> str | None:
        name = cls.model_fields[info.field_name].alias
        if url is not None and not url.startswith(("postgresql://", "postgres://", "postgresql+")):
            raise ConfigError(f"{name} must be a PostgreSQL URL such as postgresql://tradewatch_reader:password@host"
                              ":5432/dbname (or unset it to read with TRADEWATCH_DATABASE_URL)")
        if url is not None:
            checked_url(name, url, "postgresql://user:password@host:5432/dbname", need_host=False)
        return url

    @field_validator("league")
    @classmethod
    def _league(cls, league: str | None) -> str | None:
        if league is not None and not is_league_name(league):
            raise ConfigError(f"TRADEWATCH_LEAGUE={league[:100]!r} is not a league name; use the name the trade "
                              "site shows, e.g. Standard or Settlers (or unset it for the watchlist's league)")
        return league

    @field_validator("home", mode="after")
    @classmethod
    def _home(cls, home: Path) -> Path:
        return home.resolve()

    @field_validator("history_start")
    @classmethod
    def _history_start(cls, key: str) -> str:
        from datetime import datetime

        try:
            datetime.strptime(key, "%Y-%m-%d-%H:%M")
        except ValueError:
            raise ConfigError(f"TRADEWATCH_HISTORY_START={key[:40]!r} is not an hour like 2025-01-01-00:00 "
                              "(UTC, year-month-day-hour:minute); fix it or unset it") from None
        return key

    @field_validator("embedded_pg_port", mode="before")
    @classmethod
    def _port(cls, raw: Any) -> int:
        return number("TRADEWATCH_PG_PORT", raw, int, maximum=65535)

    @field_validator("fetch_grace_minutes", mode="before")
    @classmethod
    def _grace(cls, raw: Any) -> float:
        return number("TRADEWATCH_FETCH_GRACE_MINUTES", raw, maximum=24 * 60)


    @field_validator("cx_token_url")
    @classmethod
    def _cx_token_url(cls, url: str) -> str:
        return _cx_checked_url("TRADEWATCH_CX_TOKEN_URL", url, DEFAULT_CX_TOKEN_URL)

    @field_validator("cx_realms", mode="before")
    @classmethod
    def _cx_realms(cls, raw: Any) -> tuple[str, ...]:
        realms = tuple(r.lower() for r in split_list(raw))
        unknown = [r for r in realms if r not in CX_REALMS]
        if unknown or not realms:
            raise ConfigError(f"TRADEWATCH_CX_REALMS={','.join(realms)[:100]!r} names no known realm "
                              f"({', '.join(unknown) or 'empty'}); use a comma-separated list of {', '.join(CX_REALMS)}")
        return tuple(dict.fromkeys(realms))

    @field_validator("cx_max_in_flight", mode="before")
    @classmethod
    def _cx_in_flight(cls, raw: Any) -> int:
        return number("TRADEWATCH_CX_MAX_IN_FLIGHT", raw, int, minimum=1, maximum=64)

    @field_validator("cx_max_per_minute", mode="before")
    @classmethod
    def _cx_per_minute(cls, raw: Any) -> int:
        return number("TRADEWATCH_CX_MAX_PER_MINUTE", raw, int, minimum=1, maximum=100_000)

    @field_validator("alert_webhooks")
    @classmethod
    def _webhooks(cls, value: SecretStr | None) -> SecretStr | None:
        for index, url in enumerate(split_list(value.get_secret_value()) if value else ()):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or " " in url:
                # the URL is a secret: say which one by position, never repeat it
                raise ConfigError(f"TRADEWATCH_ALERT_WEBHOOKS: URL number {index + 1} is not an http(s) URL with a "
                                  "host; give comma-separated webhook URLs, e.g. https://discord.com/api/webhooks/…")
            checked_url(f"TRADEWATCH_ALERT_WEBHOOKS (URL number {index + 1})", url, "https://example.com/hook")
        return value

    @field_validator("alert_lookback_hours", mode="before")
    @classmethod
    def _lookback(cls, raw: Any) -> float:
        return number("TRADEWATCH_ALERT_LOOKBACK_HOURS", raw, maximum=24 * 366)

    @model_validator(mode="after")
    def _cx_host(self) -> "Settings":
        if bool(self.cx_client_id) != bool(self.cx_client_secret):
            raise ConfigError("TRADEWATCH_CX_CLIENT_ID and TRADEWATCH_CX_CLIENT_SECRET go together: set both "
                              "(the authenticated host) or neither (the public copy)")
        default = AUTHENTICATED_CX_URL if self.cx_client_id else PUBLIC_CX_URL
        object.__setattr__(self, "cx_url", _cx_checked_url("TRADEWATCH_CX_URL", self.cx_url or default, default))
        return self


def _cx_checked_url(name: str, url: str, default: str) -> str:
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{name}={url[:100]!r} is not an http(s) URL; e.g. {default}")
    checked_url(name, url, default)
    return url


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = ENV_FILE) -> Settings:
    """Read the core settings; a malformed value raises ConfigError naming the variable."""
    return Settings.load(environ, env_file)
