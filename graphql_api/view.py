"""The GraphQL endpoint: Strawberry's ASGI view with our context, coded errors, fast JSON
encoding (orjson, embedding the JSON PostgreSQL built) and HTTP caching (ETag / 304)."""

from __future__ import annotations

from datetime import timedelta

import orjson
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from cross_web import HTTPException
from strawberry.types import ExecutionResult

from graphql_api.caching import SETTLED_MAX_AGE, etag_of, matches
from graphql_api.context import ApiContext
from graphql_api.db import fetch_all
from graphql_api.errors import format_error, log
from tradewatch.watchlist import Watchlist

NEWEST_SQL = "SELECT max(observed_hour) FROM warehouse.price_snapshots"


async def cache_headers(request: Request, ctx: ApiContext, body: bytes, grace: timedelta,
                        private: bool) -> dict[str, str] | None:
    """ETag and Cache-Control when the answer covers only settled, stored hours; else None."""
    if not ctx.cache.candidate(grace):
        return None
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


class TradeWatchGraphQL(GraphQL):
    def __init__(self, schema, watchlist: Watchlist, *, graphiql: bool, grace: timedelta, private: bool) -> None:
        super().__init__(schema, graphql_ide="graphiql" if graphiql else None, allow_queries_via_get=True)
        self.watchlist = watchlist
        self.grace = grace
        self.private = private

    async def get_context(self, request, response) -> ApiContext:  # type: ignore[override]
        ctx = ApiContext(pool=request.app.state.pool, watchlist=self.watchlist, request=request, response=response)
        request.state.tw_context = ctx
        return ctx

    async def process_result(self, request: Request, result: ExecutionResult) -> dict:  # type: ignore[override]
        out: dict = {"data": result.data}
        if result.errors:
            out["errors"] = [format_error(e) for e in result.errors]
            context = getattr(request.state, "tw_context", None)
            if context is not None:
                context.cache.read_live()  # never cache an answer with errors
        return out

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    async def run(self, request, context=None, root_value=None):  # type: ignore[override]
        from strawberry.types.unset import UNSET

        try:
            response = await super().run(request, context or UNSET, root_value or UNSET)
        except HTTPException:
            raise  # Strawberry turns these into 4xx answers itself
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
