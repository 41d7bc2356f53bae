"""A rate limiter driven by the limits the trade server announces, shared through PostgreSQL.

The server sends `X-Rate-Limit-Rules: Ip[,Account]` and, per scope, rule triples
`maxHits:period:restriction` with states `hits:period:restrictionLeft`. Before every
request we wait until every rule's sliding window has room; after every response we
store the rules it announced, pre-fill our counters when the server counts more hits
than we do, and obey 429 `Retry-After`. Every process that calls the API shares one
log of hits in PostgreSQL (serialised by an advisory lock) and the database clock, so
two Dagster runs at once still never exceed the policy.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Sequence

from psycopg_pool import ConnectionPool

from tradewatch.errors import TradeWatchError

# Before the first response we know nothing: one request, then the announced rules.
CONSERVATIVE_RULES = ("*", 1, 4.0, 60.0)
ALL_SCOPES = "*"


@dataclass(frozen=True)
class Rule:
    scope: str
    max_hits: int
    period: float
    restriction: float


@dataclass(frozen=True)
class RuleState:
    scope: str
    hits: int
    period: float
    restricted_for: float


@dataclass(frozen=True)
class Permit:
    hit_id: int
    waited: float


class RateLimitWaitTooLong(TradeWatchError):
    """The server restricted us for longer than we are willing to wait in one run."""


def _triples(value: str) -> list[tuple[float, float, float]]:
    triples = []
    for part in value.split(","):
        fields = part.strip().split(":")
        if len(fields) != 3:
            continue
        try:
            triples.append(tuple(float(f) for f in fields))
        except ValueError:
            continue
    return triples


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def parse_rules(headers: Mapping[str, str]) -> list[Rule]:
    """The rules a response announces; empty when it carries none (some 429s, HTML pages)."""
    h = _lower(headers)
    rules = []
    for scope in (s.strip() for s in h.get("x-rate-limit-rules", "").split(",") if s.strip()):
        for hits, period, restriction in _triples(h.get(f"x-rate-limit-{scope.lower()}", "")):
            if hits >= 1 and period > 0:
                rules.append(Rule(scope, int(hits), period, restriction))
    return rules


def parse_states(headers: Mapping[str, str]) -> list[RuleState]:
    h = _lower(headers)
    states = []
    for scope in (s.strip() for s in h.get("x-rate-limit-rules", "").split(",") if s.strip()):
        for hits, period, left in _triples(h.get(f"x-rate-limit-{scope.lower()}-state", "")):
            states.append(RuleState(scope, int(hits), period, left))
    return states


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The rate-limit headers of a response (what is stored with every raw response)."""
    return {k: v for k, v in headers.items() if k.lower().startswith("x-rate-limit") or k.lower() == "retry-after"}


def retry_after(headers: Mapping[str, str]) -> float | None:
    value = _lower(headers).get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def minimum_duration(rules: Sequence[Rule], requests: int) -> float:
    """The earliest time the last of `requests` requests may be sent (first at t=0).

    Sending each request as early as every window allows is optimal, so this is the
    theoretical floor any client can reach under these rules.
    """
    times: list[float] = []
    for _ in range(requests):
        t = times[-1] if times else 0.0
        for rule in rules:
            if len(times) >= rule.max_hits:
                t = max(t, times[-rule.max_hits] + rule.period)
        times.append(t)
    return times[-1] if times else 0.0


def wait_needed(now: float, rules: Sequence[Rule], hits_by_scope: Mapping[str, Sequence[float]],
                restricted_until: float | None, pad: float) -> float:
    """Seconds to wait before one more request fits every rule (0 when it fits now).

    `hits_by_scope[scope]` holds the hit times counting against that scope's rules,
    newest first.
    """
    limiting = []
    for rule in rules:
        recent = [t for t in hits_by_scope.get(rule.scope, ()) if t > now - rule.period - pad]
        limiting.append(recent[rule.max_hits - 1] if len(recent) >= rule.max_hits else None)
    return wait_for_limiting_hits(now, rules, limiting, restricted_until, pad)


