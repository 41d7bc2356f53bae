"""The cost model: what a request will cost the server, computed from the parsed document and
the argument values (literals and variables) before anything is executed.

One unit is about one millisecond of server work. Each root field costs `BASE` plus what its
arguments make it read or compute (see `FIELD_COSTS`, quoted in the schema's descriptions);
every occurrence counts, so aliases and fragment spreads multiply it. A request over the
budget (`TRADEWATCH_API_MAX_COST`, default `DEFAULT_MAX_COST`) is answered with one error,
`extensions.code = QUERY_TOO_EXPENSIVE` naming its cost and the budget, and nothing runs.

The walk is linear in the document: each fragment is costed once (the depth and alias rules
in `limits.py` have already run), cyclic or unknown fragments cost nothing here (validation
rejects them). An argument value that cannot be read is costed as if left out: the resolver
rejects it before doing any work.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Any, Callable, Mapping

from graphql import (FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode,
                     OperationDefinitionNode, SelectionSetNode, get_operation_ast)
from graphql.execution import ExecutionResult as GraphQLExecutionResult
from graphql.pyutils import Undefined
from graphql.utilities import value_from_ast_untyped
import orjson
from strawberry.extensions import SchemaExtension

from graphql_api import limits
from graphql_api.inputs import as_utc
from tradewatch.hours import HOUR, floor_hour, utc_now

DEFAULT_MAX_COST = 1000
BASE = 1                       # every root field: parsing its arguments, one round trip
ROWS_PER_UNIT = 1000           # snapshot rows read or aggregated in PostgreSQL per unit
PAGE_ROWS_PER_UNIT = 50        # rows of a page built into objects per unit
BOOK_ROWS_PER_UNIT = 10        # `book` ladders in a snapshots page per unit
RAW_ROWS_PER_UNIT = 10         # raw-response metadata rows per unit
RAW_BODY_COST = 1              # per raw response body (~40 kB)
EVALUATED_HOUR_COST = 1        # per hour of evaluateStrategy (book pricing + both policies), uncached
INTROSPECTION_COST = 10        # __schema / __type
BUCKET_HOURS = {"HOUR": 1, "DAY": 24, "WEEK": 168}
MARKET_BASE = 5                # `market`: one statement over a league's rows of the latest table (~1,500)
MARKET_ITEM = 5                # `marketItem`: an item's hourly rollup over every league

# The documentation of each field's cost, quoted in the schema's descriptions and the README.
FIELD_COSTS = {
    "items": f"{BASE}",
    "strategies": f"{BASE}",
    "latestPrices": f"{BASE} + 1 per 10 items",
    "snapshots": f"{BASE} + `first` / {PAGE_ROWS_PER_UNIT}, + `first` / {BOOK_ROWS_PER_UNIT} more with `book`",
    "priceSeries": f"{BASE} + hours × items / {ROWS_PER_UNIT}, twice that with `executedPrice` or `executedVolume`",
    "profitability": f"{BASE} + `first` / {PAGE_ROWS_PER_UNIT}",
    "evaluateStrategy": f"{BASE} + {EVALUATED_HOUR_COST} per hour of the range",
    "coverage": f"{BASE} + hours × watched items / {ROWS_PER_UNIT}",
    "rawResponses": f"{BASE} + `first` / {RAW_ROWS_PER_UNIT}, + {RAW_BODY_COST} per row with `responseBody`",
    "exchangePrices": f"{BASE} + hours × items / {ROWS_PER_UNIT}",
    "divinePrice": f"{BASE} + hours / {ROWS_PER_UNIT}",
    "alerts": f"{BASE}",
    "leagues": f"{BASE}",
    "market": f"{MARKET_BASE} + `first` / {PAGE_ROWS_PER_UNIT}",
    "marketItem": f"{MARKET_ITEM}",
    "categories": f"{BASE}",
}


def cost_note(field: str) -> str:
    """The sentence the schema appends to a field's description."""
    return f" Cost: {FIELD_COSTS[field]} (see the request budget in the README)."


class _Args:
    """A field's argument values as Python values (variables resolved); unreadable = absent."""

    def __init__(self, node: FieldNode, variables: Mapping[str, Any]) -> None:
        self.values: dict[str, Any] = {}
        for argument in node.arguments or ():
            try:
                value = value_from_ast_untyped(argument.value, variables)
            except Exception:  # a malformed literal: validation or the resolver will say so
                continue
            if value is not Undefined and value is not None:
                self.values[argument.name.value] = value

    def int(self, name: str, default: int, cap: int) -> int:
        value = self.values.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= cap:
            return default
        return value

    def count(self, name: str) -> int | None:
        value = self.values.get(name)
        return len(value) if isinstance(value, list) else (1 if value is not None else None)

    def time(self, name: str) -> datetime | None:
        value = self.values.get(name)
        if not isinstance(value, str):
            return None
        try:
            return as_utc(datetime.fromisoformat(value))
        except (ValueError, OverflowError):
            return None

    def hours(self, cap: timedelta) -> float:
        """Hours of the [from, to) range as `inputs.time_range` reads it, at most `cap`."""
        try:
            end = self.time("to") or floor_hour(utc_now()) + HOUR
            start = self.time("from") or end - limits.DEFAULT_RANGE
            span = (end - start).total_seconds() / 3600
        except OverflowError:
            return 0.0
        return min(max(span, 0.0), cap.total_seconds() / 3600)


def _selects(selection_set: SelectionSetNode | None, name: str, fragments: Mapping[str, FragmentDefinitionNode],
             seen: frozenset[str] = frozenset()) -> bool:
    """Whether `name` is selected anywhere under this selection set (fragments included)."""
    if selection_set is None:
        return False
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            if selection.name.value == name or _selects(selection.selection_set, name, fragments, seen):
                return True
        elif isinstance(selection, InlineFragmentNode):
            if _selects(selection.selection_set, name, fragments, seen):
                return True
        elif isinstance(selection, FragmentSpreadNode):
            spread = selection.name.value
            if spread in fragments and spread not in seen and \
                    _selects(fragments[spread].selection_set, name, fragments, seen | {spread}):
                return True
    return False


def _field_cost(node: FieldNode, variables: Mapping[str, Any], watched: int,
                fragments: Mapping[str, FragmentDefinitionNode]) -> float:
    name = node.name.value
    if name == "__typename":
        return 0
    if name.startswith("__"):
        return INTROSPECTION_COST
    args = _Args(node, variables)
    if name == "latestPrices":
        return BASE + (args.count("items") or watched) / 10
    if name == "snapshots":
        first = args.int("first", limits.DEFAULT_PAGE, limits.MAX_PAGE)
        books = first / BOOK_ROWS_PER_UNIT if _selects(node.selection_set, "book", fragments) else 0
        return BASE + first / PAGE_ROWS_PER_UNIT + books
    if name == "exchangePrices":
        return BASE + args.hours(limits.MAX_PAGED_RANGE) * min(args.count("items") or watched,
                                                               limits.MAX_SERIES_ITEMS) / ROWS_PER_UNIT
    if name == "divinePrice":
        return BASE + args.hours(limits.MAX_PAGED_RANGE) / ROWS_PER_UNIT
    if name == "priceSeries":
        items = (args.count("item") or 0) + (args.count("items") or 0)
        rows = args.hours(limits.MAX_PAGED_RANGE) * min(max(items, 1), limits.MAX_SERIES_ITEMS) / ROWS_PER_UNIT
        # the executed columns join as many Currency Exchange rows as there are book rows
        executed = any(_selects(node.selection_set, f, fragments) for f in ("executedPrice", "executedVolume"))
        return BASE + rows * (2 if executed else 1)
    if name == "market":
        return MARKET_BASE + args.int("first", limits.DEFAULT_PAGE, limits.MAX_PAGE) / PAGE_ROWS_PER_UNIT
    if name == "marketItem":
        return MARKET_ITEM
    if name == "profitability":
        return BASE + args.int("first", limits.DEFAULT_PAGE, limits.MAX_PAGE) / PAGE_ROWS_PER_UNIT
    if name == "evaluateStrategy":
        return BASE + EVALUATED_HOUR_COST * math.ceil(args.hours(limits.MAX_EVALUATE_RANGE))
    if name == "coverage":
        return BASE + args.hours(limits.MAX_COVERAGE_RANGE) * watched / ROWS_PER_UNIT
    if name == "rawResponses":
        first = args.int("first", limits.DEFAULT_RAW_PAGE, limits.MAX_RAW_PAGE)
        bodies = first * RAW_BODY_COST if _selects(node.selection_set, "responseBody", fragments) else 0
        return BASE + first / RAW_ROWS_PER_UNIT + bodies
    return BASE


CPU_FIELDS = frozenset({"evaluateStrategy"})  # resolved in the worker pool (graphql_api/workers.py)


def operation_cost(document, operation_name: str | None, variables: Mapping[str, Any] | None,
                   watched: int) -> int:
    """The cost of the operation of `document` that would run (0 when there is none)."""
    return operation_profile(document, operation_name, variables, watched)[0]


