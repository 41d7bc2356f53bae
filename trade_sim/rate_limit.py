"""Server-side rate limiter that behaves like the trade API's `X-Rate-Limit-*` policy.

Every client key (the client IP, plus the POESESSID account when a cookie is sent)
keeps a sliding log of hit times. A policy is a list of rules
`maxHits:periodSeconds:restrictionSeconds`; going over `maxHits` within `period`
starts a restriction of `restrictionSeconds` during which every request gets 429.

Decisions (documented because the real server's behaviour is unknown):
- The request that goes over a rule is counted and answered 429.
- Requests made while restricted are NOT counted unless
  `SimConfig.count_restricted_hits` is set, so a restriction never extends itself.
- `Retry-After` is the whole seconds left of the longest active restriction,
  rounded up, at least 1 (HTTP allows only integers).
- With `time_scale != 1`, headers show scaled periods and restrictions with up to
  3 decimals ("5:0.3:1.2"); the restriction left in the state header is rounded up
  to 1 ms (whole seconds at scale 1, like the real server).
- Changing the policy, account policy or time scale at runtime resets all state.

Time is `time.monotonic()`; a lock makes `check` safe from several threads.

The trade API's limiter reads `policy`, `account_policy` and `policy_name`; the Currency
Exchange feed has its own instance reading `cx_policy` / `cx_policy_name` (no account rule).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from .config import SimConfig

__all__ = ["Decision", "RateLimiter", "Rule", "format_seconds", "parse_policy"]


@dataclass(frozen=True)
class Rule:
    """One `maxHits:periodSeconds:restrictionSeconds` triple, in real (unscaled) seconds."""

    max_hits: int
    period: float
    restriction: float


def parse_policy(text: str) -> list[Rule]:
    """Parse "5:15:60,10:90:300" into rules; raises ValueError on malformed input."""
    rules = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        pieces = part.split(":")
        if len(pieces) != 3:
            raise ValueError(f"rule {part!r} is not maxHits:period:restriction")
        hits, period, restriction = int(pieces[0]), float(pieces[1]), float(pieces[2])
        if hits < 1 or period <= 0 or restriction < 0:
            raise ValueError(f"rule {part!r} has a non-positive value")
        rules.append(Rule(hits, period, restriction))
    if not rules:
        raise ValueError(f"policy {text!r} has no rules")
    return rules


def format_seconds(value: float) -> str:
    """Compact seconds with at most 3 decimals: 15 -> "15", 0.3 -> "0.3", 1.25 -> "1.25"."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass
class _Bucket:
    """Hit log and restrictions of one client key under one rule list."""

    rules: list[Rule]
    hits: deque[float] = field(default_factory=deque)
    restricted_until: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.restricted_until = [0.0] * len(self.rules)


@dataclass
class Decision:
    """Outcome of one `RateLimiter.check`: allowed or 429, plus the headers to send."""

    allowed: bool
    retry_after: int | None
    headers: dict[str, str]


