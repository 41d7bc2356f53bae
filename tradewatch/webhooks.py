"""Posting alerts to webhooks (Discord or any endpoint that takes a JSON POST).

A webhook URL is a secret (Discord's carry a token in the path), so it appears in logs,
messages and tables only as `redact_webhook(url)` — `scheme://host/…` — and is identified
in the warehouse by a hash. A delivery is retried with exponential backoff on a network
error, a time-out, 429 or a 5xx; any other 4xx is final (retrying would not change it).
Nothing here raises for a failing webhook: the outcome says what happened.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

__all__ = ["Delivery", "post_json", "redact_webhook", "webhook_id"]


def redact_webhook(url: str) -> str:
    """`scheme://host[:port]/…`: where it goes, without the path or query that hold the token."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


def webhook_id(url: str) -> str:
    """A stable key for the URL that does not reveal it (first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Delivery:
    """The outcome of posting one payload to one webhook."""

    delivered: bool
    attempts: int
    http_status: int | None
    error: str | None  # one line, never containing the URL


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def post_json(url: str, payload: dict, *, user_agent: str, max_attempts: int = 4, backoff: float = 1.0,
              timeout: float = 10.0, session: requests.Session | None = None,
              log: Callable[[str], None] = lambda _: None) -> Delivery:
    """POST `payload` as JSON to `url`, retrying with backoff (1×, 2×, 4× `backoff` seconds)."""
    where = redact_webhook(url)
    http = session or requests.Session()
    status: int | None = None
    error: str | None = None
    for attempt in range(1, max_attempts + 1):
        try:
            response = http.post(url, json=payload, timeout=timeout, allow_redirects=False,
                                 headers={"User-Agent": user_agent})
            status = response.status_code
            if 200 <= status < 300:
                return Delivery(True, attempt, status, None)
            error = f"HTTP {status}"
            if not _retryable(status):
                break
            retry_after = response.headers.get("Retry-After")
        except requests.RequestException as exc:
            # the exception's text names the URL: keep only its kind
            status, error, retry_after = None, type(exc).__name__, None
        if attempt < max_attempts:
            delay = backoff * 2 ** (attempt - 1)
            if retry_after is not None:
                try:
                    delay = max(delay, min(float(retry_after), 60.0))
                except ValueError:
                    pass
            log(f"webhook {where}: attempt {attempt} failed ({error}); retrying in {delay:.2g} s")
            time.sleep(delay)
    return Delivery(False, attempt, status, error)
