"""The Currency Exchange history feed over HTTP: `GET /api/currency-exchange[/<realm>][/<id>]`
and the OAuth token endpoint `POST /oauth/token`.

Routes (also under `/currency-exchange`, the authenticated host's path): the realm segment
is absent for PoE 1 PC and one of `poe2`, `xbox`, `sony` otherwise (`/pc/<id>` is 404, like
the real feed). Order of work on a request: the feed's own rate limiter when `cx_policy` is
set (the CDN announces no limits, so by default no X-Rate-Limit headers at all), then the
injected faults of the shared fault knobs (own seeded sequence), then the bearer token when
`cx_require_token` is set, then the answer:

| request | answer |
|---|---|
| published hour T | 200, `currency_exchange_document(T)` bytes, `next_change_id` T+3600 |
| T in `cx_empty_hours` | 200 `{"next_change_id":T+3600,"markets":[]}` |
| T in `cx_stale_hours` | 200, the document of T - 24 h (a stale cache: wrong next_change_id) |
| T not published yet (T + 1 h + `cx_publish_delay_seconds` > now) | 404 `{"next_change_id":T,"markets":[]}`, or with `cx_unpublished_style="terminal"` the 200 terminal form |
| T not hour-aligned, T before the realm's first hour, unknown realm, `/pc/...` | 404 `{"error":{"code":1,"message":"Resource not found"}}` |
| no id | the realm's oldest hour (`cx_first_hour`, `cx_first_hour_poe2`) |
| missing/unknown/expired token (when required) | 401 `{"error":{"code":8,"message":"Unauthorized"}}` |

With `cx_request_log` every feed request appends `<realm> <id> <status>` to that file.
With `cx_cache_dir` a published hour prebuilt there (`trade_sim.cx_cache`) is served from disk,
the same bytes. With `cx_gzip` a client sending `Accept-Encoding: gzip` gets the body gzipped, as from the
CDN (the decoded bytes are the document). With `fixed_hour` set, "now" is that hour: every earlier hour is published, it and later ones
are not. The token endpoint takes the client-credentials form (`client_id`, `client_secret`,
`grant_type=client_credentials`, `scope=service:cxapi`) and answers GGG's shape with
`expires_in` null (or `cx_token_expires_in`); bad requests get RFC 6749 error JSON.
"""

from __future__ import annotations

import asyncio
import gzip
import hmac
import secrets
import threading
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import cx_cache
from .config import SimConfig, hour_set
from .currency_exchange import REALMS, currency_exchange_document, empty_document, first_hour
from .faults import FaultDraw, FaultInjector
from .rate_limit import RateLimiter
from .responses import dumps, error_body, fault_response, json_response

__all__ = ["TokenStore", "install", "is_published", "routes"]

PREFIXES = ("/api/currency-exchange", "/currency-exchange")
SCOPE = "service:cxapi"
_STALE_SHIFT = 86400  # a stale answer is the document of the same hour a day earlier
_NOT_FOUND = error_body(1, "Resource not found")
_PUBLISHED_CACHE = "public, max-age=31536000, immutable"
_UNPUBLISHED_CACHE = "public, max-age=60"


class TokenStore:
    """Access tokens issued by `/oauth/token`, with their issue time (monotonic)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: dict[str, float] = {}

    def issue(self) -> str:
        token = secrets.token_hex(20)  # 40 hex digits, like GGG's tokens
        with self._lock:
            self._issued[token] = time.monotonic()
        return token

    def is_valid(self, token: str, expires_in: int | None) -> bool:
        with self._lock:
            issued = self._issued.get(token)
        if issued is None:
            return False
        return expires_in is None or time.monotonic() - issued < expires_in

    def revoke_all(self) -> None:
        """Forget every token (what revoking the app's grant does): the next use is a 401."""
        with self._lock:
            self._issued.clear()


def install(app: Starlette, config: SimConfig) -> None:
    """Put the feed's limiter, fault sequence and token store on `app.state`."""
    app.state.cx_limiter = RateLimiter(
        config, policy_field="cx_policy", account_policy_field=None, policy_name_field="cx_policy_name"
    )
    app.state.cx_faults = FaultInjector(config)
    app.state.cx_tokens = TokenStore()


def routes() -> list[Route]:
    out = [Route("/oauth/token", _token, methods=["POST"])]
    for prefix in PREFIXES:
        out += [
            Route(prefix, _feed, methods=["GET"]),
            Route(prefix + "/{first}", _feed, methods=["GET"]),
            Route(prefix + "/{first}/{second}", _feed, methods=["GET"]),
        ]
    return out


def is_published(hour: int, config: SimConfig, now: float | None = None) -> bool:
    """Whether the hour starting at unix second `hour` is published at `now` (default: wall clock)."""
    if config.fixed_hour is not None:
        return hour + 3600 <= config.fixed_hour.timestamp()
    now = time.time() if now is None else now
    return now >= hour + 3600 + config.cx_publish_delay_seconds


def _oauth_error(status: int, error: str, description: str) -> Response:
    return json_response(dumps({"error": error, "error_description": description}), status,
                         {"Cache-Control": "no-store"})


async def _token(request: Request) -> Response:
    config: SimConfig = request.app.state.config
    form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
    grant = form.get("grant_type")
    if grant is None:
        return _oauth_error(400, "invalid_request", "The grant type was not specified in the request")
    if grant != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "The authorization grant type is not supported")
    client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    if not client_id or not client_secret:
        return _oauth_error(400, "invalid_request", "client_id and client_secret are required")
    ok = hmac.compare_digest(client_id.encode(), config.cx_client_id.encode()) and hmac.compare_digest(
        client_secret.encode(), config.cx_client_secret.encode()
    )
    if not ok:
        return _oauth_error(401, "invalid_client", "Client authentication failed")
    scopes = form.get("scope", "").split()
    if SCOPE not in scopes:
        return _oauth_error(400, "invalid_scope", f"The requested scope is invalid; ask for {SCOPE}")
    token = request.app.state.cx_tokens.issue()
    body = {
        "access_token": token,
        "expires_in": config.cx_token_expires_in,
        "token_type": "bearer",
        "username": "TradeWatchSim",
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, "trade-sim-client:" + config.cx_client_id)),
        "scope": " ".join(scopes),
    }
    return json_response(dumps(body), 200, {"Cache-Control": "no-store"})


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def _feed(request: Request) -> Response:
    app = request.app
    config: SimConfig = app.state.config
    # Tests may replace app.state.config wholesale; keep the helpers on the live one.
    limiter: RateLimiter = app.state.cx_limiter
    faults: FaultInjector = app.state.cx_faults
    limiter.config = config
    faults.config = config
    rl_headers: dict[str, str] = {}
    if config.cx_policy:
        ip = request.client.host if request.client else "unknown"
        decision = limiter.check(ip, None, now=getattr(request.state, "arrival", None))
        if not decision.allowed:
            response = json_response(error_body(3, "Rate limit exceeded"), 429, decision.headers)
            if config.latency_seconds:
                await asyncio.sleep(config.latency_seconds)
            return response
        rl_headers = decision.headers
    fault = faults.draw()
    response = await _answer(request, config, rl_headers, fault)
    if config.cx_request_log:
        _log_request(config.cx_request_log, request, response.status_code)
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    return response


