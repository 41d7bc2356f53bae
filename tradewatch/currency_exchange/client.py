"""The Currency Exchange history client: `GET {base}[/<realm>]/<hour>`, through the shared rate limiter.

The answer for hour T is valid only if it is a 200 whose `next_change_id` is T + 3600 (an
empty `markets` list is then a complete, empty hour). A 404 `{"next_change_id": T, ...}` or
a 200 with `next_change_id == T` means the hour is not published yet; any other
`next_change_id` is a document of another hour (a stale cache) and is refused with that
reason. 5xx, 429, time-outs, connection errors, HTML pages and cut-off JSON are retried
with backoff, each retry again through the limiter. With an OAuth client the token comes
from the client-credentials flow (`expires_in` null or a number) and is renewed on a 401;
the client secret never appears in a message, a log line or a stored row.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Mapping
from urllib.parse import urlsplit

import orjson
import requests
import simdjson

from tradewatch.errors import TradeWatchError
from tradewatch.http_retry import Limiter, RetriesExhausted, Retry, RetryPolicy, send_with_retries
from tradewatch.rate_limit import rate_limit_headers
from pydantic import SecretStr as Secret

HOUR_SECONDS = 3600
CX_SCOPE = "service:cxapi"
# Headers kept with every stored document besides the rate-limit ones (never Set-Cookie).
KEPT_HEADERS = ("content-type", "content-length", "content-encoding", "cache-control", "age", "etag",
                "last-modified", "date", "expires", "cf-cache-status", "x-cache")

# What one request for an hour came to.
PUBLISHED = "published"          # a valid document for the hour (possibly an empty hour)
NOT_PUBLISHED = "not_published"  # not yet: retry later, nothing stored
STALE = "stale"                  # a document of another hour: nothing stored
REFUSED = "refused"              # the feed says no (404 of another kind, 401/403): nothing stored
FAILED = "failed"                # retries exhausted (5xx, time-outs, HTML, bad JSON)


class CurrencyExchangeError(TradeWatchError):
    """The feed or its token endpoint cannot be used as configured; the message says what to do."""


@dataclass(frozen=True)
class HourAnswer:
    """The outcome for one realm and hour, with everything needed to store a valid document verbatim."""

    realm: str
    hour: datetime
    kind: str
    url: str
    status_code: int | None = None
    body: bytes | None = None  # exactly as received; only for PUBLISHED
    headers: dict[str, str] = field(default_factory=dict)
    fetched_at: datetime | None = None
    duration_ms: float = 0.0
    attempt: int = 0
    response_bytes: int = 0
    next_change_id: int | None = None
    market_count: int | None = None
    reason: str | None = None

    @property
    def empty(self) -> bool:
        return self.kind == PUBLISHED and self.market_count == 0


@dataclass
class CxStats:
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    waited_seconds: float = 0.0
    bytes_received: int = 0
    token_requests: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)


def hour_id(hour: datetime) -> int:
    """The feed's id of an hour: unix seconds of its start; the hour must be whole."""
    if hour.tzinfo is None:
        hour = hour.replace(tzinfo=timezone.utc)
    seconds = hour.timestamp()
    if seconds % HOUR_SECONDS:
        raise ValueError(f"{hour.isoformat()} is not a whole UTC hour; the feed only has hour-aligned ids")
    return int(seconds)


def hour_from_id(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=timezone.utc)


def hour_url(base_url: str, realm: str, hour: datetime) -> str:
    """`{base}/<id>` for PC (which has no realm segment: /pc/<id> is a 404), else `{base}/<realm>/<id>`."""
    base = base_url.rstrip("/")
    return f"{base}/{hour_id(hour)}" if realm == "pc" else f"{base}/{realm}/{hour_id(hour)}"


_BOM = b"\xef\xbb\xbf"
_parsers = threading.local()  # a simdjson parser serves one document at a time: one per thread


def read_envelope(body: bytes) -> tuple[int, int]:
    """(next_change_id, number of markets) of a document; ValueError when it is not one.

    The whole body must be valid JSON: a document is stored once and never fetched again, so
    a cut-off or corrupt one must be refused here. simdjson validates it all (structure, UTF-8,
    numbers) without building its ~10,000 objects: ~0.6 ms a 1.3 MB hour instead of ~8 ms with
    orjson. orjson still decides the rare text the two judge differently (a byte-order mark,
    integers beyond 64 bits, a repeated top-level key), since it is what reads the document later.
    """
    envelope = _simdjson_envelope(body)
    if envelope is None:
        envelope = _orjson_envelope(body)
    next_id, markets = envelope
    if isinstance(next_id, bool) or not isinstance(next_id, (int, float)) or next_id != int(next_id):
        raise ValueError("the JSON has no integer next_change_id")
    if markets is None:
        raise ValueError("the JSON has no markets list")
    return int(next_id), markets


