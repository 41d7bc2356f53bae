"""Injected faults: the misbehaviour a real trade API client has to survive.

Each exchange request that passed the rate limiter draws a fixed number of numbers
from one seeded RNG (so a given request sequence always faults the same way), and
at most one fault kind fires, checked in this order: Cloudflare 403 page, 5xx,
spurious 429, truncated JSON. Slowness is independent and can add to any of them.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from dataclasses import dataclass

from .config import SimConfig

__all__ = ["FaultDraw", "FaultInjector", "cloudflare_page", "gateway_page"]


@dataclass(frozen=True)
class FaultDraw:
    """What should go wrong with one request (`kind` None = nothing)."""

    kind: str | None  # "cloudflare_403" | "5xx" | "spurious_429" | "truncated_json" | None
    status_5xx: int = 500
    retry_after: int = 1
    delay: float = 0.0


class FaultInjector:
    """Seeded, thread-safe fault drawing from the live config's rates."""

    _STATUSES_5XX = (500, 502, 503, 504)

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._rng = random.Random(config.seed)

    def reseed(self, seed: int | None = None) -> None:
        """Restart the fault sequence (tests that count faults want a known start)."""
        with self._lock:
            self._rng = random.Random(self.config.seed if seed is None else seed)

    def draw(self) -> FaultDraw:
        cfg = self.config
        with self._lock:
            # Always the same number of draws, whatever the rates, so changing one
            # knob does not reshuffle when the others fire.
            u = [self._rng.random() for _ in range(7)]
        delay = cfg.latency_seconds + (cfg.slow_seconds if u[4] < cfg.slow_rate else 0.0)
        kind: str | None = None
        if u[0] < cfg.cloudflare_403_rate:
            kind = "cloudflare_403"
        elif u[1] < cfg.error_5xx_rate:
            kind = "5xx"
        elif u[2] < cfg.spurious_429_rate:
            kind = "spurious_429"
        elif u[3] < cfg.truncated_json_rate:
            kind = "truncated_json"
        status = self._STATUSES_5XX[int(u[5] * len(self._STATUSES_5XX))]
        retry_after = max(1, math.ceil((1 + 9 * u[6]) * cfg.time_scale))
        return FaultDraw(kind, status, retry_after, delay)


def _ray_id(seed: str) -> str:
    return hashlib.blake2b(seed.encode(), digest_size=8).hexdigest()


def cloudflare_page(ray_seed: str) -> str:
    """A Cloudflare "Just a moment..." managed-challenge page (HTML, not JSON)."""
    ray = _ray_id(ray_seed)
    return (
        "<!DOCTYPE html><html lang=\"en-US\"><head><title>Just a moment...</title>"
        "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\">"
        "<meta name=\"robots\" content=\"noindex,nofollow\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        "</head><body><div class=\"main-wrapper\" role=\"main\"><div class=\"main-content\">"
        "<h1 class=\"zone-name-title h1\">www.pathofexile.com</h1>"
        "<h2 class=\"h2\" id=\"challenge-running\">Checking if the site connection is secure</h2>"
        "<noscript><div class=\"h2\">Enable JavaScript and cookies to continue</div></noscript>"
        "</div></div><div class=\"footer\" role=\"contentinfo\"><div class=\"footer-inner\">"
        f"<div class=\"clearfix diagnostic-wrapper\"><div class=\"ray-id\">Ray ID: <code>{ray}</code>"
        "</div></div><div class=\"text-center\">Performance &amp; security by Cloudflare</div>"
        "</div></div></body></html>"
    )


def gateway_page(status: int, ray_seed: str) -> str:
    """Cloudflare's HTML error page for an origin failure (502 / 504)."""
    title = {502: "Bad gateway", 504: "Gateway time-out"}.get(status, "Error")
    return (
        f"<!DOCTYPE html><html lang=\"en-US\"><head><title>www.pathofexile.com | {status}: "
        f"{title}</title></head><body><div id=\"cf-wrapper\"><h1><span class=\"inline-block\">"
        f"{title}</span> <span class=\"code-label\">Error code {status}</span></h1>"
        f"<p>Cloudflare Ray ID: <strong>{_ray_id(ray_seed)}</strong></p></div></body></html>"
    )
