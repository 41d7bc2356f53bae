"""A query text seen (parsed and validated) before runs on the prepared path (graphql_api/prepared.py):
the same answers, and the same protections that depend on the request: the cost budget with the
request's own variables, error masking; and texts that failed validation are never prepared."""

from __future__ import annotations

from datetime import timedelta

from graphql_api.config import ApiSettings

GREED = "deafening-essence-of-greed"
SERIES = "query($f: DateTime, $t: DateTime) { priceSeries(item: \"%s\", from: $f, to: $t) { points close } }" % GREED


def _prepared_calls(served, monkeypatch) -> list:
    """Every call of the prepared path of the app's schema, recorded."""
    view = next(r.endpoint for r in served.server.config.app.routes if getattr(r, "path", "") == "/graphql")
    path = view.schema.prepared_path
    calls: list = []
    original = path.execute

    async def recording(*args, **kwargs):
        calls.append(args[1])  # the query text
        return await original(*args, **kwargs)

    monkeypatch.setattr(path, "execute", recording)
    return calls


def test_a_query_text_asked_again_runs_prepared_and_answers_the_same(api, history, monkeypatch):
    calls = _prepared_calls(api, monkeypatch)
    query = "{ latestPrices { item { id name } hour minPrice change24h lowConfidence } prepared: __typename }"
    first = api.data(query)
    assert calls == []  # the first time: parsed and validated the usual way
    second = api.data(query)
    assert calls == [query]
    assert second == first
    span = {"f": (history.end - timedelta(days=2)).isoformat(), "t": history.end.isoformat()}
    assert api.data(SERIES, span) == api.data(SERIES, span)
    assert calls[-1] == SERIES


def test_the_prepared_path_keeps_the_budget_with_each_requests_variables(serve, history, monkeypatch):
    served = serve(ApiSettings(max_cost=5))
    calls = _prepared_calls(served, monkeypatch)
    query = SERIES.replace("{ points", "{ budgeted: points")  # a text of this test alone
    day = {"f": (history.end - timedelta(days=1)).isoformat(), "t": history.end.isoformat()}
    assert served.data(query, day)["priceSeries"][0]["budgeted"] > 0
    assert served.data(query, day)["priceSeries"][0]["budgeted"] > 0
    years = {"f": (history.end - timedelta(days=3 * 365)).isoformat(), "t": history.end.isoformat()}
    refused = served.gql(query, years)
    assert calls == [query, query]  # the text was prepared: the refusal came from the prepared path
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"
    assert refused["errors"][0]["extensions"]["budget"] == 5


def test_errors_on_the_prepared_path_are_masked(api, monkeypatch, caplog):
    from graphql_api.queries import catalog

    query = "{ items { id } prepared: __typename }"
    api.data(query)
    calls = _prepared_calls(api, monkeypatch)

    def broken(ctx, search, category):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(catalog, "items", broken)
    with caplog.at_level("ERROR", logger="graphql_api"):
        response = api.client.post("/graphql", json={"query": query})
    assert calls == [query]
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert "secret" not in response.text
    assert "secret internals" in caplog.text  # logged as it was, answered masked


def test_a_text_that_fails_validation_is_never_prepared(api, monkeypatch):
    calls = _prepared_calls(api, monkeypatch)
    deep = "{ latestPrices { item { id } } nope }"
    for _ in range(2):
        body = api.gql(deep)
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert calls == []
