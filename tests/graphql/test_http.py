"""The HTTP surface: health, GET queries, GraphiQL switch, API keys, CORS, ETag/304, CSV
export, read-only sessions, and the committed SDL."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from graphql_api.config import ApiSettings, load_api_settings

GREED = "deafening-essence-of-greed"


def test_health_reports_the_database_and_the_newest_hour(api, history):
    body = api.client.get("/health").json()
    assert body["status"] == "ok" and body["database"] == "ok"
    assert body["newest_hour"] == (history.end - timedelta(hours=1)).isoformat()


def test_health_reports_an_unreachable_database(serve):
    down = serve(url="postgresql://nobody@127.0.0.1:1/none", pool_timeout=1.0)
    try:
        response = down.client.get("/health")
        assert response.status_code == 503 and response.json()["database"] == "unreachable"
        body = down.gql("{ latestPrices { hour } }")
        assert body["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    finally:
        # stopped now, not with the session's other servers: its pool would go on retrying the dead
        # address and warn into the logs of every later test of this worker
        down.stop()


def test_a_pooled_connection_that_died_is_replaced_without_an_error(serve, db, monkeypatch):
    # connections are not checked with a round trip when taken from the pool: a dead one is retried
    name = "tw-dead-connection-test"
    monkeypatch.setenv("PGAPPNAME", name)  # libpq names the app's sessions so that only they are ended
    app = serve()
    query = "{ latestPrices { hour } }"
    assert app.data(query)["latestPrices"]
    killed = db.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                        (name,)).fetchone()[0]
    assert killed >= 1
    assert app.data(query)["latestPrices"]  # no SERVICE_UNAVAILABLE: run again on a fresh connection


def test_get_queries_and_graphiql(api, serve):
    response = api.client.get("/graphql", params={"query": "{ items(search: \"greed\") { id } }"})
    assert response.json()["data"] == {"items": [{"id": GREED}]}
    assert "graphiql" in api.client.get("/graphql", headers={"accept": "text/html"}).text.lower()
    no_ide = serve(ApiSettings(graphiql=False))
    assert no_ide.client.get("/graphql", headers={"accept": "text/html"}).status_code == 404


def test_api_keys_are_required_when_configured(serve):
    locked = serve(ApiSettings(api_keys=frozenset({"k1", "k2"})))
    query = {"query": "{ items { id } }"}
    missing = locked.client.post("/graphql", json=query)
    assert missing.status_code == 401
    assert missing.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    wrong = locked.client.post("/graphql", json=query, headers={"x-api-key": "k3"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["errors"][0]["message"]
    assert locked.client.post("/graphql", json=query, headers={"x-api-key": "k2"}).status_code == 200
    assert locked.client.post("/graphql", json=query, headers={"authorization": "Bearer k1"}).status_code == 200
    assert locked.client.get("/export/price-series.csv", params={"item": GREED}).status_code == 401
    assert locked.client.get("/health").status_code == 200  # probes need no key


def test_cors_origins_are_configurable(serve, api):
    open_api = serve(ApiSettings(cors_origins=("https://dash.example",)))
    preflight = open_api.client.options("/graphql", headers={
        "origin": "https://dash.example", "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,x-api-key"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://dash.example"
    other = open_api.client.post("/graphql", json={"query": "{ items { id } }"}, headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    plain = api.client.post("/graphql", json={"query": "{ items { id } }"}, headers={"origin": "https://dash.example"})
    assert "access-control-allow-origin" not in plain.headers


def test_settled_ranges_get_an_etag_and_304(api, history):
    query = ('{ priceSeries(item: "%s", from: "%s", to: "%s", bucket: DAY) { points close } }'
             % (GREED, history.start.isoformat(), (history.start + timedelta(days=3)).isoformat()))
    first = api.client.get("/graphql", params={"query": query})
    etag = first.headers["etag"]
    assert "max-age" in first.headers["cache-control"]
    again = api.client.get("/graphql", params={"query": query}, headers={"if-none-match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    posted = api.client.post("/graphql", json={"query": query}, headers={"if-none-match": etag})
    assert posted.status_code == 304


@pytest.mark.parametrize("query", [
    "{ latestPrices { hour } }",                                   # follows the market
    '{ priceSeries(item: "%s") { points } }' % GREED,              # default range ends in the current hour
    '{ priceSeries(item: "%s", from: "2001-01-01", to: "2001-01-02") { points } } { nope }',  # error
])
def test_live_or_failed_answers_are_not_cached(api, query):
    response = api.client.get("/graphql", params={"query": query})
    assert "etag" not in response.headers


def test_csv_export_matches_the_graphql_series(api, history):
    params = {"item": [GREED, "primal-lifeforce"], "from": history.start.isoformat(),
              "to": history.end.isoformat(), "bucket": "day"}
    response = api.client.get("/export/price-series.csv", params=params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"] and "etag" in response.headers
    rows = list(csv.DictReader(io.StringIO(response.text)))
    series = api.data('query($f: DateTime, $t: DateTime) { priceSeries(items: ["%s", "primal-lifeforce"], '
                      'from: $f, to: $t, bucket: DAY) { item { id } time close avgPrice stock } }' % GREED,
                      {"f": params["from"], "t": params["to"]})["priceSeries"]
    expected = [(s["item"]["id"], t, c) for s in series for t, c in zip(s["time"], s["close"])]
    assert [(r["item"], r["time"], float(r["close"])) for r in rows] == expected


@pytest.mark.parametrize("params,status,needle", [
    ({}, 400, "`item`"),
    ({"item": "nope"}, 404, "`item`"),
    ({"item": GREED, "bucket": "month"}, 400, "`bucket`"),
    ({"item": GREED, "from": "soon"}, 400, "`from`"),
])
def test_csv_export_bad_parameters(api, params, status, needle):
    response = api.client.get("/export/price-series.csv", params=params)
    assert response.status_code == status and needle in response.text


def test_api_sessions_are_read_only_with_a_statement_timeout(api):
    import anyio

    from graphql_api.db import create_pool

    async def check():
        pool = create_pool(api.server.config.app.state.database_url, 1234)
        await pool.open()
        try:
            async with pool.connection() as conn:
                ro = await (await conn.execute("SHOW default_transaction_read_only")).fetchone()
                timeout = await (await conn.execute("SHOW statement_timeout")).fetchone()
                with pytest.raises(Exception, match="read-only"):
                    await conn.execute("CREATE TABLE warehouse.intruder (x int)")
            return ro[0], timeout[0]
        finally:
            await pool.close()

    assert anyio.run(check) == ("on", "1234ms")


def test_settings_are_read_from_the_environment():
    a, b = "a" * 16, "b" * 40
    settings = load_api_settings({"TRADEWATCH_API_KEYS": f"{a}, {b}", "TRADEWATCH_CORS_ORIGINS": "https://x",
                                  "TRADEWATCH_GRAPHIQL": "0", "TRADEWATCH_API_STATEMENT_TIMEOUT_MS": "250"},
                                 env_file=None)
    assert settings == ApiSettings(database_url=None, statement_timeout_ms=250, api_keys=frozenset({a, b}),
                                   cors_origins=("https://x",), graphiql=False)
    from tradewatch.errors import ConfigError

    with pytest.raises(ConfigError, match="TRADEWATCH_API_STATEMENT_TIMEOUT_MS"):
        load_api_settings({"TRADEWATCH_API_STATEMENT_TIMEOUT_MS": "soon"}, env_file=None)


def test_committed_sdl_is_in_sync_with_the_schema():
    from graphql_api.sdl import SDL_FILE, current_sdl

    assert SDL_FILE.read_text() == current_sdl(), "run `python -m graphql_api.sdl` and commit schema.graphql"
