"""The GraphQL endpoint: Strawberry's ASGI view with our context, coded errors, fast JSON
encoding (orjson, embedding the JSON PostgreSQL built) and HTTP caching (ETag / 304).

Requests it cannot read get a 4xx, never a 500: a body that is not UTF-8, nested too
deeply or not a JSON object is a 400; a query text over `limits.MAX_QUERY_CHARS` or
`variables` holding more values than TRADEWATCH_API_MAX_VARIABLE_VALUES a 413 (coded
REQUEST_TOO_LARGE), refused before any of it is looked at by GraphQL. (The body itself is
capped before this, on every route: graphql_api/request_size.py.) There is no WebSocket
transport: the schema has no subscriptions."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from cross_web import HTTPException
from strawberry.types import ExecutionResult

from graphql_api import limits, runtime
from graphql_api.contract import SCHEMA_VERSION
from graphql_api.caching import NEWEST_SQL, SETTLED_MAX_AGE, etag_of, matches
from graphql_api.context import ApiContext
from graphql_api.db import fetch_all
from graphql_api.errors import format_error, log
from graphql_api.persisted import PersistedQueries, PersistedQueryError
from graphql_api.request_size import error_response
from tradewatch.watchlist import Watchlist



async def cache_headers(request: Request, ctx: ApiContext, body: bytes, grace: timedelta,
                        private: bool) -> dict[str, str] | None:
    """ETag and Cache-Control when the answer covers only settled, stored hours; else None."""
    if not ctx.cache.candidate(grace):
        return None
    if ctx.cache.newest_read:
        newest = ctx.cache.newest
    else:
        newest = (await fetch_all(ctx.pool, NEWEST_SQL, rows_as_dicts=False))[0][0]
    if not ctx.cache.cacheable(newest):
        return None
    return {"ETag": etag_of(body),
            "Cache-Control": f"{'private' if private else 'public'}, max-age={SETTLED_MAX_AGE}"}


def conditional(request: Request, response: Response, headers: dict[str, str]) -> Response:
    """The response with cache headers, or a bodiless 304 when the client's copy is current."""
    if matches(request.headers.get("if-none-match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response


def _encodable(value: Any) -> Any:
    """The value with every string made valid UTF-8 (lone surrogates written as \\udxxx)."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encodable(v) for v in value]
    return value


def count_values(value: Any, cap: int) -> int:
    """How many JSON values `value` holds (itself, and every list item and object member,
    through the nesting); counting stops past `cap`."""
    count, pending = 0, [value]
    while pending and count <= cap:
        current = pending.pop()
        count += 1
        if isinstance(current, dict):
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return count


class TradeWatchGraphQL(GraphQL):
    def __init__(self, schema, watchlist: Watchlist, *, graphiql: bool, grace: timedelta, private: bool,
                 max_variable_values: int = 10_000) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None, allow_queries_via_get=True,
                         subscription_protocols=())
        self.max_variable_values = max_variable_values
        self.watchlist = watchlist
        self.grace = grace
        self.private = private
        self.persisted = PersistedQueries()

    def should_render_graphql_ide(self, request) -> bool:  # type: ignore[override]
        # a persisted query sent as a GET has no `query` either: it asks for data, not the IDE
        # the method first: a POST never renders it, and its query string is not parsed for nothing
        return (request.method == "GET" and "extensions" not in request.query_params
                and super().should_render_graphql_ide(request))

    async def render_graphql_ide(self, request: Request) -> Response:  # type: ignore[override]
        # served from this server's pinned files, not from a CDN: works offline (graphql_api/graphiql.py)
        from graphql_api.graphiql import page_response

        return page_response()

    async def get_context(self, request, response) -> ApiContext:  # type: ignore[override]
        ctx = ApiContext(pool=request.app.state.pool, watchlist=self.watchlist, request=request, response=response)
        runtime.fill(ctx, request)
        request.state.tw_context = ctx
        return ctx

    async def process_result(self, request: Request, result: ExecutionResult) -> dict:  # type: ignore[override]
        out: dict = {"data": result.data, "extensions": {"schemaVersion": SCHEMA_VERSION}}
        if result.errors:
            out["errors"] = [format_error(e) for e in result.errors]
            context = getattr(request.state, "tw_context", None)
            if context is not None:
                context.cache.read_live()  # never cache an answer with errors
            runtime.mark_busy(request, result)
        return out

    def encode_json(self, data: object) -> bytes:
        try:
            return orjson.dumps(data)
        except TypeError:  # an error message quoting a lone surrogate the client sent (not UTF-8)
            return orjson.dumps(_encodable(data))

    def parse_json(self, data: str | bytes) -> Any:
        try:
            # orjson first (several times faster); what it refuses (NaN, huge integers, lone surrogates)
            # json reads as before, or refuses with the same answer
            return orjson.loads(data)
        except (ValueError, TypeError):
            pass
        try:
            return json.loads(data)
        except (ValueError, UnicodeDecodeError, RecursionError):  # not JSON, not UTF-8, nested too deeply
            raise HTTPException(400, "Unable to parse request body as JSON") from None

    async def parse_http_body(self, request_adapter):  # type: ignore[override]
        if request_adapter.method == "POST" and "json" in (request_adapter.content_type or ""):
            # a JSON string or number is no GraphQL request (Strawberry would fail on it with a 500)
            body = await request_adapter.get_body()
            if (body if isinstance(body, bytes) else body.encode("utf-8", "replace")).lstrip()[:1] not in (b"{", b"["):
                self.parse_json(body)  # not JSON at all: say so
                raise HTTPException(400, 'The request body must be a JSON object such as {"query": "{ items { id } }"}')
        data = await super().parse_http_body(request_adapter)
        for one in data if isinstance(data, list) else [data]:
            one.query = self.persisted.resolve(one.query, one.extensions)
            if one.query is not None and len(one.query) > limits.MAX_QUERY_CHARS:
                raise HTTPException(413, f"The query text has {len(one.query)} characters; at most "
                                         f"{limits.MAX_QUERY_CHARS} are allowed")
            # (the enclosing `variables` object itself is not counted)
            cap = self.max_variable_values
            if isinstance(one.variables, dict) and count_values(one.variables, cap + 1) - 1 > cap:
                raise HTTPException(413, f"`variables` hold more than {self.max_variable_values} values (counted "
                                         "through lists and objects; TRADEWATCH_API_MAX_VARIABLE_VALUES); "
                                         "ask for less per request")
        return data

    async def run(self, request, context=None, root_value=None):  # type: ignore[override]
        from strawberry.types.unset import UNSET

        try:
            response = await super().run(request, context or UNSET, root_value or UNSET)
        except ClientDisconnect:  # the client went away mid-body: no one to answer, nothing went wrong
            return Response(status_code=499)
        except PersistedQueryError as exc:  # Apollo's clients send the text on PersistedQueryNotFound
            return Response(orjson.dumps(exc.body()), status_code=exc.status, media_type="application/json",
                            headers={"Cache-Control": "no-store"})
        except HTTPException as exc:  # Strawberry turns these into 4xx answers itself
            if exc.status_code == 413:
                return error_response(413, "REQUEST_TOO_LARGE", exc.reason)
            if _encodable(exc.reason) == exc.reason:
                raise
            # the reason quotes what the client sent (e.g. an operation name), which may not be UTF-8
            raise HTTPException(exc.status_code, _encodable(exc.reason)) from None
        except Exception:  # a bug outside the resolvers: log it, answer without a trace
            log.exception("unexpected error serving %s", request.url.path)
            return Response(orjson.dumps({"data": None, "errors": [{"message": "Unexpected error; it was logged on "
                                          "the server.", "extensions": {"code": "INTERNAL_SERVER_ERROR"}}]}),
                            status_code=500, media_type="application/json")
        ctx = getattr(request.state, "tw_context", None)
        if ctx is None or not isinstance(response, Response) or response.status_code != 200 \
                or response.media_type != "application/json":
            return response
        try:
            headers = await cache_headers(request, ctx, response.body, self.grace, self.private)
        except Exception:  # caching is an optimization: never fail the answer for it
            log.exception("cannot decide the cache headers")
            headers = None
        return conditional(request, response, headers) if headers else response
