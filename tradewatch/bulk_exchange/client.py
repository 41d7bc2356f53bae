"""The bulk-exchange client: one polite request per item, through the shared rate limiter.

Retries (with backoff, each retry again through the limiter) cover what passes: 5xx,
timeouts, connection errors, HTML pages instead of JSON (Cloudflare) and cut-off JSON.
A 400 is the query's fault and is not retried. Cookies are sent in a header built per
request and never appear in an exception, a log line or a stored row.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import quote, urlsplit

import requests

from tradewatch.errors import TradeWatchError
from tradewatch.http_retry import Limiter, RetriesExhausted, Retry, RetryPolicy, send_with_retries
from tradewatch.rate_limit import Permit, rate_limit_headers


class TradeApiError(TradeWatchError):
    """A request for one item failed for good; the message says what to do."""


class BadQuery(TradeApiError):
    pass


class CloudflareBlocked(TradeApiError):
    pass


@dataclass(frozen=True)
class ExchangeResponse:
    """One successful answer, with everything needed to store it verbatim (`raw_body`: the bytes
    received; `body`: what they parse to)."""

    request_path: str
    request_body: dict
    status_code: int
    body: dict
    rate_limit_headers: dict[str, str]
    fetched_at: datetime
    duration_ms: float
    attempt: int
    response_bytes: int
    raw_body: bytes


@dataclass
class ClientStats:
    requests: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0
    retries: int = 0
    failures: list[str] = field(default_factory=list)


def exchange_path(game: str, league: str) -> str:
    if game == "poe2":
        return f"/api/trade2/exchange/poe2/{quote(league, safe='')}"
    return f"/api/trade/exchange/{quote(league, safe='')}"


def limiter_key(base_url: str, game: str) -> str:
    """The rate limiter's key for the exchange endpoint of `base_url`: every process fetching from
    the same host and endpoint shares one limiter state (the schedule's runs, the demo's start)."""
    return f"{urlsplit(base_url).netloc}/{'exchange2' if game == 'poe2' else 'exchange'}"


def exchange_body(have: str, want: str, minimum: int | None = None, status: str = "online") -> dict:
    query: dict = {"status": {"option": status}, "have": [have], "want": [want]}
    if minimum:
        query["minimum"] = minimum
    return {"engine": "new", "query": query, "sort": {"have": "asc"}}


class _Unpaced:
    """The league list has its own rate-limit policy: a client made only for it has no exchange limiter."""

    def acquire(self) -> Permit:
        raise TradeApiError("this client only reads the league list; exchange requests need the shared limiter")

    def record(self, permit: Permit, status_code: int, headers) -> None:
        raise TradeApiError("this client only reads the league list")


def list_leagues(base_url: str, game: str, user_agent: str, *, poesessid: str | None = None,
                 cf_clearance: str | None = None, timeout: float = 10.0) -> list[str]:
    """The trade site's current leagues (one request, see `TradeApiClient.leagues`); raises TradeApiError."""
    client = TradeApiClient(base_url, game, "", user_agent, _Unpaced(), poesessid=poesessid,
                            cf_clearance=cf_clearance, timeout=timeout, max_attempts=1)
    try:
        return client.leagues()
    finally:
        client.close()


