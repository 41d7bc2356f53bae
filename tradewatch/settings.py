"""Settings from environment variables, with an optional `.env` file underneath.

Every name is listed in `.env.example`. Secrets (`POESESSID`, `CF_CLEARANCE`) are kept
in `Secret` so that printing the settings, an exception or a log line never shows them.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from dotenv import dotenv_values

from tradewatch.errors import ConfigError

REAL_TRADE_API_URL = "https://www.pathofexile.com"
DEFAULT_USER_AGENT = "TradeWatch/0.1.0 (contact: set TRADEWATCH_USER_AGENT to your e-mail)"
# The Currency Exchange history: the public copy (no login) and the authenticated host.
PUBLIC_CX_URL = "https://web.poecdn.com/api/currency-exchange"
AUTHENTICATED_CX_URL = "https://api.pathofexile.com/currency-exchange"
DEFAULT_CX_TOKEN_URL = "https://www.pathofexile.com/oauth/token"
CX_REALMS = ("pc", "poe2", "xbox", "sony")


class Secret:
    """A string that never shows itself in str(), repr() or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    trade_api_url: str
    user_agent: str
    league: str | None
    watchlist_path: Path | None
    home: Path
    embedded_pg_port: int
    fetch_grace_minutes: float
    poesessid: Secret | None = field(default=None, repr=False)
    cf_clearance: Secret | None = field(default=None, repr=False)
    reader_password: Secret | None = field(default=None, repr=False)
    api_password: Secret | None = field(default=None, repr=False)
    # Currency Exchange history (see tradewatch/currency_exchange/): the URL is the authenticated
    # host when a client id and secret are set and TRADEWATCH_CX_URL is not.
    cx_url: str = PUBLIC_CX_URL
    cx_realms: tuple[str, ...] = ("pc",)
    cx_client_id: str | None = None
    cx_client_secret: Secret | None = field(default=None, repr=False)
    cx_token_url: str = DEFAULT_CX_TOKEN_URL
    cx_max_in_flight: int = 4
    cx_max_per_minute: int = 60


def merged_environment(environ: Mapping[str, str], env_file: Path | None) -> dict[str, str]:
    """The variables of `.env` (when present) overlaid by the real environment."""
    # The real environment wins over .env, as docker-compose and most tools do it.
    merged: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        try:
            values = dotenv_values(env_file)
        except UnicodeDecodeError:
            raise ConfigError(f"{env_file} is not a UTF-8 text file of NAME=value lines; "
                              "fix it or remove it (every setting can come from the environment)") from None
        except OSError as exc:
            raise ConfigError(f"{env_file} cannot be read ({exc.strerror}); fix its permissions or remove it") from None
        merged.update({k: v for k, v in values.items() if v is not None})
    merged.update(environ)
    return merged


