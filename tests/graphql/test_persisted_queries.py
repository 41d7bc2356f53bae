"""Automatic persisted queries (Apollo's protocol) over GET and POST, driven by real clients:
Apollo Client under Node with its persisted-queries link, and Python's gql."""

from __future__ import annotations

import json
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest

from graphql_api.persisted import NOT_FOUND, NOT_FOUND_CODE, queries_in_scripts, sha256_of

GREED = "deafening-essence-of-greed"
CLIENTS = Path(__file__).parent.parent / "clients"


def _ext(query: str) -> dict:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_of(query)}}


def _get(api, query: str | None, digest_of: str, variables: dict | None = None, **headers):
    params = {"extensions": json.dumps(_ext(digest_of))}
    if variables:
        params["variables"] = json.dumps(variables)
    if query is not None:
        params["query"] = query
    return api.client.get("/graphql", params=params, headers=headers)


def _settled_series(history) -> str:
    return ('query Settled { priceSeries(item: "%s", from: "%s", to: "%s", bucket: DAY) { points close } }'
            % (GREED, history.start.isoformat(), (history.start + timedelta(days=3)).isoformat()))


def test_an_unknown_hash_is_not_found_then_the_text_registers_it_and_get_answers_as_post(api, history):
    query = _settled_series(history) + " "  # a text no other test registered
    missing = _get(api, None, query)
    assert missing.status_code == 200
    body = missing.json()
    assert body["errors"][0]["message"] == NOT_FOUND
    assert body["errors"][0]["extensions"]["code"] == NOT_FOUND_CODE
    assert missing.headers["cache-control"] == "no-store"

    posted = api.client.post("/graphql", json={"query": query, "extensions": _ext(query)})
    assert posted.status_code == 200 and "errors" not in posted.json()
    hashed = _get(api, None, query)
    assert hashed.status_code == 200
    assert hashed.json()["data"] == posted.json()["data"] and hashed.json()["data"]["priceSeries"][0]["points"] > 0

    # a cacheable GET: ETag, Cache-Control for the closed hours, and 304 when the copy is current
    assert "max-age" in hashed.headers["cache-control"]
    again = _get(api, None, query, **{"if-none-match": hashed.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


def test_a_hash_that_is_not_the_texts_is_refused_and_nothing_is_registered(api):
    query = "{ strategies { name } }"
    wrong = api.client.post("/graphql", json={"query": query, "extensions": _ext(query + "x")})
    assert wrong.status_code == 400
    assert wrong.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_HASH_MISMATCH"
    assert _get(api, None, query + "x").json()["errors"][0]["message"] == NOT_FOUND
    malformed = api.client.get("/graphql", params={"extensions": json.dumps({"persistedQuery": {"version": 1,
                                                                                                 "sha256Hash": "xyz"}})})
    assert malformed.status_code == 400 and "64" in malformed.json()["errors"][0]["message"]


@pytest.mark.parametrize("limit", ["aliases", "cost"])
def test_limits_apply_to_a_persisted_query_exactly_as_to_a_sent_one(api, history, limit):
    from graphql_api.limits import MAX_ALIASES

    if limit == "aliases":
        query = "{ " + " ".join(f"s{i}: strategies {{ name }}" for i in range(MAX_ALIASES + 5)) + " }"
    else:
        query = "{ " + " ".join(f'e{i}: evaluateStrategy(strategy: "x", from: "{history.start.isoformat()}", '
                                f'to: "{(history.start + timedelta(days=30)).isoformat()}") {{ hours }}'
                                for i in range(12)) + " }"
    sent = api.client.post("/graphql", json={"query": query}).json()
    assert sent.get("errors") and sent.get("data") is None, sent
    registered = api.client.post("/graphql", json={"query": query, "extensions": _ext(query)}).json()
    persisted = _get(api, None, query).json()
    codes = lambda b: [(e["message"], e.get("extensions", {}).get("code")) for e in b["errors"]]  # noqa: E731
    assert codes(registered) == codes(sent) == codes(persisted)
    assert persisted.get("data") is None


class _ApqTransport:
    """gql's requests transport speaking Apollo's APQ: the hash alone as a GET, then the text once."""

    def __new__(cls, url: str):
        from gql.transport.requests import RequestsHTTPTransport

        class Transport(RequestsHTTPTransport):
            sent: list[tuple[str, bool]] = []

            def execute(self, request, timeout=None, extra_args=None, upload_files=False):
                payload = request.payload
                ext = _ext(payload["query"])
                params = {"extensions": json.dumps(ext), "variables": json.dumps(payload.get("variables") or {})}
                if payload.get("operationName"):
                    params["operationName"] = payload["operationName"]
                response = self.session.get(self.url, params=params, timeout=timeout)
                self.sent.append(("GET", response.status_code))
                result = self._prepare_result(response)
                if result.errors and any(e.get("message") == NOT_FOUND for e in result.errors):
                    response = self.session.post(self.url, json={**payload, "extensions": ext}, timeout=timeout)
                    self.sent.append(("POST", response.status_code))
                    result = self._prepare_result(response)
                return result

        return Transport(url=url)


DASHBOARD_VARIABLES = {
    "DashboardLeague": lambda h: {"from": h.start.isoformat(), "to": (h.start + timedelta(days=2)).isoformat()},
    "DashboardSeries": lambda h: {"items": [GREED], "from": h.start.isoformat(),
                                  "to": (h.start + timedelta(days=2)).isoformat(), "bucket": "HOUR"},
    "DashboardLatest": lambda h: {"currency": "CHAOS"},
    "DashboardAlerts": lambda h: {"from": h.start.isoformat(), "to": h.end.isoformat()},
    "DashboardProfit": lambda h: {"from": h.start.isoformat(), "to": (h.start + timedelta(days=1)).isoformat(),
                                  "first": 50},
    # the market and item pages (graphql_api/static/market.js, item.js)
    "MarketPage": lambda h: {"realm": "PC", "order": "VALUE_DESC"},
    "ItemPage": lambda h: {"id": "Exalted Orb", "realm": "PC"},
    "ItemSeries": lambda h: {"league": "Standard", "items": [GREED], "currency": "CHAOS", "from": h.start.isoformat(),
                             "to": (h.start + timedelta(days=2)).isoformat(), "bucket": "HOUR", "realm": "pc",
                             "align": "DATE"},
    "ItemBook": lambda h: {"item": GREED, "from": h.start.isoformat(), "to": (h.start + timedelta(days=2)).isoformat(),
                           "bucket": "HOUR", "currency": "CHAOS"},
}


def _dashboard_operations(history) -> list[dict]:
    out = []
    for query in queries_in_scripts():
        name = query.split()[1].split("(")[0]
        out.append({"name": name, "query": query, "variables": DASHBOARD_VARIABLES.get(name, lambda h: {})(history)})
    return out


def _posted(api, op: dict) -> dict:
    body = api.client.post("/graphql", json={"query": op["query"], "variables": op["variables"]}).json()
    assert "errors" not in body, (op["name"], body)
    return body["data"]


def test_python_gql_with_persisted_queries_gets_the_dashboards_answers_over_get(api, history):
    from gql import Client, GraphQLRequest

    operations = _dashboard_operations(history)
    assert len(operations) >= 11  # the watchlist dashboard's 7, the market page's and the item page's
    assert {op["name"] for op in operations} <= set(DASHBOARD_VARIABLES) | {"DashboardInit", "DashboardLeagues"}
    transport = _ApqTransport(f"{api.base}/graphql")
    with Client(transport=transport, parse_results=False) as session:
        for op in operations:
            got = session.execute(GraphQLRequest(op["query"], variable_values=op["variables"]))
            assert got == _posted(api, op), op["name"]
    # the hash alone was enough every time: gql prints the document anew, so its text (and hash)
    # differs from the dashboard's and was registered once by the POST after a not-found GET
    methods = [m for m, _ in transport.sent]
    assert methods.count("GET") == len(operations) and all(status == 200 for _, status in transport.sent)
    transport.sent.clear()
    with Client(transport=transport, parse_results=False) as session:
        for op in operations:
            session.execute(GraphQLRequest(op["query"], variable_values=op["variables"]))
    assert [m for m, _ in transport.sent] == ["GET"] * len(operations)  # known now: no text sent again


@pytest.fixture(scope="module")
def apollo_client_dir(tmp_path_factory) -> Path:
    """tests/clients installed with npm (the pinned lock) into a scratch copy."""
    npm = shutil.which("npm")
    assert npm and shutil.which("node"), "npm and node are needed (Debian's nodejs, or the npm registry's node)"
    target = tmp_path_factory.mktemp("apollo")
    for name in ("package.json", "package-lock.json", "apollo_apq.mjs"):
        shutil.copy(CLIENTS / name, target / name)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target, check=True,
                   timeout=300, capture_output=True)
    return target


def test_apollo_client_with_persisted_queries_gets_the_same_answers_over_get_as_a_post(api, history,
                                                                                      apollo_client_dir):
    operations = _dashboard_operations(history)
    run = subprocess.run(["node", "apollo_apq.mjs", f"{api.base}/graphql"], cwd=apollo_client_dir,
                         input=json.dumps(operations * 2), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    for op, result in zip(operations * 2, out["results"]):
        assert result["errors"] is None, (op["name"], result)
        assert result["data"] == _posted(api, op), op["name"]
    requests = out["requests"]
    # Apollo adds __typename to what it sends, so each text is new to the server once: a hashed GET
    # (not found), then a POST with the text; the second round is hashed GETs only
    second = requests[-len(operations):]
    assert all(r["method"] == "GET" and not r["hasQuery"] and r["status"] == 200 for r in second), second
    assert all(r["status"] == 200 for r in requests)