class RateLimiter:
    """Sliding-window limiter reading its policy from a live `SimConfig`."""

    def __init__(
        self,
        config: SimConfig,
        *,
        policy_field: str = "policy",
        account_policy_field: str | None = "account_policy",
        policy_name_field: str = "policy_name",
    ) -> None:
        self.config = config
        self._policy_field = policy_field
        self._account_policy_field = account_policy_field
        self._policy_name_field = policy_name_field
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._signature: tuple[str, str, float] | None = None
        self._ip_rules: list[Rule] = []
        self._account_rules: list[Rule] = []

    def reset(self) -> None:
        """Forget every hit and restriction (tests use this between scenarios)."""
        with self._lock:
            self._buckets.clear()

    def _sync_policy(self) -> None:
        cfg = self.config
        policy = getattr(cfg, self._policy_field)
        account_policy = getattr(cfg, self._account_policy_field) if self._account_policy_field else None
        signature = (policy, account_policy, cfg.time_scale)
        if signature != self._signature:
            self._ip_rules = parse_policy(policy)
            self._account_rules = parse_policy(account_policy) if account_policy else []
            self._buckets.clear()  # old windows mean nothing under new rules
            self._signature = signature

    def _bucket(self, scope: str, key: str) -> _Bucket:
        bucket = self._buckets.get((scope, key))
        if bucket is None:
            rules = self._ip_rules if scope == "Ip" else self._account_rules
            bucket = self._buckets[(scope, key)] = _Bucket(rules)
        return bucket

    def _scopes(self, ip: str, account: str | None) -> list[tuple[str, "_Bucket"]]:
        # a logged-in request counts against its IP and its account alike
        scopes = [("Ip", self._bucket("Ip", ip))]
        if account and self._account_rules:
            scopes.append(("Account", self._bucket("Account", account)))
        return scopes

    def check(self, ip: str, account: str | None = None, now: float | None = None) -> Decision:
        """Count one request from `ip` (and `account`) and decide whether it may pass."""
        with self._lock:
            self._sync_policy()
            now = time.monotonic() if now is None else now
            scale = self.config.time_scale
            scopes = self._scopes(ip, account)

            longest = max(self._prune(bucket, now, scale) for _, bucket in scopes)
            if longest > 0:
                allowed = False
                if self.config.count_restricted_hits:
                    for _, bucket in scopes:
                        bucket.hits.append(now)
            else:
                for _, bucket in scopes:
                    bucket.hits.append(now)
                    for i, rule in enumerate(bucket.rules):
                        if self._count(bucket, rule, now, scale) > rule.max_hits:
                            bucket.restricted_until[i] = now + rule.restriction * scale
                longest = max(
                    max(until - now for until in bucket.restricted_until) for _, bucket in scopes
                )
                allowed = longest <= 0
            retry_after = None if allowed else max(1, math.ceil(longest - 1e-9))
            headers = self._headers(scopes, now, scale)
            if retry_after is not None:
                headers["Retry-After"] = str(retry_after)
            return Decision(allowed, retry_after, headers)

    def headers(self, ip: str, account: str | None = None, now: float | None = None) -> dict[str, str]:
        """Current rate-limit headers for a key without counting a hit."""
        with self._lock:
            self._sync_policy()
            now = time.monotonic() if now is None else now
            scale = self.config.time_scale
            scopes = self._scopes(ip, account)
            for _, bucket in scopes:
                self._prune(bucket, now, scale)
            return self._headers(scopes, now, scale)

    @staticmethod
    def _prune(bucket: _Bucket, now: float, scale: float) -> float:
        """Drop hits older than the longest period; return the longest restriction left."""
        horizon = now - max(rule.period for rule in bucket.rules) * scale
        hits = bucket.hits
        while hits and hits[0] <= horizon:
            hits.popleft()
        return max(until - now for until in bucket.restricted_until)

    @staticmethod
    def _count(bucket: _Bucket, rule: Rule, now: float, scale: float) -> int:
        start = now - rule.period * scale
        # Hits are appended in time order, so count from the newest end.
        n = 0
        for t in reversed(bucket.hits):
            if t <= start:
                break
            n += 1
        return n

    def _headers(self, scopes: list[tuple[str, _Bucket]], now: float, scale: float) -> dict[str, str]:
        # The real server shows whole seconds; scaled runs need millisecond detail.
        unit = 1 if scale == 1.0 else 1000
        headers = {
            "X-Rate-Limit-Policy": getattr(self.config, self._policy_name_field),
            "X-Rate-Limit-Rules": ",".join(scope for scope, _ in scopes),
        }
        for scope, bucket in scopes:
            rules_text = []
            state_text = []
            for i, rule in enumerate(bucket.rules):
                period = format_seconds(rule.period * scale)
                rules_text.append(
                    f"{rule.max_hits}:{period}:{format_seconds(rule.restriction * scale)}"
                )
                left = max(0.0, bucket.restricted_until[i] - now)
                left = math.ceil(left * unit - 1e-9) / unit  # never show 0 while restricted
                count = self._count(bucket, rule, now, scale)
                state_text.append(f"{count}:{period}:{format_seconds(left)}")
            headers[f"X-Rate-Limit-{scope}"] = ",".join(rules_text)
            headers[f"X-Rate-Limit-{scope}-State"] = ",".join(state_text)
        return headers