def _simdjson_envelope(body: bytes) -> tuple[object, int | None] | None:
    """(next_change_id, len(markets) or None) by simdjson; None: let orjson decide."""
    parser = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = simdjson.Parser()
    try:
        parsed = parser.parse(body)
    except (ValueError, RuntimeError):  # RuntimeError: integers beyond 64 bits (orjson takes them as floats)
        return None
    markets = None
    try:
        if not isinstance(parsed, simdjson.Object) or body.startswith(_BOM) or \
                len(parsed) != len(set(parsed.keys())):
            return None
        markets = parsed.get("markets")
        count = len(markets) if isinstance(markets, simdjson.Array) else None
        return parsed.get("next_change_id"), count
    finally:
        del parsed, markets  # the parser refuses another document while its objects live


def _orjson_envelope(body: bytes) -> tuple[object, int | None]:
    parsed = orjson.loads(body)
    if not isinstance(parsed, dict):
        raise ValueError("the JSON is not an object")
    markets = parsed.get("markets")
    return parsed.get("next_change_id"), len(markets) if isinstance(markets, list) else None


def _kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    kept = rate_limit_headers(headers)
    kept.update({k: v for k, v in headers.items() if k.lower() in KEPT_HEADERS})
    return kept


def _looks_html(content_type: str, body: bytes) -> bool:
    return "html" in content_type.lower() or body[:64].lstrip().lower().startswith((b"<!doctype", b"<html"))


