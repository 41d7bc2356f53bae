"""Knobs of the simulated servers: rate-limit policy, time scale, seed and faults of the
trade API, and the `cx_*` knobs of the Currency Exchange history feed.

One mutable `SimConfig` object is shared by the running app (`app.state.config`),
so tests may change fault rates or the policy while the server runs.

Environment/CLI strings are parsed by field type: sets of hours (`cx_empty_hours`,
`cx_stale_hours`) are comma lists of unix seconds or ISO hours ("2024-08-01T12:00Z");
optional fields (`cx_policy`, `cx_token_expires_in`) take "none" or "" for None.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Iterable, Mapping

ENV_PREFIX = "TRADE_SIM_"


@dataclass
class SimConfig:
    """Everything that changes how the simulator answers.

    Policies are comma lists of `maxHits:periodSeconds:restrictionSeconds` triples,
    written in real (unscaled) seconds; `time_scale` shrinks them for fast tests.
    """

    policy: str = "5:15:60,10:90:300,30:300:1800"
    policy_name: str = "trade-exchange-request-limit"
    # Applies only when the client sends a POESESSID cookie (value used in 2021-22).
    account_policy: str = "3:5:60"
    # Multiplies every period and restriction (headers show the scaled values).
    time_scale: float = 1.0
    seed: int = 7
    # Whether a request made while restricted is added to the hit log. The real
    # behaviour is unknown; False keeps a restriction from extending itself.
    count_restricted_hits: bool = False
    max_results: int = 100
    # Market hour for every answer; None = the current UTC hour.
    fixed_hour: datetime | None = None
    # Share of (item, hour) books that are empty (an indexer hiccup), a trap for the tests that
    # want one; 0 keeps the market healthy: every watched item can be priced in every hour.
    empty_book_rate: float = 0.0

    # Fault probabilities (0..1), each drawn from a seeded RNG on every exchange request.
    error_5xx_rate: float = 0.0
    cloudflare_403_rate: float = 0.0
    truncated_json_rate: float = 0.0
    spurious_429_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    # Added to every exchange response.
    latency_seconds: float = 0.0

    # ---- Currency Exchange history feed (GET /api/currency-exchange[/<realm>][/<id>]).
    # Markets in one PC document on average (it varies by about +-18 % with the hour of
    # day); other realms are smaller. 1,600 gives 1.1-1.6 MB, like a recent real hour.
    cx_markets_per_hour: int = 1600
    # Leagues of every PC/xbox/sony document (comma list); a league's share of the
    # markets follows its name (challenge league > Standard > Hardcore > Ruthless > private).
    cx_leagues: str = (
        "Settlers,Hardcore Settlers,Ruthless Settlers,HC Ruthless Settlers,Standard,Hardcore,"
        "Ruthless,Kalguur Bulk Traders (PL12345),Mapping Crew (PL40712)"
    )
    cx_leagues_poe2: str = "Runes of Aldur,HC Runes of Aldur,Standard,Hardcore,Aldur Flippers (PL3021)"
    # True: the leagues of each hour come from the realm's league calendar (trade_sim.cx_calendar:
    # launches every ~4 months with their variants, empty hours before a launch, volume rising over
    # a league's first week then decaying, private leagues coming and going) instead of the fixed
    # cx_leagues lists, which then only name the trade site's leagues.
    cx_calendar: bool = False
    # A folder of prebuilt documents (`python -m trade_sim.cx_prebuild`): a published hour found
    # there is served from it instead of being generated (same bytes), keeping the simulator's
    # cost out of a benchmark's measured path. Empty: always generate.
    cx_cache_dir: str = ""
    # A file to which every feed request appends one line `<realm> <id or -> <status>`: lets a
    # benchmark in another process count which hours a client fetched. Empty: no such file.
    cx_request_log: str = ""
    # Oldest hour of history (what a request without an id answers); earlier ids are 404.
    # xbox and sony share PC's first hour.
    cx_first_hour: datetime = datetime(2024, 7, 26, 20, tzinfo=timezone.utc)
    cx_first_hour_poe2: datetime = datetime(2024, 12, 6, 19, tzinfo=timezone.utc)
    # Hour T is published this long after T + 1 h (with fixed_hour: every hour before it).
    cx_publish_delay_seconds: float = 60.0
    # How an unpublished hour is answered: "404" (the CDN today) or "terminal"
    # (200 with next_change_id == T, the documented end of the stream).
    cx_unpublished_style: str = "404"
    # Complete but empty hours (200, no markets) and stale hours (200 with the document
    # of the same hour a day earlier, so next_change_id belongs to another hour).
    cx_empty_hours: frozenset[int] = frozenset()
    cx_stale_hours: frozenset[int] = frozenset()
    # The authenticated host: client-credentials tokens from POST /oauth/token.
    cx_require_token: bool = False
    cx_client_id: str = "tradewatch-sim"
    cx_client_secret: str = field(default="tradewatch-sim-secret", repr=False)
    # None: tokens never expire (GGG's client-credentials tokens); N: `expires_in` N and
    # the token is refused (401) N real seconds after it was issued.
    cx_token_expires_in: int | None = None
    # None: no X-Rate-Limit-* headers (the CDN); e.g. "30:60:60" for the OAuth host.
    # Same format and time_scale as `policy`, counted per client IP separately from it.
    cx_policy: str | None = None
    cx_policy_name: str = "currency-exchange-request-limit"
    # Like the CDN: gzip the body (Content-Encoding) when the client accepts it.
    cx_gzip: bool = False

    def __post_init__(self) -> None:
        for name in ("error_5xx_rate", "cloudflare_403_rate", "truncated_json_rate",
                     "spurious_429_rate", "slow_rate", "empty_book_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")
        if self.time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {self.time_scale}")
        if self.fixed_hour is not None and self.fixed_hour.tzinfo is None:
            # Naive datetimes are read as UTC so the market hour is unambiguous.
            self.fixed_hour = self.fixed_hour.replace(tzinfo=timezone.utc)
        for name in ("cx_first_hour", "cx_first_hour_poe2"):
            setattr(self, name, _aligned_hour(name, getattr(self, name)))
        self.cx_empty_hours = hour_set("cx_empty_hours", self.cx_empty_hours)
        self.cx_stale_hours = hour_set("cx_stale_hours", self.cx_stale_hours)
        if self.cx_unpublished_style not in ("404", "terminal"):
            raise ValueError(
                f"cx_unpublished_style must be '404' or 'terminal', got {self.cx_unpublished_style!r}"
            )
        if self.cx_markets_per_hour < 0:
            raise ValueError(f"cx_markets_per_hour must be >= 0, got {self.cx_markets_per_hour}")
        if self.cx_policy:
            from .rate_limit import parse_policy  # rate_limit imports this module

            try:
                parse_policy(self.cx_policy)
            except ValueError as exc:
                raise ValueError(f"cx_policy {self.cx_policy!r}: {exc}; write e.g. 30:60:60") from None
        if self.cx_token_expires_in is not None and self.cx_token_expires_in < 1:
            raise ValueError(f"cx_token_expires_in must be None or >= 1, got {self.cx_token_expires_in}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "SimConfig":
        """Build a config from `TRADE_SIM_<FIELD>` variables (e.g. TRADE_SIM_TIME_SCALE=0.02),
        read by pydantic-settings from the environment (or from `environ` when given).

        Explicit keyword overrides win over the environment.
        """
        model = _environment_model()
        if environ is None:
            found = model()
        else:
            found = model.model_validate({name[len(ENV_PREFIX):].lower(): value for name, value in environ.items()
                                          if name.upper().startswith(ENV_PREFIX)})
        values: dict[str, Any] = {name: parse_field(name, raw) for name, raw in found.model_dump().items()
                                  if raw is not None and raw != ""}
        values.update(overrides)
        return cls(**values)


@lru_cache(maxsize=1)
def _environment_model() -> type:
    """A settings class with one text variable per SimConfig field; `parse_field` types them."""
    from pydantic import create_model
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class _SimEnvironment(BaseSettings):
        model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    return create_model("SimEnvironment", __base__=_SimEnvironment,
                        **{f.name: (str | None, None) for f in dataclasses.fields(SimConfig)})


def _to_unix_hour(name: str, value: Any) -> int:
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            value = int(text)
        else:
            try:
                value = _parse_datetime(text)
            except ValueError:
                raise ValueError(f"{name}: {text!r} is neither unix seconds nor an ISO hour "
                                 "like 2024-08-01T12:00Z") from None
    if isinstance(value, datetime):
        # Naive datetimes are read as UTC, like fixed_hour.
        seconds = (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    else:
        seconds = value
    if seconds != int(seconds) or int(seconds) % 3600:
        raise ValueError(f"{name}: {value!r} is not a whole UTC hour")
    return int(seconds)


def _aligned_hour(name: str, value: datetime) -> datetime:
    return datetime.fromtimestamp(_to_unix_hour(name, value), timezone.utc)


def hour_set(name: str, values: Iterable[Any] | str) -> frozenset[int]:
    """Hours as unix seconds from ints, datetimes or a comma list of either (as text)."""
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    return frozenset(_to_unix_hour(name, v) for v in values)


def _parse_datetime(raw: str) -> datetime:
    return datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))


_DEFAULTS = SimConfig.__dataclass_fields__
_DATETIME_FIELDS = {"fixed_hour", "cx_first_hour", "cx_first_hour_poe2"}
_HOUR_SET_FIELDS = {"cx_empty_hours", "cx_stale_hours"}
_OPTIONAL_INT_FIELDS = {"cx_token_expires_in"}
_OPTIONAL_STR_FIELDS = {"cx_policy"}


def parse_field(name: str, raw: str) -> Any:
    """Convert a string (env var or CLI) into the type of SimConfig field `name`."""
    if name not in _DEFAULTS:
        raise KeyError(f"unknown SimConfig field {name!r}")
    default = _DEFAULTS[name].default
    if name in _DATETIME_FIELDS:
        return _parse_datetime(raw)
    if name in _HOUR_SET_FIELDS:
        return hour_set(name, raw)
    if name in _OPTIONAL_INT_FIELDS | _OPTIONAL_STR_FIELDS and raw.strip().lower() in ("", "none", "null"):
        return None
    if name in _OPTIONAL_INT_FIELDS:
        return int(raw)
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
