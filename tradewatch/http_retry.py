"""One retry loop for both GGG sources: every attempt through the shared rate limiter, backoff between.

Each attempt asks the limiter for a permit, sends the request and records the answer (or its
absence: status 0) with the limiter, so the limiter's log of hits is the same whichever source
called. What an answer means is the caller's: its `judge` returns the result, raises, or returns
`Retry(problem)`. A retry backs off exponentially (`backoff * 2**(attempt-1)`, at most
`backoff_max`), except `Retry(problem, back_off=False)`: there the limiter already holds the
wait (a 429) or nothing is gained by waiting (a refreshed token). When the attempts run out,
`RetriesExhausted` carries the last problem and the caller words the error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Protocol, TypeVar

import requests

from tradewatch.errors import TradeWatchError
from tradewatch.rate_limit import Permit

__all__ = ["Limiter", "Retry", "RetriesExhausted", "RetryPolicy", "send_with_retries"]

T = TypeVar("T")


class Limiter(Protocol):
    def acquire(self) -> Permit: ...
    def record(self, permit: Permit, status_code: int, headers: Mapping[str, str]) -> None: ...


@dataclass(frozen=True)
class Retry:
    """A judge's answer: this attempt failed in a way another attempt may not."""

    problem: str
    back_off: bool = True


class RetriesExhausted(TradeWatchError):
    """Every attempt failed; `problem` is the last one (the caller says what to do)."""

    def __init__(self, problem: str, attempts: int) -> None:
        super().__init__(f"gave up after {attempts} attempts; last problem: {problem}")
        self.problem = problem
        self.attempts = attempts


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int
    backoff: float = 1.0
    backoff_max: float = 30.0
    sleep: Callable[[float], None] = time.sleep

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (none after the last one)."""
        if attempt >= self.max_attempts:
            return 0.0
        return min(self.backoff_max, self.backoff * 2 ** (attempt - 1))


def send_with_retries(limiter: Limiter, policy: RetryPolicy, send: Callable[[], requests.Response],
                      judge: Callable[[requests.Response, int, float], T | Retry], *,
                      timeout_problem: str, unreachable_problem: str,
                      unreachable: tuple[type[BaseException], ...] = (requests.ConnectionError,),
                      before_permit: Callable[[], None] | None = None,
                      on_permit: Callable[[Permit], None] | None = None,
                      on_retry: Callable[[int, str, float], None] | None = None) -> T:
    """Run `send` until `judge(response, attempt, duration_ms)` gives a result, at most
    `policy.max_attempts` times. Hooks, in the order of one attempt: `before_permit()` (e.g.
    fetch a token), `on_permit(permit)` (count the request and the limiter's wait), and
    `on_retry(attempt, problem, delay)` before each backed-off retry (delay 0 after the last)."""
    problem = "no attempt was made"
    for attempt in range(1, policy.max_attempts + 1):
        if before_permit is not None:
            before_permit()
        permit = limiter.acquire()
        if on_permit is not None:
            on_permit(permit)
        started = time.monotonic()
        verdict: T | Retry
        try:
            response = send()
        except requests.Timeout:  # first: a connect time-out is a ConnectionError too
            limiter.record(permit, 0, {})
            verdict = Retry(timeout_problem)
        except unreachable:
            limiter.record(permit, 0, {})
            verdict = Retry(unreachable_problem)
        else:
            duration_ms = (time.monotonic() - started) * 1000
            limiter.record(permit, response.status_code, response.headers)
            verdict = judge(response, attempt, duration_ms)
        if not isinstance(verdict, Retry):
            return verdict
        problem = verdict.problem
        if verdict.back_off:
            delay = policy.delay(attempt)
            if on_retry is not None:
                on_retry(attempt, problem, delay)
            if attempt < policy.max_attempts:
                policy.sleep(delay)
    raise RetriesExhausted(problem, policy.max_attempts)