class ClientCredentials:
    """An OAuth client-credentials token for scope `service:cxapi`, fetched when first needed.

    GGG's tokens for this grant have `expires_in: null` (they never expire until revoked);
    a number is honoured too (renewed a minute early). `invalidate` after a 401 makes the
    next request fetch a new one. Thread-safe: concurrent fetches share one token request.
    """

    def __init__(self, token_url: str, client_id: str, client_secret: Secret, user_agent: str, *,
                 scope: str = CX_SCOPE, timeout: float = 20.0, max_attempts: int = 4, backoff: float = 1.0,
                 stats: CxStats | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = client_secret
        self.user_agent = user_agent
        self.scope = scope
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.stats = stats or CxStats()
        self._sleep = sleep
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: float | None = None

    def _redact(self, text: str) -> str:
        secret = self._secret.get_secret_value()
        return text.replace(secret, "***") if secret else text

    def token(self) -> str:
        with self._lock:
            if self._token is not None and (self._expires_at is None or self._clock() < self._expires_at):
                return self._token
            self._token, self._expires_at = self._request()
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def _request(self) -> tuple[str, float | None]:
        form = {"client_id": self.client_id, "client_secret": self._secret.get_secret_value(),
                "grant_type": "client_credentials", "scope": self.scope}
        problem = "no attempt was made"
        for attempt in range(1, self.max_attempts + 1):
            self.stats.add(token_requests=1)
            try:
                response = requests.post(self.token_url, data=form, timeout=self.timeout,
                                         headers={"User-Agent": self.user_agent, "Accept": "application/json"})
            except (requests.Timeout, requests.ConnectionError):
                problem = f"cannot reach {urlsplit(self.token_url).netloc}"
            else:
                if response.status_code == 200:
                    return self._parse(response.content)
                if response.status_code < 500 and response.status_code != 429:
                    raise CurrencyExchangeError(
                        f"the token endpoint refused client {self.client_id!r} ({response.status_code}: "
                        f"{self._oauth_error(response.content)}); check TRADEWATCH_CX_CLIENT_ID and "
                        "TRADEWATCH_CX_CLIENT_SECRET (a confidential client with scope service:cxapi), or unset "
                        "both to read the public copy")
                problem = f"HTTP {response.status_code}"
            if attempt < self.max_attempts:
                self._sleep(self.backoff * 2 ** (attempt - 1))
        raise CurrencyExchangeError(f"no token from {urlsplit(self.token_url).netloc} after {self.max_attempts} "
                                    f"attempts ({problem}); try again later or check TRADEWATCH_CX_TOKEN_URL")

    def _oauth_error(self, content: bytes) -> str:
        try:
            data = orjson.loads(content)
            text = f"{data.get('error')}: {data.get('error_description', '')}".strip(": ")
        except (ValueError, AttributeError):
            text = content[:200].decode("utf-8", "replace")
        return self._redact(text)[:200]

    def _parse(self, content: bytes) -> tuple[str, float | None]:
        try:
            data = orjson.loads(content)
            token = data["access_token"]
            expires_in = data.get("expires_in")
        except (ValueError, KeyError, TypeError):
            raise CurrencyExchangeError("the token endpoint answered 200 without an access_token; "
                                        "check TRADEWATCH_CX_TOKEN_URL") from None
        if not isinstance(token, str) or not token:
            raise CurrencyExchangeError("the token endpoint answered an empty access_token; check TRADEWATCH_CX_TOKEN_URL")
        if expires_in is None:
            return token, None  # client-credentials tokens do not expire (revoked by hand)
        try:
            seconds = float(expires_in)
        except (TypeError, ValueError):
            return token, None
        return token, self._clock() + max(0.0, seconds - 60.0)


class CurrencyExchangeClient:
    """Fetches hour documents; safe to call from several threads at once (one session per thread)."""

    def __init__(self, base_url: str, user_agent: str, limiter: Limiter, *,
                 credentials: ClientCredentials | None = None, timeout: float = 30.0, max_attempts: int = 6,
                 backoff: float = 1.0, backoff_max: float = 60.0, sleep: Callable[[float], None] = time.sleep) -> None:
        self.base_url = base_url.rstrip("/")
        self.user_agent = user_agent
        self.limiter = limiter
        self.credentials = credentials
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.backoff_max = backoff_max
        self.stats = credentials.stats if credentials is not None else CxStats()
        self._retry_policy = RetryPolicy(max_attempts, backoff, backoff_max, sleep)
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._sessions_lock = threading.Lock()

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update({"User-Agent": self.user_agent, "Accept": "application/json"})
            self._local.session = session
            with self._sessions_lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._sessions_lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def _retried(self, attempt: int, problem: str, delay: float) -> None:
        self.stats.add(retries=1, waited_seconds=delay)

    def fetch_hour(self, realm: str, hour: datetime) -> HourAnswer:
        """One hour's document, classified (see the module docstring); never raises for the feed's answers."""
        url = hour_url(self.base_url, realm, hour)
        t = hour_id(hour)
        token: str | None = None

        def fresh_token() -> None:
            nonlocal token
            token = self.credentials.token() if self.credentials is not None else None

        def send() -> requests.Response:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            return self._session().get(url, headers=headers, timeout=self.timeout)

        def judge(response: requests.Response, attempt: int, duration_ms: float) -> HourAnswer | Retry:
            body = response.content
            status = response.status_code
            self.stats.add(bytes_received=len(body))
            html = _looks_html(response.headers.get("Content-Type", ""), body)
            answer = dict(realm=realm, hour=hour, url=url, status_code=status, headers=_kept_headers(response.headers),
                          fetched_at=datetime.now(timezone.utc), duration_ms=duration_ms, attempt=attempt,
                          response_bytes=len(body))
            if status == 429:
                self.stats.add(rate_limited=1, retries=1)
                return Retry("rate limited (429)", back_off=False)  # the limiter holds the restriction now
            if status == 401 and token is not None:
                self.credentials.invalidate(token)
                self.stats.add(retries=1)
                return Retry("the token was refused (401)", back_off=False)
            if status in (401, 403) and not html:
                return HourAnswer(kind=REFUSED, reason=(
                    f"the feed refused the request ({status}); with the authenticated host set "
                    "TRADEWATCH_CX_CLIENT_ID and TRADEWATCH_CX_CLIENT_SECRET, or unset TRADEWATCH_CX_URL "
                    "to read the public copy"), **answer)
            if status == 404 and not html:
                try:
                    next_id, markets = read_envelope(body)
                except ValueError:
                    next_id, markets = None, None
                if next_id == t and markets == 0:
                    return HourAnswer(kind=NOT_PUBLISHED, next_change_id=next_id, market_count=0,
                                      reason="not published yet (404)", **answer)
                return HourAnswer(kind=REFUSED, reason=(
                    f"the feed has no such hour (404 for {url}); check the realm (pc has no path segment) "
                    "and TRADEWATCH_CX_URL"), **answer)
            if status != 200 or html:
                return Retry("an HTML page instead of JSON" if html else f"HTTP {status}")
            try:
                next_id, markets = read_envelope(body)
            except ValueError as exc:
                return Retry(f"not a currency-exchange document ({exc})")
            if next_id == t + HOUR_SECONDS:
                return HourAnswer(kind=PUBLISHED, body=body, next_change_id=next_id, market_count=markets, **answer)
            if next_id == t:
                return HourAnswer(kind=NOT_PUBLISHED, next_change_id=next_id, market_count=markets,
                                  reason="not published yet (the end of the stream)", **answer)
            return HourAnswer(kind=STALE, next_change_id=next_id, market_count=markets, reason=(
                f"next_change_id {next_id} ({_iso(next_id)}) is not {t + HOUR_SECONDS}: the document "
                "belongs to another hour (a stale cache); nothing stored, the next run asks again"), **answer)

        try:
            return send_with_retries(
                self.limiter, self._retry_policy, send, judge,
                timeout_problem=f"no answer within {self.timeout:g} s",
                unreachable_problem=f"cannot connect to {self.host} or the answer was cut off",
                unreachable=(requests.ConnectionError, requests.exceptions.ChunkedEncodingError),
                before_permit=fresh_token,
                on_permit=lambda permit: self.stats.add(requests=1, waited_seconds=permit.waited),
                on_retry=self._retried)
        except RetriesExhausted as exhausted:
            return HourAnswer(realm=realm, hour=hour, url=url, kind=FAILED, attempt=self.max_attempts,
                              reason=f"gave up after {self.max_attempts} attempts; last problem: {exhausted.problem}")


def _iso(seconds: int) -> str:
    try:
        return hour_from_id(seconds).strftime("%Y-%m-%dT%H:%MZ")
    except (OverflowError, OSError, ValueError):
        return "not a time"