def wait_for_limiting_hits(now: float, rules: Sequence[Rule], limiting: Sequence[float | None],
                           restricted_until: float | None, pad: float) -> float:
    """`wait_needed` from each rule's limiting hit: its `max_hits`-th newest hit inside its window
    (`limiting[i]` for `rules[i]`), None when the window holds fewer hits (room now)."""
    wait = 0.0
    if restricted_until is not None and restricted_until > now:
        wait = restricted_until - now
    for rule, hit in zip(rules, limiting, strict=True):
        if hit is not None:
            # the window has room once the max_hits-th newest hit has left it
            wait = max(wait, hit + rule.period + pad - now)
    return max(0.0, wait)


KEEP_HITS_SECONDS = 3600.0
FORGET_EVERY_SECONDS = 60.0


class PostgresRateLimiter:
    """Sliding-window limiter whose state lives in `warehouse.rate_limit_*`."""

    def __init__(self, pool: ConnectionPool, key: str, *, pad: float = 0.5, poll: float = 0.25,
                 max_wait: float = 900.0, sleep: Callable[[float], None] = time.sleep,
                 default_rules: Sequence[Rule] | None = None) -> None:
        self.pool = pool
        self.key = key
        # The polite ceiling for a host that announces no limits (the Currency Exchange CDN):
        # used until the host announces rules, and as long as it announces none. Ceiling rules
        # have scope "*"; announced ones are named by the server (Ip, Account, Client).
        self.default_rules = list(default_rules) if default_rules else None
        self.pad = pad
        self.poll = poll
        self.max_wait = max_wait
        self._sleep = sleep
        self._lock_id = f"tradewatch.rate_limit:{key}"
        self._forgotten_at: float | None = None  # when this limiter last deleted old hits (monotonic)

    def _now_and_rules(self, conn) -> tuple[float, list[Rule], float | None]:
        """The database clock, the rules in force and the restriction's end, in one round trip (the
        lock is held meanwhile: every statement under it delays every other request)."""
        now, stored, restricted_until = conn.execute(
            "SELECT extract(epoch FROM clock_timestamp())::float8, s.rules, s.restricted_until "
            "FROM (SELECT 1) one LEFT JOIN warehouse.rate_limit_state s ON s.limiter_key = %s", (self.key,)
        ).fetchone()
        if stored is None:
            return now, (self.default_rules or [Rule(*CONSERVATIVE_RULES)]), None
        rules = [Rule(**r) for r in stored]
        if self.default_rules and all(r.scope == ALL_SCOPES for r in rules):
            return now, self.default_rules, restricted_until  # nothing announced yet: today's configured ceiling
        return now, rules, restricted_until

    def _limiting_hits(self, conn, now: float, rules: Sequence[Rule]) -> list[float | None]:
        """Each rule's `max_hits`-th newest hit inside its window, None when there are fewer.

        Found by PostgreSQL in one round trip: the window of a generous ceiling (a backfill's
        thousands of requests a minute) holds thousands of hits, and reading them all into this
        process, under the lock every request waits for, cost more than the request itself."""
        if not rules:
            return []
        # a plain hit ('*') counts against every scope; a pre-filled one only against its own
        rows = conn.execute(
            """
            SELECT (SELECT h.at FROM warehouse.rate_limit_hits h
                    WHERE h.limiter_key = %s AND (h.scope = '*' OR h.scope = r.scope) AND h.at > %s - r.period
                    ORDER BY h.at DESC OFFSET r.max_hits - 1 LIMIT 1)
            FROM unnest(%s::text[], %s::float8[], %s::int[]) WITH ORDINALITY AS r(scope, period, max_hits, i)
            ORDER BY r.i
            """,
            (self.key, now - self.pad, [r.scope for r in rules], [r.period for r in rules],
             [r.max_hits for r in rules]),
        ).fetchall()
        return [at for (at,) in rows]

    def _forget_old_hits(self, conn, now: float, rules: Sequence[Rule]) -> None:
        # Hits older than every window never count again; an hour's margin covers a policy
        # that grows its periods later (GGG's longest trade window today is 300 s). Once a
        # minute is enough (a hit that old is never counted), not once a request under the lock.
        horizon = max(max((r.period for r in rules), default=0.0) + self.pad, KEEP_HITS_SECONDS)
        if self._forgotten_at is not None and time.monotonic() - self._forgotten_at < FORGET_EVERY_SECONDS:
            return
        conn.execute("DELETE FROM warehouse.rate_limit_hits WHERE limiter_key = %s AND at < %s",
                     (self.key, now - horizon))
        self._forgotten_at = time.monotonic()

    def acquire(self) -> Permit:
        """Block until one more request fits every announced rule; it is counted at once."""
        waited = 0.0
        while True:
            with self.pool.connection() as conn, conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_id,))
                now, rules, restricted_until = self._now_and_rules(conn)
                self._forget_old_hits(conn, now, rules)
                wait = wait_for_limiting_hits(now, rules, self._limiting_hits(conn, now, rules), restricted_until,
                                              self.pad)
                if wait <= 0:
                    hit_id = conn.execute(
                        "INSERT INTO warehouse.rate_limit_hits (limiter_key, scope, at) VALUES (%s, %s, %s) RETURNING id",
                        (self.key, ALL_SCOPES, now),
                    ).fetchone()[0]
                    return Permit(hit_id=hit_id, waited=waited)
            if waited + wait > self.max_wait:
                raise RateLimitWaitTooLong(
                    f"the trade API's limits require waiting {wait:.0f} s more, longer than the "
                    f"{self.max_wait:.0f} s this run may wait; the items not fetched stay missing "
                    "and are fetched by the next run of this hour"
                )
            step = min(wait, self.poll) if wait > self.poll * 4 else wait
            # a short sleep re-reads rules another process may just have learned
            self._sleep(max(step, 0.001))
            waited += max(step, 0.001)

    def record(self, permit: Permit, status_code: int, headers: Mapping[str, str]) -> None:
        """Learn from a response: move our hit to its arrival time, store the rules, obey restrictions."""
        rules = parse_rules(headers)
        states = parse_states(headers)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._lock_id,))
            # the server counted the hit somewhere between sending and now; now is the safe side
            moved = conn.execute("UPDATE warehouse.rate_limit_hits SET at = extract(epoch FROM clock_timestamp()) "
                                 "WHERE id = %s RETURNING at", (permit.hit_id,)).fetchone()
            if not rules and not states and status_code != 429:
                # nothing announced, nothing restricted (a host without limits, a time-out): the stored
                # state would be written back as it is, so it is neither read nor written
                return
            clock, known_rules, restricted_until = self._now_and_rules(conn)
            now = moved[0] if moved is not None else clock
            if rules:
                known_rules = rules
            restriction = max((s.restricted_for for s in states), default=0.0)
            if status_code == 429:
                after = retry_after(headers)
                # a 429 without Retry-After or headers: assume the longest announced restriction
                restriction = max(restriction, after if after is not None
                                  else max((r.restriction for r in known_rules), default=60.0))
            if restriction > 0:
                restricted_until = max(restricted_until or 0.0, now + restriction + self.pad)
            conn.execute(
                """
                INSERT INTO warehouse.rate_limit_state (limiter_key, rules, restricted_until, updated_at)
                VALUES (%s, %s, %s, now())
                ON CONFLICT (limiter_key) DO UPDATE
                SET rules = EXCLUDED.rules, restricted_until = EXCLUDED.restricted_until, updated_at = now()
                """,
                (self.key, json.dumps([asdict(r) for r in known_rules]), restricted_until),
            )
            self._prefill(conn, now, states)

    def _prefill(self, conn, now: float, states: Sequence[RuleState]) -> None:
        # The server may count hits we never made (another client on this IP or account):
        # add the difference so our windows are at least as full as the server's.
        for state in states:
            ours = conn.execute(
                "SELECT count(*) FROM warehouse.rate_limit_hits WHERE limiter_key = %s "
                "AND (scope = %s OR scope = %s) AND at > %s",
                (self.key, ALL_SCOPES, state.scope, now - state.period),
            ).fetchone()[0]
            missing = state.hits - ours
            if missing > 0:
                conn.execute(
                    "INSERT INTO warehouse.rate_limit_hits (limiter_key, scope, at) "
                    "SELECT %s, %s, %s FROM generate_series(1, %s)",
                    (self.key, state.scope, now, missing),
                )
