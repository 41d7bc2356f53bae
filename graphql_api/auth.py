"""Optional API keys: when `TRADEWATCH_API_KEYS` is set, every request but `/health`, CORS
preflights and the GraphiQL page itself (it holds no data) must carry one, as
`X-API-Key: <key>` or `Authorization: Bearer <key>`."""

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


def _is_ide_page(scope: Scope, headers: Headers) -> bool:
    return (scope["method"] == "GET" and scope["path"] == "/graphql" and b"query=" not in scope.get("query_string", b"")
            and "text/html" in headers.get("accept", ""))


class ApiKeyMiddleware:
    def __init__(self, app: ASGIApp, keys: frozenset[str]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys or scope["path"] in OPEN_PATHS or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = presented_key(headers)
        if key_is_valid(key, self.keys) or _is_ide_page(scope, headers):
            await self.app(scope, receive, send)
            return
        problem = "the API key is not valid" if key else "an API key is required"
        response = JSONResponse(
            {"data": None, "errors": [{"message": f"{problem}; send it as `X-API-Key: <key>` or "
                                                  "`Authorization: Bearer <key>`",
                                       "extensions": {"code": "UNAUTHENTICATED"}}]},
            status_code=401, headers={"WWW-Authenticate": 'Bearer realm="tradewatch"'})
        await response(scope, receive, send)