def _error_message(text: str) -> str:
    try:
        return str(json.loads(text)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return text[:200]


class TradeApiClient:
    """Talks to `{base_url}/api/trade/exchange/{league}` (or the PoE 2 path)."""

    def __init__(self, base_url: str, game: str, league: str, user_agent: str, limiter: Limiter, *,
                 poesessid: str | None = None, cf_clearance: str | None = None,
                 timeout: float = 20.0, max_attempts: int = 6, backoff: float = 1.0, backoff_max: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.game = game
        self.league = league
        self.limiter = limiter
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.stats = ClientStats()
        self._retry_policy = RetryPolicy(max_attempts, backoff, backoff_max, sleep)
        self._session = requests.Session()
        self._session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})
        cookies = [f"POESESSID={poesessid}" if poesessid else "", f"cf_clearance={cf_clearance}" if cf_clearance else ""]
        self._cookie_header = "; ".join(c for c in cookies if c)

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def close(self) -> None:
        self._session.close()

    def leagues(self) -> list[str]:
        """The trade site's current leagues (`GET /api/trade[2]/data/leagues`); raises TradeApiError
        when the list cannot be read. One request per run, outside the exchange limiter: this
        endpoint has its own rate-limit policy, and its headers must not replace the exchange's rules."""
        path = "/api/trade2/data/leagues" if self.game == "poe2" else "/api/trade/data/leagues"
        # not in self.stats: those count the exchange requests the limiter paced
        headers = {"Cookie": self._cookie_header} if self._cookie_header else {}
        try:
            response = self._session.get(self.base_url + path, headers=headers, timeout=self.timeout)
            result = response.json()["result"] if response.status_code == 200 else None
            names = [entry["id"] for entry in result if isinstance(entry, dict) and isinstance(entry.get("id"), str)]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            result, names = None, []
        if result is None or not names:
            raise TradeApiError(f"the trade site's league list ({path}) could not be read")
        return names

    def exchange(self, have: str, want: str, minimum: int | None = None) -> ExchangeResponse:
        """Fetch the order book for `want` paid in `have`; raises TradeApiError when it cannot."""
        path = exchange_path(self.game, self.league)
        body = exchange_body(have, want, minimum)
        cloudflare_seen = False
        headers = {"Content-Type": "application/json"}
        if self._cookie_header:
            headers["Cookie"] = self._cookie_header

        def counted(permit: Permit) -> None:
            self.stats.waited_seconds += permit.waited
            self.stats.requests += 1

        def noted(attempt: int, problem: str, delay: float) -> None:
            self.stats.retries += 1
            self.stats.failures.append(f"{want}: attempt {attempt}: {problem}")
            self.stats.waited_seconds += delay

        def judge(response: requests.Response, attempt: int, duration_ms: float) -> ExchangeResponse | Retry:
            nonlocal cloudflare_seen
            status = response.status_code
            content_type = response.headers.get("Content-Type", "")
            text = response.text
            looks_html = "html" in content_type or text.lstrip().lower().startswith(("<!doctype", "<html"))
            if status == 429:
                self.stats.rate_limited += 1
                return Retry("rate limited (429)", back_off=False)  # the limiter now holds the restriction
            if status == 400:
                raise BadQuery(
                    f"the trade API rejected the query for {want!r} (paid with {have!r}): "
                    f"{_error_message(text)}; check this id in your watchlist"
                )
            if status == 404:
                raise BadQuery(
                    f"the trade API answered 404 for {want!r} in league {self.league!r}: "
                    f"{_error_message(text)}; check the league name (TRADEWATCH_LEAGUE) and the game"
                )
            if status == 403 and looks_html:
                cloudflare_seen = True
                return Retry("Cloudflare challenge page (403)")
            if status in (401, 403):
                raise TradeApiError(
                    f"the trade API refused the request for {want!r} ({status}: {_error_message(text)}); "
                    "check POESESSID or remove it"
                )
            if status != 200:
                return Retry(f"HTTP {status}")
            if looks_html:
                return Retry("an HTML page instead of JSON")
            try:
                parsed = json.loads(text)
            except ValueError:
                return Retry("invalid or cut-off JSON")
            if not isinstance(parsed, dict) or not isinstance(parsed.get("result"), (dict, list)):
                return Retry("JSON without a `result`")
            return ExchangeResponse(
                request_path=path, request_body=body, status_code=status, body=parsed,
                rate_limit_headers=rate_limit_headers(response.headers),
                fetched_at=datetime.now(timezone.utc), duration_ms=duration_ms, attempt=attempt,
                response_bytes=len(response.content), raw_body=response.content,
            )

        try:
            return send_with_retries(
                self.limiter, self._retry_policy,
                lambda: self._session.post(self.base_url + path, json=body, headers=headers, timeout=self.timeout),
                judge, timeout_problem=f"no answer within {self.timeout:g} s",
                unreachable_problem=f"cannot connect to {self.host}", on_permit=counted, on_retry=noted)
        except RetriesExhausted as exhausted:
            if cloudflare_seen:
                raise CloudflareBlocked(
                    f"Cloudflare kept challenging the request for {want!r} ({self.max_attempts} attempts); "
                    "open the trade site in your browser, copy its cf_clearance cookie into CF_CLEARANCE and "
                    "that browser's User-Agent into TRADEWATCH_USER_AGENT"
                ) from None
            raise TradeApiError(f"gave up on {want!r} after {self.max_attempts} attempts; "
                                f"last problem: {exhausted.problem}") from None
