"""Fixtures for the dashboard tests: a session database with eight days of simulated
history (through the real pipeline: simulate_history -> compute_snapshots ->
compute_profitability), the API app under uvicorn on a real socket connected as the
read-only role, and headless Chromium (the Debian package) driven by Playwright.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest

from graphql_api.config import ApiSettings
from graphql_api.persisted import queries_in_scripts, sha256_of
from helpers.databases import History, history_database, with_user
from helpers.servers import UNREACHABLE_URL, ServedApp
from tradewatch.watchlist import load_watchlist

DAYS = 8  # a 7-day view with room to spare; more only slows the session down
CHROMIUM = os.environ.get("TRADEWATCH_CHROMIUM", "/usr/bin/chromium")
# the same password the GraphQL tests give the cluster-wide role, so parallel runs agree
API_PASSWORD = "api-test-pw"
DASHBOARD_QUERIES = {sha256_of(q): q for q in queries_in_scripts()}


@pytest.fixture(scope="session")
def watchlist():
    return load_watchlist()


@pytest.fixture(scope="session")
def history(pg_server_url, watchlist) -> History:
    with history_database(pg_server_url, watchlist, "tw_dashboard", days=DAYS, seed=11) as made:
        yield made


class Served(ServedApp):
    """The app under uvicorn on 127.0.0.1 in a thread (see ServedApp), with a GraphQL call."""

    def data(self, query: str, variables: dict | None = None) -> dict:
        body = self.client.post("/graphql", json={"query": query, "variables": variables or {}}).json()
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture(scope="session")
def api(history, watchlist) -> Served:
    """The API as deployed: the read-only role tradewatch_api, no keys."""
    from graphql_api.app import create_app
    from tradewatch.warehouse.roles import API_ROLE, apply_api_password
    from pydantic import SecretStr as Secret

    apply_api_password(history.url, Secret(API_PASSWORD))
    served = Served(create_app(with_user(history.url, API_ROLE, API_PASSWORD), settings=ApiSettings(),
                               watchlist=watchlist, trade_api_url=UNREACHABLE_URL))
    yield served
    served.stop()


@pytest.fixture
def keyed_api(history, watchlist) -> Served:
    """A second app that requires the API key `k-123` (as the owner role: what is tested is the key)."""
    from graphql_api.app import create_app

    served = Served(create_app(history.url, settings=ApiSettings(api_keys=frozenset({"k-123"})), watchlist=watchlist,
                               trade_api_url=UNREACHABLE_URL))
    yield served
    served.stop()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from the Debian package (never a downloaded one: no network).

    Module scope, not session: Playwright's sync API keeps an asyncio loop running in this
    thread while it is open, which later tests that run their own loop would trip over."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: the dashboard tests need Debian's chromium; "
                    "run `make system-deps` (or set TRADEWATCH_CHROMIUM to a Chromium binary)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], timeout=30_000)
        yield browser
        browser.close()


@dataclass
class Watched:
    """A page with everything a test asserts about besides the DOM."""

    page: object
    console_errors: list[str]
    page_errors: list[str]
    blocked: list[str]
    failed: list[str]
    requests: list[tuple[str, str, dict | None]]  # method, path, GraphQL body

    def graphql(self, operation: str) -> list[dict]:
        """The bodies the page posted to /graphql for one named operation, in order."""
        return [body for method, path, body in self.requests
                if path == "/graphql" and body and f"query {operation}" in body["query"]]


def graphql_body(request) -> dict | None:
    """What a request asked of /graphql: the posted body, or for a persisted query sent as a GET its
    variables and the text its hash stands for (the dashboard's own queries)."""
    if request.method == "POST":
        return request.post_data_json
    params = parse_qs(urlsplit(request.url).query)
    if "extensions" not in params:
        return None
    digest = json.loads(params["extensions"][0])["persistedQuery"]["sha256Hash"]
    return {"query": DASHBOARD_QUERIES.get(digest, ""), "variables": json.loads(params.get("variables", ["{}"])[0])}


@pytest.fixture(scope="module")
def browser_context(browser):
    """One context for the module: its HTTP cache keeps plotly.js (cached for a year) between tests."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def open_dashboard(browser_context, api):
    """Open /dashboard in a fresh tab; any request off 127.0.0.1 is blocked and recorded."""
    pages = []

    def open_(fragment: str = "") -> Watched:
        page = browser_context.new_page()
        pages.append(page)
        watched = Watched(page, [], [], [], [], [])

        def guard(route) -> None:
            url = route.request.url
            if url.startswith(("data:", "blob:")) or urlsplit(url).hostname == "127.0.0.1":
                route.continue_()
            else:
                watched.blocked.append(url)
                route.abort()

        page.route("**/*", guard)
        page.on("console", lambda msg: watched.console_errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: watched.page_errors.append(str(exc)))
        page.on("requestfailed", lambda req: watched.failed.append(f"{req.url}: {req.failure}"))
        page.on("request", lambda req: watched.requests.append(
            (req.method, urlsplit(req.url).path, graphql_body(req))))
        page.goto(f"{api.base}/dashboard{fragment}", wait_until="load", timeout=15_000)
        return watched

    yield open_
    for page in pages:
        page.close()
