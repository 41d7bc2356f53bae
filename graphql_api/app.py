"""The ASGI app: `/graphql` (GraphiQL on GET in a browser), `/health`, `/export/price-series.csv`.

`create_app(database_url=None, ...)` builds it (tests pass their own database, settings and
watchlist); `app` is the one `tradewatch serve` and any ASGI server run.

Every request passes, outermost first: the Host check (TRADEWATCH_ALLOWED_HOSTS, against DNS
rebinding), CORS, the API key, then the body cap (so a request without a key is refused
before its body is read), then the route.
"""

from __future__ import annotations

import contextlib
import gc
from datetime import timedelta

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from graphql_api.admission import Admission, KnownDocuments
from graphql_api.auth import ApiKeyMiddleware
from graphql_api.contract import VERSION_HEADER, SchemaVersionHeader
from graphql_api.config import ApiSettings, load_api_settings
from graphql_api.leagues import LiveLeagues
from graphql_api.dashboard import dashboard_routes
from graphql_api.graphiql import graphiql_routes
from graphql_api.db import create_pool, fetch_all
from graphql_api.export import price_series_csv
from graphql_api.limits import BODY_TIMEOUT_SECONDS
from graphql_api.persisted import queries_in_scripts
from graphql_api.request_size import RequestSizeMiddleware
from graphql_api.result_cache import ResultCache
from graphql_api.schema import build_schema, schema
from graphql_api.view import TradeWatchGraphQL
from graphql_api.workers import WorkerPool
from tradewatch.database import resolve_database_url
from tradewatch.settings import load_settings
from tradewatch.watchlist import Watchlist, watchlist_from_settings

HEALTH_SQL = """SELECT (SELECT max(observed_hour) FROM warehouse.raw_trade_responses),
                       (SELECT max(observed_hour) FROM warehouse.price_snapshots)"""


async def health(request: Request) -> JSONResponse:
    try:
        raw, snap = (await fetch_all(request.app.state.pool, HEALTH_SQL, rows_as_dicts=False))[0]
    except Exception:  # the health answer itself must not fail; it reports instead
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok",
                         "newest_hour": raw.isoformat() if raw else None,
                         "newest_snapshot_hour": snap.isoformat() if snap else None},
                        headers={"Cache-Control": "no-store"})


def create_app(database_url: str | None = None, *, settings: ApiSettings | None = None,
               watchlist: Watchlist | None = None, pool_timeout: float = 10.0,
               trade_api_url: str | None = None) -> Starlette:
    """The app; the database is reached only when it starts (lifespan), not when it is built.
    `trade_api_url` (default TRADEWATCH_TRADE_API_URL) is where the live leagues are read."""
    settings = settings or load_api_settings()
    core = load_settings()
    url = database_url or settings.database_url or resolve_database_url(core, start_embedded=False)
    watchlist = watchlist or watchlist_from_settings(core)
    grace = timedelta(minutes=core.fetch_grace_minutes)
    private = bool(settings.api_keys)  # answers behind a key must not sit in shared caches
    pool = create_pool(url, settings.statement_timeout_ms, timeout=pool_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await pool.open(wait=False)
        workers = app.state.workers  # read here: a test may swap in its own pool before serving
        workers.start()
        # Everything alive now (modules, the schema, the libraries: ~1 M objects) is kept for good:
        # frozen, a full collection no longer walks it. Without this each one stopped the event
        # loop for ~60 ms (every request waited), and the garbage of big answers triggers them.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # a process that builds apps again (the tests) gets its garbage collected
            workers.shutdown()
            await pool.close()

    middleware = [Middleware(SchemaVersionHeader),  # outermost: even a refused request names the version
                  Middleware(TrustedHostMiddleware, allowed_hosts=list(settings.allowed_hosts))]
    if settings.cors_origins:
        middleware.append(Middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["content-type", "x-api-key", "authorization", "if-none-match"],
            expose_headers=["ETag", VERSION_HEADER], max_age=600))
    if settings.api_keys:
        middleware.append(Middleware(ApiKeyMiddleware, keys=settings.api_keys))
    middleware.append(Middleware(RequestSizeMiddleware, max_body_bytes=settings.max_body_bytes,
                                 body_timeout=BODY_TIMEOUT_SECONDS))
    middleware.append(Middleware(Admission))  # after the key check: a refused client takes no slot
    graphql = TradeWatchGraphQL(schema if settings.introspection else build_schema(introspection=False), watchlist,
                                graphiql=settings.graphiql, grace=grace, private=private,
                                max_variable_values=settings.max_variable_values)
    graphql.persisted.preload(queries_in_scripts())
    app = Starlette(
        routes=[Route("/health", health), Route("/export/price-series.csv", price_series_csv),
                Route("/graphql", graphql, methods=["GET", "POST"]), Mount("/graphql", graphql),
                *dashboard_routes(), *graphiql_routes()],
        middleware=middleware, lifespan=lifespan)
    app.state.pool = pool
    app.state.watchlist = watchlist
    app.state.database_url = url
    app.state.grace = grace
    app.state.private_cache = private
    app.state.workers, app.state.results, app.state.documents = WorkerPool(), ResultCache(), KnownDocuments()
    app.state.max_cost, app.state.statement_timeout_ms = settings.max_cost, settings.statement_timeout_ms
    secret = lambda s: s.get_secret_value() if s is not None else None  # noqa: E731
    app.state.live_leagues = LiveLeagues(trade_api_url or core.trade_api_url, watchlist.game, core.user_agent,
                                         poesessid=secret(core.poesessid), cf_clearance=secret(core.cf_clearance))
    return app


app = create_app()
