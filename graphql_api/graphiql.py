"""GraphiQL served by the API itself, so it works with no internet.

The page (`static/graphiql/graphiql.html`) and its start script (`static/graphiql/graphiql.js`)
are ours; React, GraphiQL and its explorer plugin are the pinned npm files that
`scripts/fetch_graphiql.py` put under `static/graphiql/vendor/`, with `MANIFEST.json` holding
their versions, tarball integrity and sha256 of every file (checked here before a file is
served: a changed file is an error, not a silently different page). The large ones are stored
as `<file>.gz` (`gzip -n -9`; the manifest holds the sha256 of both forms): sent as stored with
`Content-Encoding: gzip` to a client that accepts gzip, decompressed here for one that does not.

* `GET /graphql` in a browser — the page, `no-cache`, with a Content-Security-Policy that lets
  it load and connect to this server only;
* `/graphiql/vendor/<package>-<version>/<file>` — the version is in the path: cached a year,
  immutable;
* `/graphiql/graphiql-<hash>.js` — our start script, named by its content hash (immutable too).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from functools import lru_cache
from importlib import resources
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

YEAR = 365 * 24 * 3600
TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".json": "application/json", "": "text/plain; charset=utf-8"}
# GraphiQL (CodeMirror) positions its popups with inline styles; its fonts are data: URLs
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'self'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# placeholder in graphiql.html -> (package, file)
PAGE_FILES = {
    "react.js": ("react", "umd/react.production.min.js"),
    "react-dom.js": ("react-dom", "umd/react-dom.production.min.js"),
    "graphiql.js": ("graphiql", "graphiql.min.js"),
    "graphiql.css": ("graphiql", "graphiql.min.css"),
    "explorer.js": ("@graphiql/plugin-explorer", "dist/index.umd.js"),
    "explorer.css": ("@graphiql/plugin-explorer", "dist/style.css"),
}


def graphiql_dir() -> Path:
    return Path(str(resources.files("graphql_api") / "static" / "graphiql"))


@lru_cache(maxsize=1)
def manifest() -> dict:
    return json.loads((graphiql_dir() / "MANIFEST.json").read_text())


def _package(directory: str, name: str) -> dict | None:
    for package in manifest().values():
        if package["directory"] == directory and name in package["files"]:
            return package
    return None


def _checked(body: bytes, expected: str, stored: str) -> bytes:
    if hashlib.sha256(body).hexdigest() != expected:
        raise RuntimeError(f"graphql_api/static/graphiql/vendor/{stored} differs from "
                           "MANIFEST.json; run scripts/fetch_graphiql.py to restore the pinned files")
    return body


@lru_cache(maxsize=None)
def vendor_gzip(directory: str, name: str) -> bytes | None:
    """A pinned file's stored gzip bytes, None when it is stored as is (or not listed); an error when it changed."""
    package = _package(directory, name)
    if package is None or name not in package.get("gzip", {}):
        return None
    stored = f"{directory}/{name}.gz"
    return _checked((graphiql_dir() / "vendor" / stored).read_bytes(), package["gzip"][name], stored)


@lru_cache(maxsize=None)
def vendor_file(directory: str, name: str) -> bytes | None:
    """A pinned file's bytes as npm ships them, None when the manifest does not list it; an error when it changed."""
    package = _package(directory, name)
    if package is None:
        return None
    compressed = vendor_gzip(directory, name)
    if compressed is not None:
        return _checked(gzip.decompress(compressed), package["files"][name], f"{directory}/{name}.gz")
    return _checked((graphiql_dir() / "vendor" / directory / name).read_bytes(), package["files"][name],
                    f"{directory}/{name}")


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header allows gzip (`gzip` or `*`, with no `q=0`)."""
    allowed = {}
    for part in accept_encoding.lower().split(","):
        coding, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0  # a malformed weight: do not guess that it means yes
        allowed[coding.strip()] = quality
    return allowed.get("gzip", allowed.get("*", 0.0)) > 0


def vendor_url(package: str, name: str) -> str:
    return f"/graphiql/vendor/{manifest()[package]['directory']}/{name}"


@lru_cache(maxsize=1)
def _start_script() -> tuple[bytes, str]:
    body = (graphiql_dir() / "graphiql.js").read_bytes()
    return body, f"/graphiql/graphiql-{hashlib.sha256(body).hexdigest()[:16]}.js"


@lru_cache(maxsize=1)
def page() -> bytes:
    html = (graphiql_dir() / "graphiql.html").read_text(encoding="utf-8")
    for placeholder, (package, name) in PAGE_FILES.items():
        html = html.replace("{{" + placeholder + "}}", vendor_url(package, name))
    return html.replace("{{start.js}}", _start_script()[1]).encode()


def page_response() -> Response:
    return Response(page(), media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache", **HEADERS})


async def _vendor(request: Request) -> Response:
    directory, name = request.path_params["directory"], request.path_params["name"]
    if _package(directory, name) is None:
        return Response("not found", status_code=404, media_type="text/plain")
    headers = {"Cache-Control": f"public, max-age={YEAR}, immutable", "X-Content-Type-Options": "nosniff"}
    compressed = vendor_gzip(directory, name)
    if compressed is not None:
        headers["Vary"] = "Accept-Encoding"  # one URL, two bodies: caches must keep them apart
        if accepts_gzip(request.headers.get("accept-encoding", "")):
            headers["Content-Encoding"] = "gzip"
            return Response(compressed, media_type=TYPES.get(Path(name).suffix, TYPES[""]), headers=headers)
    return Response(vendor_file(directory, name), media_type=TYPES.get(Path(name).suffix, TYPES[""]), headers=headers)


async def _start(request: Request) -> Response:
    body, url = _start_script()
    if request.url.path != url:  # an old hash: the page that asked is out of date
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(body, media_type=TYPES[".js"],
                    headers={"Cache-Control": f"public, max-age={YEAR}, immutable", "X-Content-Type-Options": "nosniff"})


def graphiql_routes() -> list[BaseRoute]:
    """The routes to add to the app's route list (the page itself is the GraphQL view's GET)."""
    return [Route("/graphiql/vendor/{directory}/{name:path}", _vendor, methods=["GET"]),
            Route("/graphiql/graphiql-{digest}.js", _start, methods=["GET"])]
