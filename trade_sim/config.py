"""Knobs of the simulated trade server: rate-limit policy, time scale, seed and faults.

One mutable `SimConfig` object is shared by the running app (`app.state.config`),
so tests may change fault rates or the policy while the server runs.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

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

    # Fault probabilities (0..1), each drawn from a seeded RNG on every exchange request.
    error_5xx_rate: float = 0.0
    cloudflare_403_rate: float = 0.0
    truncated_json_rate: float = 0.0
    spurious_429_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    # Added to every exchange response.
    latency_seconds: float = 0.0

    def __post_init__(self) -> None:
        for name in ("error_5xx_rate", "cloudflare_403_rate", "truncated_json_rate",
                     "spurious_429_rate", "slow_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1, got {value}")
        if self.time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {self.time_scale}")
        if self.fixed_hour is not None and self.fixed_hour.tzinfo is None:
            # Naive datetimes are read as UTC so the market hour is unambiguous.
            self.fixed_hour = self.fixed_hour.replace(tzinfo=timezone.utc)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> "SimConfig":
        """Build a config from `TRADE_SIM_<FIELD>` variables (e.g. TRADE_SIM_TIME_SCALE=0.02).

        Explicit keyword overrides win over the environment.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = env.get(ENV_PREFIX + field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = parse_field(field.name, raw)
        values.update(overrides)
        return cls(**values)


_DEFAULTS = SimConfig.__dataclass_fields__


def parse_field(name: str, raw: str) -> Any:
    """Convert a string (env var or CLI) into the type of SimConfig field `name`."""
    if name not in _DEFAULTS:
        raise KeyError(f"unknown SimConfig field {name!r}")
    default = _DEFAULTS[name].default
    if name == "fixed_hour":
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw
