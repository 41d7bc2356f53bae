"""The compiled completion of row lists (graphql_api/completion.py) answers exactly as
graphql-core's own completion: same data, same key order, same errors with the same paths,
for aliases, fragments, directives, __typename and bad values. Both run the real row types
(Snapshot, ProfitabilityRow) in a small schema without a database."""

from __future__ import annotations

import orjson
from datetime import datetime, timedelta, timezone

import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig

from graphql_api.completion import RowCompletionContext
from graphql_api.types import SCALAR_MAP, Policy, ProfitabilityRow, Snapshot, item_of

HOUR = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _snapshot(n: int, **changes) -> Snapshot:
    fields = dict(item=item_of("deafening-essence-of-greed", True), hour=HOUR + timedelta(hours=n),
                  observed_at=HOUR + timedelta(hours=n, minutes=5, microseconds=120000), listing_count=20 + n,
                  total_stock=5000, min_price=0.5 + n, robust_min_price=None, target_quantity=500, bought=500,
                  spent=250.0, avg_price=0.51, paid_with="divine", simulated=True, book='[[1.5,100,1000]]')
    fields.update(changes)
    return Snapshot(**fields)


def _profit(n: int) -> ProfitabilityRow:
    return ProfitabilityRow(strategy="deafening-top5", policy=Policy.OPTIMAL, hour=HOUR + timedelta(hours=n),
                            input_item=item_of("deafening-essence-of-woe", False), input_unit_cost=0.1, quantity=500,
                            reroll_cost=0.02, expected_rerolls=3.5, expected_sale_value=0.2,
                            expected_profit_per_unit=0.01, expected_profit_total=5.0, roi=None,
                            break_even_reroll_cost=0.04, stop_set=["a", "b"], simulated=False,
                            price_source="exchange" if n % 2 else "book")


ROWS: dict[str, list] = {}


@strawberry.type
class Query:
    @strawberry.field
    def snapshots(self) -> list[Snapshot]:
        return ROWS["snapshots"]

    @strawberry.field
    def profits(self) -> list[ProfitabilityRow]:
        return ROWS["profits"]

    @strawberry.field
    def maybe(self) -> list[Snapshot | None]:
        return ROWS["maybe"]


def _schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    config = StrawberryConfig(scalar_map=SCALAR_MAP)
    return (strawberry.Schema(query=Query, config=config),
            strawberry.Schema(query=Query, config=config, execution_context_class=RowCompletionContext))


REFERENCE, COMPILED = _schemas()

QUERIES = [
    "{ snapshots { item { id name category watched } hour observedAt listingCount totalStock minPrice "
    "robustMinPrice targetQuantity bought spent avgPrice paidWith simulated book } }",
    "{ snapshots { h: hour price: minPrice item { __typename n: name } __typename ...F ... on Snapshot { bought } "
    "hour } } fragment F on Snapshot { spent item { id } }",
    "query($with: Boolean!) { snapshots { hour minPrice @include(if: $with) avgPrice @skip(if: $with) "
    "... @include(if: $with) { totalStock } } }",
    "{ profits { strategy policy hour inputItem { id watched } stopSet roi breakEvenRerollCost "
    "breakEvenRerollAmount priceSource } a: profits { hour } }",
    "{ maybe { hour minPrice } }",
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("variables", [{"with": True}, {"with": False}])
def test_compiled_rows_equal_graphql_cores_completion(query, variables):
    ROWS.update(snapshots=[_snapshot(n) for n in range(5)], profits=[_profit(n) for n in range(3)],
                maybe=[_snapshot(0), None, _snapshot(2)])
    expected, got = (schema.execute_sync(query, variable_values=variables) for schema in (REFERENCE, COMPILED))
    assert expected.errors is None and got.errors is None
    # the same members in the same order (JSON text compares the order too)
    assert orjson.dumps(got.data) == orjson.dumps(expected.data)


@pytest.mark.parametrize("bad", [dict(listing_count=None), dict(min_price=float("nan")), dict(hour="not a time"),
                                 dict(item=None)])
def test_a_bad_value_in_a_row_is_the_same_error_at_the_same_path(bad):
    ROWS.update(snapshots=[_snapshot(0), _snapshot(1, **bad), _snapshot(2)])
    query = "{ snapshots { item { id } hour listingCount minPrice } }"
    expected, got = (schema.execute_sync(query) for schema in (REFERENCE, COMPILED))
    assert expected.errors, "the reference should refuse this value"
    assert [(e.message, e.path) for e in got.errors] == [(e.message, e.path) for e in expected.errors]
    assert orjson.dumps(got.data) == orjson.dumps(expected.data)


def test_a_list_of_nullable_rows_keeps_its_nulls():
    ROWS.update(maybe=[None, _snapshot(1)])
    got = COMPILED.execute_sync("{ maybe { listingCount } }")
    assert got.errors is None and got.data == {"maybe": [None, {"listingCount": 21}]}


def test_rows_are_completed_without_a_field_resolution_each(monkeypatch):
    # the point of the compiled plan: graphql-core resolves the root field only, not 5 rows x 3 fields
    from graphql.execution.execute import ExecutionContext

    resolved: list[str] = []
    execute_field = ExecutionContext.execute_field

    def counting(self, parent_type, source, field_nodes, path):
        resolved.append(field_nodes[0].name.value)
        return execute_field(self, parent_type, source, field_nodes, path)

    monkeypatch.setattr(ExecutionContext, "execute_field", counting)
    ROWS.update(snapshots=[_snapshot(n) for n in range(5)])
    got = COMPILED.execute_sync("{ snapshots { hour minPrice item { id } } }")
    assert got.errors is None and len(got.data["snapshots"]) == 5
    assert resolved == ["snapshots"]
