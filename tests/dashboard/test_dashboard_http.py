"""The dashboard's files over plain HTTP: plotly.js comes from the installed plotly
package with long cache headers, and the page refers to nothing off this server."""

from __future__ import annotations

import re
from pathlib import Path

import plotly

from graphql_api.dashboard import PLOTLY_URL, plotly_js_path


def test_plotly_js_is_served_from_the_installed_plotly_package(api):
    local = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert plotly_js_path() == local
    expected = local.read_bytes()

    plain = api.client.get(PLOTLY_URL, headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 200
    assert plain.content == expected
    assert plain.headers["content-type"].startswith("text/javascript")
    assert "max-age=31536000" in plain.headers["cache-control"]
    assert "immutable" in plain.headers["cache-control"]
    assert plotly.__version__ in PLOTLY_URL  # an upgrade changes the URL, so the long cache is safe

    compressed = api.client.get(PLOTLY_URL, headers={"Accept-Encoding": "gzip"})
    assert compressed.headers["content-encoding"] == "gzip"
    assert compressed.content == expected  # httpx decompressed it
    assert int(compressed.headers["content-length"]) < len(expected) / 2


def test_page_loads_only_files_of_this_server(api):
    response = api.client.get("/dashboard")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    references = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert PLOTLY_URL in references
    assert all(ref.startswith("/") or ref.startswith("data:") for ref in references), references
    assert "{{" not in response.text  # every placeholder was filled

    for ref in references:
        if ref.startswith("/"):
            assert api.client.get(ref, headers={"Accept-Encoding": "identity"}).status_code == 200, ref


def test_page_code_is_revalidated_by_etag(api):
    first = api.client.get("/dashboard/static/dashboard.js")
    assert first.status_code == 200 and "no-cache" in first.headers["cache-control"]
    again = api.client.get("/dashboard/static/dashboard.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert api.client.get("/dashboard/static/../app.py").status_code == 404
    assert api.client.get("/dashboard/static/dashboard.html").status_code == 404
