"""The ASGI app: `/health` now; the GraphQL schema joins it at `/graphql`."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tradewatch.db import get_pool, resolve_database_url
from tradewatch.settings import load_settings


def _database_url() -> str:
    return resolve_database_url(load_settings(), start_embedded=False)


async def health(request: Request) -> JSONResponse:
    url = request.app.state.database_url or _database_url()
    try:
        with get_pool(url).connection(timeout=5) as conn:
            newest = conn.execute("SELECT max(observed_hour) FROM warehouse.raw_trade_responses").fetchone()[0]
    except Exception:  # the health answer itself must not fail; it reports instead
        return JSONResponse({"status": "error", "database": "unreachable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok",
                         "newest_hour": newest.isoformat() if newest else None})


def create_app(database_url: str | None = None) -> Starlette:
    app = Starlette(routes=[Route("/health", health)])
    app.state.database_url = database_url
    return app


app = create_app()
