"""GraphiQL with no internet: the page and every file it loads come from the API itself (the
pinned npm files under graphql_api/static/graphiql/, checked against MANIFEST.json), under
versioned immutable URLs, with a Content-Security-Policy allowing only this server. Headless
Chromium, with every request off 127.0.0.1 blocked, renders the editor and runs a query."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
from urllib.parse import quote, urlsplit

import httpx
import pytest

from graphql_api.graphiql import CSP, accepts_gzip, graphiql_dir

QUERY = "{ latestPrices { item { id } minPrice } }"


def test_the_page_loads_only_pinned_files_of_this_server_cached_as_immutable(api):
    page = api.client.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-security-policy"] == CSP
    assert "default-src 'self'" in CSP and "script-src 'self'" in CSP and "connect-src 'self'" in CSP
    assert "unpkg" not in page.text and "https://" not in page.text

    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    manifest = json.loads((graphiql_dir() / "MANIFEST.json").read_text())
    checked = 0
    for url in urls:
        if url.startswith("data:"):
            continue
        assert url.startswith("/graphiql/"), url
        answer = api.client.get(url)
        assert answer.status_code == 200, url
        assert answer.headers["cache-control"].endswith("immutable"), url
        if url.startswith("/graphiql/vendor/"):
            directory, name = url.removeprefix("/graphiql/vendor/").split("/", 1)
            package = next(p for p in manifest.values() if p["directory"] == directory)
            # the version is in the path, and the bytes are the ones the manifest pinned
            assert directory.endswith(package["version"])
            assert hashlib.sha256(answer.content).hexdigest() == package["files"][name]
            checked += 1
    assert checked == 6  # react, react-dom, graphiql (js, css), explorer (js, css)
    # every package keeps its licence next to its files
    for package in manifest.values():
        assert package["license"] == "MIT"
        assert {"LICENSE", "package.json"} & set(package["files"])
    assert api.client.get("/graphiql/vendor/react-18.2.0/../../../app.py").status_code == 404
    assert api.client.get("/graphiql/graphiql-0000000000000000.js").status_code == 404


def _compressed_files(manifest: dict) -> list[tuple[str, str, dict]]:
    return [(p["directory"], name, p) for p in manifest.values() for name in p.get("gzip", {})]


def test_large_vendored_files_are_stored_gzipped_and_both_forms_match_the_manifest():
    root = graphiql_dir()
    manifest = json.loads((root / "MANIFEST.json").read_text())
    compressed = _compressed_files(manifest)
    assert {name for _, name, _ in compressed} == {"graphiql.min.js", "graphiql.min.css"}
    for directory, name, package in compressed:
        stored = (root / "vendor" / directory / f"{name}.gz").read_bytes()
        assert not (root / "vendor" / directory / name).exists(), "only the .gz form is kept"
        assert hashlib.sha256(stored).hexdigest() == package["gzip"][name]
        assert hashlib.sha256(gzip.decompress(stored)).hexdigest() == package["files"][name]
        # deterministic: `gzip -n -9` of the original gives the very same bytes (no name, no time)
        again = subprocess.run(["gzip", "-n", "-9", "-c"], input=gzip.decompress(stored), capture_output=True,
                               check=True).stdout
        assert again == stored, f"{directory}/{name}.gz is not what `gzip -n -9` makes"
    too_big = [str(f) for f in root.rglob("*") if f.is_file() and f.stat().st_size > 2_000_000]
    assert too_big == [], f"files over 2 MB (flagged in review): {too_big}"


@pytest.mark.parametrize("accept_encoding, compressed", [
    ("gzip, deflate, br", True), ("*", True), ("gzip;q=0.5", True),
    ("identity", False), ("gzip;q=0, deflate", False), ("", False), ("*;q=0", False), ("gzip;q=nope", False),
])
def test_accept_encoding_decides_whether_gzip_is_sent(accept_encoding, compressed):
    assert accepts_gzip(accept_encoding) is compressed


def test_a_gzip_client_gets_the_stored_bytes_and_any_other_the_original_under_the_same_url(api):
    manifest = json.loads((graphiql_dir() / "MANIFEST.json").read_text())
    for directory, name, package in _compressed_files(manifest):
        url = f"{api.base}/graphiql/vendor/{directory}/{name}"
        with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as zipped:
            raw = b"".join(zipped.iter_raw())  # the bytes on the wire, not decoded
            assert zipped.status_code == 200 and zipped.headers["content-encoding"] == "gzip"
            assert zipped.headers["vary"] == "Accept-Encoding"
            assert zipped.headers["cache-control"].endswith("immutable")
            assert hashlib.sha256(raw).hexdigest() == package["gzip"][name]
            assert int(zipped.headers["content-length"]) == len(raw)
        with httpx.stream("GET", url, headers={"Accept-Encoding": "identity"}) as plain:
            body = b"".join(plain.iter_raw())
            assert plain.status_code == 200 and "content-encoding" not in plain.headers
            assert plain.headers["vary"] == "Accept-Encoding"
            assert plain.headers["content-type"] == zipped.headers["content-type"]
            assert hashlib.sha256(body).hexdigest() == package["files"][name]
    # a small file is stored and sent as npm ships it, whatever the client accepts
    small = api.client.get("/graphiql/vendor/react-18.2.0/umd/react.production.min.js",
                           headers={"Accept-Encoding": "gzip"})
    assert small.status_code == 200 and "content-encoding" not in small.headers


def test_graphiql_renders_and_runs_a_query_with_every_non_local_request_blocked(browser_context, api):
    page = browser_context.new_page()
    blocked: list[str] = []
    errors: list[str] = []

    def guard(route) -> None:
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlsplit(url).hostname == "127.0.0.1":
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    try:
        page.route("**/*", guard)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(f"{api.base}/graphql?q={quote(QUERY)}", wait_until="load", timeout=15_000)
        page.wait_for_selector(".graphiql-query-editor .CodeMirror", timeout=15_000)
        assert "latestPrices" in page.inner_text(".graphiql-query-editor")
        page.click(".graphiql-execute-button")
        page.wait_for_function(
            "() => (document.querySelector('.graphiql-response') || {}).innerText?.includes('minPrice')",
            timeout=15_000)
        response = page.inner_text(".graphiql-response")
        assert '"latestPrices"' in response and "errors" not in response
        assert blocked == [] and errors == []
    finally:
        page.close()
