"""Pages built as JSON by PostgreSQL (graphql_api/json_rows.py) answer exactly as the normal
path does: the same JSON values in the same key order, for aliases, fragments, variables with
@include/@skip, __typename, nulls, cursors, the book and the currency; a value GraphQL cannot
serialize (an Int over 32 bits, a NaN) is the same error at the same path; a selection that is
not plain takes the normal path. The reference is the same server with the plans switched off."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import graphql_api.schema as schema_module

PAGE_VARIABLES = {"$f": "DateTime", "$t": "DateTime", "$after": "String", "$with": "Boolean!"}
SNAPSHOT_QUERIES = [
    "{ snapshots(from: $f, to: $t, first: 40, after: $after) { nodes { item { id } hour observedAt listingCount "
    "totalStock minPrice robustMinPrice targetQuantity bought spent avgPrice paidWith simulated } "
    "pageInfo { hasNextPage endCursor } } }",
    "{ s: snapshots(from: $f, to: $t, first: 7, after: $after, orderBy: TIME_DESC) { pageInfo { endCursor } "
    "rows: nodes { __typename h: hour p: minPrice ...F ... on Snapshot { bought item { watched __typename } } "
    "hour } } } fragment F on Snapshot { spent item { id } robustMinPrice }",
    "{ snapshots(from: $f, to: $t, first: 5, after: $after) { nodes { hour minPrice @include(if: $with) "
    "avgPrice @skip(if: $with) ... @include(if: $with) { totalStock book } } } }",
    "{ snapshots(from: $f, to: $t, first: 5, after: $after, currency: CHAOS) { nodes { hour minPrice spent "
    "paidWith } } }",
    "{ snapshots(from: $f, to: $t, first: 5, after: $after, items: [\"deafening-essence-of-woe\"]) { nodes { "
    "item { id } hour } } }",
]
PROFIT_QUERIES = [
    "{ profitability(from: $f, to: $t, first: 30, after: $after) { nodes { strategy policy hour inputItem { id "
    "watched } inputUnitCost quantity rerollCost expectedRerolls expectedSaleValue expectedProfitPerUnit "
    "expectedProfitTotal roi breakEvenRerollCost stopSet simulated priceSource __typename } "
    "pageInfo { endCursor hasNextPage } } }",
    "{ p: profitability(from: $f, to: $t, first: 3, after: $after, policy: OPTIMAL) { n: nodes { ...R "
    "roi @skip(if: $with) } } } fragment R on ProfitabilityRow { h: hour policy stopSet }",
]


def _query(body: str) -> str:
    """`body` as an operation declaring the variables it uses."""
    used = ", ".join(f"{name}: {kind}" for name, kind in PAGE_VARIABLES.items() if name in body)
    return f"query({used}) {body}"


@pytest.fixture()
def plans(monkeypatch):
    """Which resolvers got a plan (True) or took the normal path (False); `off()` switches plans off."""
    used: list[bool] = []
    real = schema_module.row_plan

    def spying(*args, **kwargs):
        plan = real(*args, **kwargs)
        used.append(plan is not None)
        return plan

    monkeypatch.setattr(schema_module, "row_plan", spying)

    class Plans:
        def __init__(self) -> None:
            self.used = used

        def off(self) -> None:
            monkeypatch.setattr(schema_module, "row_plan", lambda *args, **kwargs: None)

        def on(self) -> None:
            monkeypatch.setattr(schema_module, "row_plan", spying)
    return Plans()


def _values(response) -> str:
    """The answer as JSON values in order (500 and 500.0 are the same number)."""
    return json.dumps(json.loads(response.content, parse_int=float))


def _both(api, plans, query: str, variables: dict) -> tuple:
    plans.on()
    fast = api.client.post("/graphql", json={"query": query, "variables": variables})
    plans.off()
    normal = api.client.post("/graphql", json={"query": query, "variables": variables})
    plans.on()
    return fast, normal


@pytest.mark.parametrize("body", SNAPSHOT_QUERIES + PROFIT_QUERIES)
@pytest.mark.parametrize("with_", [True, False])
def test_a_page_built_by_postgresql_equals_the_normal_answer(api, history, plans, body, with_):
    variables = {"f": history.start.isoformat(), "t": (history.start + timedelta(days=3)).isoformat(),
                 "after": None, "with": with_}
    for _ in range(2):  # this page, then the next from its cursor
        fast, normal = _both(api, plans, _query(body), variables)
        assert fast.status_code == normal.status_code == 200
        assert _values(fast) == _values(normal)
        assert fast.headers.get("cache-control") == normal.headers.get("cache-control")
        assert "errors" not in fast.json()
        data = next(iter(fast.json()["data"].values()))
        cursor = (data.get("pageInfo") or {}).get("endCursor")
        if cursor is None:
            break
        variables["after"] = cursor
    assert plans.used and all(plans.used)


@pytest.mark.parametrize("body", [
    "{ snapshots(from: $f, to: $t, first: 5) { nodes { item { id name } hour } } }",  # names: the catalogue
    "{ snapshots(from: $f, to: $t, first: 5) { a: nodes { hour } b: nodes { minPrice } } }",  # nodes twice
    "{ profitability(from: $f, to: $t, first: 5) { nodes { hour breakEvenRerollAmount } } }",  # computed in Python
])
def test_a_selection_that_is_not_plain_takes_the_normal_path(api, history, plans, body):
    variables = {"f": history.start.isoformat(), "t": (history.start + timedelta(days=1)).isoformat(), "with": True}
    fast, normal = _both(api, plans, _query(body), variables)
    assert _values(fast) == _values(normal) and "errors" not in fast.json()
    assert plans.used == [False]


def test_an_empty_page_is_an_empty_list(api, plans):
    variables = {"f": "2001-01-01T00:00:00Z", "t": "2001-01-02T00:00:00Z", "with": True}
    fast, normal = _both(api, plans, _query(SNAPSHOT_QUERIES[0]), variables)
    assert _values(fast) == _values(normal)
    assert fast.json()["data"]["snapshots"] == {"nodes": [], "pageInfo": {"hasNextPage": False, "endCursor": None}}


BAD_HOUR = datetime(2001, 1, 1, 5, tzinfo=timezone.utc)  # far before the history: no other test reads it


@pytest.fixture()
def bad_rows(db, watchlist):
    """Rows GraphQL cannot serialize, in an hour of their own (removed afterwards)."""
    item = watchlist.items[0]
    common = (watchlist.game, watchlist.league, watchlist.paid_with)
    db.execute("INSERT INTO warehouse.price_snapshots (game, league, paid_with, observed_hour, item_id, observed_at, "
               "listing_count, total_stock, min_price, robust_min_price, target_quantity, bought, spent, avg_price, "
               "book, simulated, raw_response_id) VALUES (%s, %s, %s, %s, %s, %s, 3, 3000000000, 'NaN', 1.5, 500, 500, "
               "1.0, 0.5, '[]', true, 0), (%s, %s, %s, %s, %s, %s, 3, 10, 1.5, NULL, 500, 500, 1.0, NULL, '[]', true, 0)",
               (*common, BAD_HOUR, item, BAD_HOUR, *common, BAD_HOUR, watchlist.items[1], BAD_HOUR))
    try:
        yield
    finally:
        db.execute("DELETE FROM warehouse.price_snapshots WHERE observed_hour = %s", (BAD_HOUR,))


@pytest.mark.parametrize("fields", ["item { id } totalStock minPrice", "minPrice robustMinPrice", "totalStock"])
def test_a_value_graphql_cannot_serialize_is_the_same_error_at_the_same_path(api, plans, bad_rows, fields):
    query = ("query($f: DateTime, $t: DateTime) { snapshots(from: $f, to: $t) { nodes { hour %s } } }" % fields)
    variables = {"f": BAD_HOUR.isoformat(), "t": (BAD_HOUR + timedelta(hours=1)).isoformat()}
    fast, normal = _both(api, plans, query, variables)
    body = fast.json()
    assert body.get("errors"), "the reference should refuse these values"
    assert _values(fast) == _values(normal)
    assert [(e["message"], e["path"]) for e in body["errors"]] == \
        [(e["message"], e["path"]) for e in normal.json()["errors"]]
    assert "etag" not in fast.headers  # an answer with errors is never cached


def test_nulls_are_nulls(api, plans, bad_rows, watchlist):
    query = ("query($f: DateTime, $t: DateTime) { snapshots(from: $f, to: $t) { nodes { item { id } robustMinPrice "
             "avgPrice } } }")
    variables = {"f": BAD_HOUR.isoformat(), "t": (BAD_HOUR + timedelta(hours=1)).isoformat()}
    fast, normal = _both(api, plans, query, variables)
    assert _values(fast) == _values(normal)
    nodes = {n["item"]["id"]: n for n in fast.json()["data"]["snapshots"]["nodes"]}
    assert nodes[watchlist.items[0]] == {"item": {"id": watchlist.items[0]}, "robustMinPrice": 1.5, "avgPrice": 0.5}
    assert nodes[watchlist.items[1]] == {"item": {"id": watchlist.items[1]}, "robustMinPrice": None, "avgPrice": None}
    assert plans.used == [True]


@pytest.mark.parametrize("body", [
    "{ latestPrices { item { id name category watched } hour observedAt minPrice robustMinPrice avgPrice "
    "targetQuantity listingCount totalStock change24h change7d lowConfidence paidWith simulated __typename } }",
    '{ latestPrices(items: ["primal-lifeforce", "deafening-essence-of-greed"]) { i: item { id } h: hour '
    "... on LatestPrice { minPrice change7d } ...F } } fragment F on LatestPrice { lowConfidence }",
    "{ latestPrices(currency: DIVINE) { item { id } minPrice avgPrice change24h paidWith } }",
])
def test_latest_prices_built_by_postgresql_equal_the_normal_answer(api, plans, body):
    fast, normal = _both(api, plans, body, {})
    assert fast.status_code == normal.status_code == 200
    assert "errors" not in fast.json()
    assert _values(fast) == _values(normal)
    assert plans.used and all(plans.used)
