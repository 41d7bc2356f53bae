"""GraphiQL with no internet: the page and every file it loads come from the API itself (the
pinned npm files under graphql_api/static/graphiql/, checked against MANIFEST.json), under
versioned immutable URLs, with a Content-Security-Policy allowing only this server. Headless
Chromium, with every request off 127.0.0.1 blocked, renders the editor and runs a query."""

from __future__ import annotations

import hashlib
import json
import re
from urllib.parse import quote, urlsplit

from graphql_api.graphiql import CSP, graphiql_dir

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