def has_control_character(value: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def is_league_name(value: str) -> bool:
    """Whether `value` can be a league as the trade site spells it: one path segment of its
    URLs, printable, not blank, at most 100 characters (the settings, the watchlist and the
    API all accept the same names)."""
    return bool(value.strip()) and "/" not in value and len(value) <= 100 and not has_control_character(value)


def _checked_url(name: str, url: str, example: str, need_host: bool = True) -> None:
    """A URL with a host and a valid port; the message never repeats the URL (it may hold a password)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number in 0..65535
    except ValueError:
        raise ConfigError(f"{name} is not a valid URL (check the host and the port); e.g. {example}") from None
    if need_host and (not parts.hostname or " " in url):
        raise ConfigError(f"{name} is not a valid URL (it needs a host and no spaces); e.g. {example}")


def _number(env: Mapping[str, str], name: str, default: float, kind: type = float,
            maximum: float | None = None) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a {kind.__name__}; set it to a number or unset it") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name}={raw!r} is not a finite number; set it to a number or unset it")
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{name}={raw!r} must be at most {maximum:g}")
    return value


def load_settings(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Settings:
    """Read the settings; a malformed value raises ConfigError naming the variable."""
    env = merged_environment(os.environ if environ is None else environ, env_file)

    def text(name: str) -> str | None:
        value = env.get(name, "").strip()
        if has_control_character(value):  # the value is not repeated: it may be a secret
            raise ConfigError(f"{name} contains a control character (a line break, tab or NUL); "
                              "write the value on one line without them")
        return value or None

    def secret(name: str) -> Secret | None:
        value = text(name)
        return Secret(value) if value else None

    api_url = (text("TRADEWATCH_TRADE_API_URL") or REAL_TRADE_API_URL).rstrip("/")
    if not api_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"TRADEWATCH_TRADE_API_URL={api_url!r} is not an http(s) URL; "
            f"use {REAL_TRADE_API_URL} or the simulator's address, e.g. http://127.0.0.1:8090"
        )
    _checked_url("TRADEWATCH_TRADE_API_URL", api_url, f"{REAL_TRADE_API_URL} or http://127.0.0.1:8090")
    db_url = text("TRADEWATCH_DATABASE_URL")
    if db_url is not None and not db_url.startswith(("postgresql://", "postgres://", "postgresql+")):
        raise ConfigError(
            "TRADEWATCH_DATABASE_URL must be a PostgreSQL URL such as "
            "postgresql://user:password@host:5432/dbname (unset it to use the embedded PostgreSQL)"
        )
    if db_url is not None:
        # no host is fine here: libpq then uses the local socket
        _checked_url("TRADEWATCH_DATABASE_URL", db_url, "postgresql://user:password@host:5432/dbname", need_host=False)
    league = text("TRADEWATCH_LEAGUE")
    if league is not None and not is_league_name(league):
        raise ConfigError(f"TRADEWATCH_LEAGUE={league[:100]!r} is not a league name; use the name the trade "
                          "site shows, e.g. Standard or Settlers (or unset it for the watchlist's league)")
    watchlist = text("TRADEWATCH_WATCHLIST")
    cx = _cx_settings(env, text, secret)
    return Settings(
        database_url=db_url,
        trade_api_url=api_url,
        user_agent=text("TRADEWATCH_USER_AGENT") or DEFAULT_USER_AGENT,
        league=league,
        watchlist_path=Path(watchlist) if watchlist else None,
        home=Path(text("TRADEWATCH_HOME") or ".tradewatch").resolve(),
        embedded_pg_port=int(_number(env, "TRADEWATCH_PG_PORT", 54329, int, maximum=65535)),
        fetch_grace_minutes=_number(env, "TRADEWATCH_FETCH_GRACE_MINUTES", 15.0, maximum=24 * 60),
        poesessid=secret("POESESSID"),
        cf_clearance=secret("CF_CLEARANCE"),
        reader_password=secret("TRADEWATCH_READER_PASSWORD"),
        api_password=secret("TRADEWATCH_API_PASSWORD"),
        **cx,
    )


def _cx_settings(env: Mapping[str, str], text, secret) -> dict:
    """The TRADEWATCH_CX_* settings (Currency Exchange history) as Settings fields."""
    client_id, client_secret = text("TRADEWATCH_CX_CLIENT_ID"), secret("TRADEWATCH_CX_CLIENT_SECRET")
    if bool(client_id) != bool(client_secret):
        raise ConfigError("TRADEWATCH_CX_CLIENT_ID and TRADEWATCH_CX_CLIENT_SECRET go together: set both "
                          "(the authenticated host) or neither (the public copy)")
    urls = {}
    for name, default in (("TRADEWATCH_CX_URL", AUTHENTICATED_CX_URL if client_id else PUBLIC_CX_URL),
                          ("TRADEWATCH_CX_TOKEN_URL", DEFAULT_CX_TOKEN_URL)):
        url = (text(name) or default).rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{name}={url[:100]!r} is not an http(s) URL; e.g. {default}")
        _checked_url(name, url, default)
        urls[name] = url
    realms = tuple(r.strip().lower() for r in (text("TRADEWATCH_CX_REALMS") or "pc").split(",") if r.strip())
    unknown = [r for r in realms if r not in CX_REALMS]
    if unknown or not realms:
        raise ConfigError(f"TRADEWATCH_CX_REALMS={env.get('TRADEWATCH_CX_REALMS', '')[:100]!r} names no known "
                          f"realm ({', '.join(unknown) or 'empty'}); use a comma-separated list of {', '.join(CX_REALMS)}")
    in_flight = int(_number(env, "TRADEWATCH_CX_MAX_IN_FLIGHT", 4, int, maximum=64))
    per_minute = int(_number(env, "TRADEWATCH_CX_MAX_PER_MINUTE", 60, int, maximum=100_000))
    if in_flight < 1 or per_minute < 1:
        raise ConfigError("TRADEWATCH_CX_MAX_IN_FLIGHT and TRADEWATCH_CX_MAX_PER_MINUTE must be at least 1")
    return {"cx_url": urls["TRADEWATCH_CX_URL"], "cx_realms": tuple(dict.fromkeys(realms)),
            "cx_client_id": client_id, "cx_client_secret": client_secret,
            "cx_token_url": urls["TRADEWATCH_CX_TOKEN_URL"], "cx_max_in_flight": in_flight,
            "cx_max_per_minute": per_minute}
