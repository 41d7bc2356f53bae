"""The per-run metadata both GGG sources' raw assets report about their requests.

Both clients count the same things (requests, 429 answers, retries, seconds waited for the
limiter and backing off); the keys are what the Dagster UI and the tests read.
"""

from __future__ import annotations

from typing import Protocol


class RequestStats(Protocol):
    requests: int
    rate_limited: int
    retries: int
    waited_seconds: float


def request_metadata(stats: RequestStats, *, requests_key: str = "requests") -> dict[str, int | float]:
    """`requests_key` is the trade site asset's historic `requests_made`, else `requests`."""
    return {
        requests_key: stats.requests,
        "rate_limited_429": stats.rate_limited,
        "retries": stats.retries,
        "limiter_wait_seconds": round(stats.waited_seconds, 3),
    }
