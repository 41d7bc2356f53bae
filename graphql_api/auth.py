"""Optional API keys: when `TRADEWATCH_API_KEYS` is set, every request but `/health` must
carry one, as `X-API-Key: <key>` or `Authorization: Bearer <key>`.

That includes the GraphiQL page (it is the door to the data, and its HTML names the
endpoint and the schema) and every other route the app mounts (the CSV export, the
dashboards), whatever the method: a request without a valid key gets a 401 with a JSON
error (`extensions.code` UNAUTHENTICATED) and nothing else. WebSocket handshakes are
refused the same way (closed before they are accepted, which the client sees as a 403).

The one exception besides `/health` is a CORS preflight (`OPTIONS` with `Origin` and
`Access-Control-Request-Method`): browsers send it without custom headers, so it cannot
carry the key, and it returns no data, only whether the real request may be sent; that
real request then needs the key. A plain `OPTIONS` is not a preflight and needs a key.
"""

from __future__ import annotations

import hmac

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

OPEN_PATHS = frozenset({"/health"})


def presented_key(headers: Headers) -> str | None:
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def key_is_valid(key: str | None, keys: frozenset[str]) -> bool:
    # compare against every key in constant time: no timing hint about near-misses
    if not key:
        return False
    return any(hmac.compare_digest(key.encode(), k.encode()) for k in keys)


def is_cors_preflight(scope: Scope, headers: Headers) -> bool:
    return scope["method"] == "OPTIONS" and "origin" in headers and "access-control-request-method" in headers


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: frozenset[str]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not self.keys or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = presented_key(headers)
        if key_is_valid(key, self.keys) or (scope["type"] == "http" and is_cors_preflight(scope, headers)):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "an API key is required"})
            return
        problem = "the API key is not valid" if key else "an API key is required"
        response = JSONResponse(
            {"data": None, "errors": [{"message": f"{problem}; send it as `X-API-Key: <key>` or "
                                                  "`Authorization: Bearer <key>`",
                                       "extensions": {"code": "UNAUTHENTICATED"}}]},
            status_code=401, headers={"WWW-Authenticate": 'Bearer realm="tradewatch"'})
        await response(scope, receive, send)
