"""The Starlette app that answers like pathofexile.com's trade API.

Order of work on an exchange request mirrors a real deployment: the rate limiter
counts every request first (even malformed ones), then injected faults may replace
the answer (a faulted request has still been counted), then the body is validated
and the market model answers.

Live handles for tests, all on `app.state`:
- `config`: the SimConfig in use (mutable at runtime),
- `limiter`: the RateLimiter (`limiter.reset()` forgets all hits),
- `faults`: the FaultInjector (`faults.reseed()` restarts the fault sequence),
- `request_log`: list of (monotonic arrival time, status code, path), appended when
  the response starts (so slow responses may appear out of arrival order),
- `cx_limiter`, `cx_faults`, `cx_tokens`: the Currency Exchange feed's own limiter, fault
  sequence and token store (`cx_tokens.revoke_all()`), see trade_sim.cx_api.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone
from typing import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import cx_api, market, static
from .config import SimConfig
from .faults import FaultDraw, FaultInjector
from .rate_limit import RateLimiter
from .stable import floor_hour
from .responses import dumps, error_body, fault_response, json_response
from .validation import QueryError, validate_exchange_body

__all__ = ["create_app", "current_hour", "error_body"]


def current_hour(config: SimConfig) -> datetime:
    """The market hour to answer for: `config.fixed_hour` or now, floored to the UTC hour."""
    if config.fixed_hour is not None:
        return floor_hour(config.fixed_hour)
    return floor_hour(datetime.now(timezone.utc))


class _RequestLog:
    """ASGI middleware recording (arrival time, status, path) of every HTTP request.

    The arrival time is also put into the request state so the rate limiter and
    the log use the very same instant.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], log: list[tuple[float, int, str]]) -> None:
        self.app = app
        self.log = log

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        arrival = time.monotonic()
        scope.setdefault("state", {})["arrival"] = arrival
        path = scope.get("path", "")

        async def logging_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                self.log.append((arrival, message["status"], path))
            await send(message)

        await self.app(scope, receive, logging_send)


async def _exchange(request: Request) -> Response:
    app = request.app
    config: SimConfig = app.state.config
    arrival = getattr(request.state, "arrival", None)
    ip = request.client.host if request.client else "unknown"
    account = request.cookies.get("POESESSID") or None

    # Tests may replace app.state.config wholesale; keep the helpers on the live one.
    app.state.limiter.config = config
    app.state.faults.config = config
    decision = app.state.limiter.check(ip, account, now=arrival)
    if not decision.allowed:
        response = json_response(error_body(3, "Rate limit exceeded"), 429, decision.headers)
        if config.latency_seconds:
            await asyncio.sleep(config.latency_seconds)
        return response

    fault = app.state.faults.draw()
    response = await _exchange_answer(request, config, decision.headers, fault)
    if fault.delay > 0:
        await asyncio.sleep(fault.delay)
    return response


async def _exchange_answer(
    request: Request, config: SimConfig, rl_headers: dict[str, str], fault: FaultDraw
) -> Response:
    kind = fault.kind
    ray_seed = f"{id(request)}-{time.monotonic_ns()}"
    faulted = fault_response(fault, rl_headers, ray_seed)
    if faulted is not None:
        return faulted

    raw = await request.body()
    try:
        body = validate_exchange_body(raw, static.known_ids())
    except QueryError as exc:
        return json_response(error_body(2, str(exc)), 400, rl_headers)

    league = request.path_params["league"]
    answer = market.exchange_response(
        body, current_hour(config), league=league, seed=config.seed,
        max_results=config.max_results, empty_book_rate=config.empty_book_rate,
    )
    payload = dumps(answer)
    if kind == "truncated_json":
        payload = payload[: len(payload) // 2]
    return json_response(payload, 200, rl_headers)


async def _static(request: Request) -> Response:
    return json_response(dumps(static.static_data()))


# --- GET /api/trade[2]/data/leagues: the trade site's current leagues, in the real shape
# ({"result": [{"id", "realm", "text"}, ...]}): the public leagues of the simulated Currency
# Exchange documents (private leagues are not listed by the trade site).
def _public_leagues(names: str) -> list[str]:
    return [n.strip() for n in names.split(",") if n.strip() and "(PL" not in n]


def public_leagues(config: SimConfig, game: str = "poe1") -> list[str]:
    """The leagues this simulator's trade site lists for `game` (what `/data/leagues` answers)."""
    return _public_leagues(config.cx_leagues_poe2 if game == "poe2" else config.cx_leagues)


async def _leagues(request: Request) -> Response:
    config: SimConfig = request.app.state.config
    poe2 = request.url.path.startswith("/api/trade2/")
    names = public_leagues(config, "poe2" if poe2 else "poe1")
    realm = "poe2" if poe2 else "pc"
    return json_response(dumps({"result": [{"id": n, "realm": realm, "text": n} for n in names]}))
# --- end of the leagues block


async def _not_found(request: Request, exc: Exception) -> Response:
    return json_response(error_body(1, "Resource not found"), 404)


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    headers = getattr(exc, "headers", None) or {}
    return json_response(error_body(9, "Method not allowed"), 405, dict(headers))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    return json_response(error_body(4, "Internal error"), status)


def create_app(config: SimConfig | None = None) -> Starlette:
    """A fresh simulator app; `config` is shared, not copied (mutate it to retune)."""
    config = config if config is not None else SimConfig()
    routes = [
        Route("/api/trade/exchange/{league}", _exchange, methods=["POST"]),
        Route("/api/trade2/exchange/poe2/{league}", _exchange, methods=["POST"]),
        Route("/api/trade/data/static", _static, methods=["GET"]),
        Route("/api/trade2/data/static", _static, methods=["GET"]),
        Route("/api/trade/data/leagues", _leagues, methods=["GET"]),
        Route("/api/trade2/data/leagues", _leagues, methods=["GET"]),
        *cx_api.routes(),
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={404: _not_found, 405: _method_not_allowed, HTTPException: _http_error},
    )
    request_log: list[tuple[float, int, str]] = []
    app.state.config = config
    app.state.limiter = RateLimiter(config)
    app.state.faults = FaultInjector(config)
    app.state.request_log = request_log
    cx_api.install(app, config)
    app.add_middleware(_RequestLog, log=request_log)
    return app