_LOG_LOCK = threading.Lock()


def _log_request(path: str, request: Request, status: int) -> None:
    """One line per feed request, `<realm> <id or -> <status>`, appended whole (one write under a lock)."""
    first = request.path_params.get("first")
    second = request.path_params.get("second")
    realm, ident = ("pc", first) if second is None and first not in REALMS else (first or "pc", second)
    line = f"{realm} {ident or '-'} {status}\n"
    with _LOG_LOCK, open(path, "a", encoding="utf-8") as log:
        log.write(line)


def _target(request: Request, config: SimConfig) -> tuple[str, int] | None:
    """(realm, hour) the path asks for, or None when it names no resource."""
    first = request.path_params.get("first")
    second = request.path_params.get("second")
    if first is None:
        return "pc", first_hour("pc", config)
    if second is None:
        if first in REALMS and first != "pc":
            return first, first_hour(first, config)
        realm, id_text = "pc", first
    else:
        if first not in REALMS or first == "pc":
            return None
        realm, id_text = first, second
    if not id_text.isdigit():
        return None
    hour = int(id_text)
    if hour % 3600 or hour < first_hour(realm, config):
        return None
    return realm, hour


async def _answer(
    request: Request, config: SimConfig, rl_headers: dict[str, str], fault: FaultDraw
) -> Response:
    faulted = fault_response(fault, rl_headers, f"{id(request)}-{time.monotonic_ns()}")
    if faulted is not None:
        return faulted
    if config.cx_require_token:
        token = _bearer(request)
        if token is None or not request.app.state.cx_tokens.is_valid(token, config.cx_token_expires_in):
            headers = dict(rl_headers)
            headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return json_response(error_body(8, "Unauthorized"), 401, headers)
    target = _target(request, config)
    if target is None:
        return json_response(_NOT_FOUND, 404, rl_headers)
    realm, hour = target
    headers = dict(rl_headers)
    if not is_published(hour, config):
        headers["Cache-Control"] = _UNPUBLISHED_CACHE
        status = 404 if config.cx_unpublished_style == "404" else 200
        return json_response(empty_document(hour), status, headers)
    served = hour - _STALE_SHIFT if hour in hour_set("cx_stale_hours", config.cx_stale_hours) else hour
    wants_gzip = config.cx_gzip and "gzip" in request.headers.get("accept-encoding", "").lower()
    headers["Cache-Control"] = _PUBLISHED_CACHE
    packed = cx_cache.load(realm, served, config) if fault.kind != "truncated_json" else None
    if packed is not None and wants_gzip:
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
        return json_response(packed, 200, headers)
    if packed is not None:
        body = await run_in_threadpool(gzip.decompress, packed)
    else:
        moment = datetime.fromtimestamp(served, timezone.utc)
        # Building a document takes tens of ms: keep the event loop free for other requests.
        body = await run_in_threadpool(currency_exchange_document, moment, realm, config)
    if fault.kind == "truncated_json":
        body = body[: len(body) // 2]
    if wants_gzip:
        body = await run_in_threadpool(gzip.compress, body, 1, mtime=0)
        headers["Content-Encoding"] = "gzip"
        headers["Vary"] = "Accept-Encoding"
    return json_response(body, 200, headers)