def operation_profile(document, operation_name: str | None, variables: Mapping[str, Any] | None,
                      watched: int) -> tuple[int, int]:
    """(cost, worker jobs: occurrences of CPU_FIELDS) of the operation that would run."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0, 0
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():  # defaults first, then what was sent
        if definition.default_value is not None:
            try:
                values[definition.variable.name.value] = value_from_ast_untyped(definition.default_value)
            except Exception:
                pass
    values.update(variables or {})
    costed: dict[str, tuple[float, int]] = {}

    def cost(selection_set: SelectionSetNode, visiting: frozenset[str]) -> tuple[float, int]:
        total, jobs = 0.0, 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += _field_cost(selection, values, watched, fragments)
                jobs += selection.name.value in CPU_FIELDS
            elif isinstance(selection, (InlineFragmentNode, FragmentSpreadNode)):
                if isinstance(selection, InlineFragmentNode):
                    inner = cost(selection.selection_set, visiting)
                else:
                    name = selection.name.value
                    if name not in costed and name in fragments and name not in visiting:
                        costed[name] = cost(fragments[name].selection_set, visiting | {name})
                    inner = costed.get(name, (0.0, 0))
                total, jobs = total + inner[0], jobs + inner[1]
        return total, jobs

    total, jobs = cost(operation.selection_set, frozenset())
    return math.ceil(total), jobs


def too_expensive(cost: int, budget: int) -> GraphQLError:
    return GraphQLError(
        f"this request would cost {cost} units, over the budget of {budget} per request; ask for shorter "
        "ranges, smaller pages or fewer aliased fields, or split it into several requests",
        extensions={"code": "QUERY_TOO_EXPENSIVE", "cost": cost, "budget": budget})


def busy(slots: int) -> GraphQLError:
    return GraphQLError(f"the server is busy with other expensive requests ({slots} evaluations at a time); "
                        "retry in a second", extensions={"code": "BUSY"})


# operation_profile's answers by (document, operation, variables, watched items, hour): a cached document
# asked again with the same variables costs the same (within the hour: a range without `to` ends with it)
_PROFILES: OrderedDict[tuple, tuple[Any, int, int]] = OrderedDict()
_MAX_PROFILES = 512


def _profile(document, operation_name: str | None, variables: Mapping[str, Any] | None,
             watched: int) -> tuple[int, int]:
    try:
        frozen = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS) if variables else b""
    except TypeError:  # not JSON (a value orjson refuses): computed each time
        return operation_profile(document, operation_name, variables, watched)
    key = (id(document), operation_name, frozen, watched, floor_hour(utc_now()))
    found = _PROFILES.get(key)
    if found is not None and found[0] is document:  # the entry keeps its document: its id is not reused
        return found[1], found[2]
    spent, jobs = operation_profile(document, operation_name, variables, watched)
    _PROFILES[key] = (document, spent, jobs)
    while len(_PROFILES) > _MAX_PROFILES:
        _PROFILES.popitem(last=False)
    return spent, jobs


def admit(document, query: Any, operation_name: str | None, variables: Mapping[str, Any] | None, context: Any,
          budget: Callable[[Any], int]) -> GraphQLError | None:
    """The error refusing this operation before it runs (over the budget, or BUSY: more worker jobs
    than the pool has free), or None, the cost then noted on the context. The one check of the cost
    limiter and of the prepared path (graphql_api/prepared.py)."""
    watchlist = getattr(context, "watchlist", None)
    watched = len(watchlist.items) if watchlist is not None else 0
    limit = budget(context)
    spent, jobs = _profile(document, operation_name, variables, watched)
    workers = getattr(context, "workers", None)
    documents = getattr(context, "documents", None)
    if jobs and documents is not None and isinstance(query, str):
        # validated (execution starts only then): admission may refuse it early next time
        documents.remember(query, operation_name, document)
    if spent > limit:
        return too_expensive(spent, limit)
    if jobs and workers is not None and workers.free() < jobs:
        # it could not run whole: refuse it before any of its fields reads anything
        return busy(workers.slots)
    if context is not None and hasattr(context, "cost"):
        context.cost = spent
    return None


def cost_limiter(budget: Callable[[Any], int]) -> type[SchemaExtension]:
    """A schema extension rejecting, before execution, a request costing more than `budget(context)`,
    or needing more worker jobs than the pool has free (BUSY: the view answers HTTP 503)."""

    class CostLimiter(SchemaExtension):
        budget_of = staticmethod(budget)  # read by the prepared path, which runs the same check

        def on_execute(self):
            ctx = self.execution_context
            document = ctx.graphql_document
            if document is not None and not ctx.result:
                refusal = admit(document, ctx.query, ctx.operation_name, ctx.variables, ctx.context, budget)
                if refusal is not None:
                    ctx.result = GraphQLExecutionResult(data=None, errors=[refusal])
            yield

    return CostLimiter
