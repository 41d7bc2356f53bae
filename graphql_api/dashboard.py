"""The dashboard page: `/dashboard` and its static files, served by the API app.

The page is plain HTML, CSS and JavaScript from `graphql_api/static/` (no build step) and
reads everything through the public `POST /graphql`. Its charting library is the
plotly.js bundle that the installed `plotly` wheel ships, served from site-packages, so
the page needs no network beyond this server.

* `/dashboard` — the page (`no-cache`: always revalidated, it is tiny);
* `/dashboard/market?realm=&league=` — the whole Currency Exchange market (`market`);
* `/dashboard/item/<id>` — one item's page (`marketItem`, `exchangePrices`);
* `/dashboard/static/{dashboard.js,dashboard.css}` — the page's code, revalidated by ETag;
* `/dashboard/vendor/plotly-<version>.min.js` — plotly.js; the version is in the path, so
  it can be cached for a year and a plotly upgrade changes the URL.
"""

from __future__ import annotations

import gzip
import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path

import plotly
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Route

PLOTLY_VERSION: str = plotly.__version__
PLOTLY_URL = f"/dashboard/vendor/plotly-{PLOTLY_VERSION}.min.js"
ASSETS = {"dashboard.js": "text/javascript; charset=utf-8", "dashboard.css": "text/css; charset=utf-8",
          "market.js": "text/javascript; charset=utf-8", "item.js": "text/javascript; charset=utf-8",
          "persisted_queries.js": "text/javascript; charset=utf-8"}
YEAR = 365 * 24 * 3600

# Everything the page loads comes from this server; plotly injects <style> elements and
# draws text measurements with inline styles, hence 'unsafe-inline' for styles only.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'self'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer"}


def static_dir() -> Path:
    return Path(str(resources.files("graphql_api") / "static"))


def plotly_js_path() -> Path:
    """The plotly.min.js inside the installed plotly package; a clear error if it is missing."""
    path = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the installed plotly package ships no plotly.min.js; "
                                "reinstall the pinned dependencies (make install)")
    return path


@lru_cache(maxsize=None)
def _asset(name: str) -> tuple[bytes, str]:
    """The file's bytes and a short hash of them (its version)."""
    body = (static_dir() / name).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:16]


@lru_cache(maxsize=4)
def _page(name: str = "dashboard.html") -> bytes:
    # the asset URLs carry their content hash, so a new release never runs an old script
    html = (static_dir() / name).read_text(encoding="utf-8")
    for name in ASSETS:
        html = html.replace("{{" + name + "}}", f"/dashboard/static/{name}?v={_asset(name)[1]}")
    return html.replace("{{plotly.js}}", PLOTLY_URL).encode()


@lru_cache(maxsize=1)
def _plotly_gzip() -> bytes:
    # ~4.8 MB → ~1.4 MB; compressed once per process, on first use
    return gzip.compress(plotly_js_path().read_bytes(), compresslevel=6, mtime=0)


def _scope(request: Request) -> str:
    # with API keys the page sits behind a key: keep it out of shared caches (as the API does)
    return "private" if getattr(request.app.state, "private_cache", False) else "public"


async def dashboard_page(request: Request) -> Response:
    return Response(_page(), media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": f"{_scope(request)}, no-cache", **SECURITY_HEADERS})


async def dashboard_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return Response("not found", status_code=404, media_type="text/plain")
    body, digest = _asset(name)
    etag = f'"{digest}"'
    headers = {"ETag": etag, "Cache-Control": f"{_scope(request)}, no-cache", "X-Content-Type-Options": "nosniff"}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=ASSETS[name], headers=headers)


async def plotly_js(request: Request) -> Response:
    headers = {"Cache-Control": f"{_scope(request)}, max-age={YEAR}, immutable", "X-Content-Type-Options": "nosniff"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        body = await run_in_threadpool(_plotly_gzip)
        return Response(body, media_type="text/javascript; charset=utf-8",
                        headers={**headers, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"})
    return FileResponse(plotly_js_path(), media_type="text/javascript; charset=utf-8",
                        headers={**headers, "Vary": "Accept-Encoding"})


async def market_page(request: Request) -> Response:
    """`/dashboard/market?realm=&league=`: the whole market (the page reads its arguments itself)."""
    return Response(_page("market.html"), media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": f"{_scope(request)}, no-cache", **SECURITY_HEADERS})


async def item_page(request: Request) -> Response:
    """`/dashboard/item/<id>`: one item (the id may be a metadata path, slashes and all)."""
    return Response(_page("item.html"), media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": f"{_scope(request)}, no-cache", **SECURITY_HEADERS})


def dashboard_routes() -> list[BaseRoute]:
    """The routes to add to the app's route list."""
    return [Route("/dashboard", dashboard_page, methods=["GET"]),
            Route("/dashboard/market", market_page, methods=["GET"]),
            Route("/dashboard/item/{item_id:path}", item_page, methods=["GET"]),
            Route("/dashboard/static/{name}", dashboard_asset, methods=["GET"]),
            Route(PLOTLY_URL, plotly_js, methods=["GET"])]
