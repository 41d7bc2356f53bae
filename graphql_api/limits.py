"""Every limit the API enforces, in one place, so the SDL docs and the checks agree."""

from __future__ import annotations

import os
from datetime import timedelta

from graphql import FieldNode, FragmentDefinitionNode, FragmentSpreadNode, GraphQLError, InlineFragmentNode
from graphql.language import OperationDefinitionNode, SelectionSetNode
from graphql.validation import ValidationContext, ValidationRule
from strawberry.extensions import AddValidationRules, MaxTokensLimiter

MAX_DEPTH = 8
MAX_ALIASES = 20
MAX_TOKENS = 2000
# A comment or one long string is a single token: the query text is capped in size too.
# (It is also the key of the parser and validation caches, which keep 256 texts each.)
MAX_QUERY_CHARS = 100_000
# The body cap and the cap on `variables` values are settings (graphql_api/config.py); the whole
# body must arrive within this many seconds of the request head (a trickled body holds a slot).
BODY_TIMEOUT_SECONDS = 30.0

DEFAULT_RANGE = timedelta(hours=24)
# Paged fields can read any range, a page at a time; aggregates and per-hour answers are capped.
MAX_PAGED_RANGE = timedelta(days=3 * 366)
MAX_COVERAGE_RANGE = timedelta(days=93)
MAX_EVALUATE_RANGE = timedelta(days=31)
MAX_SERIES_POINTS = 2500       # buckets per item in one priceSeries answer
MAX_SERIES_ITEMS = 50

DEFAULT_PAGE = 100
MAX_PAGE = 500
DEFAULT_RAW_PAGE = 10
MAX_RAW_PAGE = 50              # raw bodies are ~40 kB each

# CPU-bound resolvers (evaluateStrategy) run in worker processes (graphql_api/workers.py): one
# core for the event loop, the rest for them; one more job per worker may wait, then BUSY.
CPU_WORKERS = max(1, (os.cpu_count() or 2) - 1)
CPU_QUEUE = CPU_WORKERS
# A request is answered within this wall-clock budget (a coded TIMEOUT otherwise); the
# client should wait longer than this.
REQUEST_BUDGET_SECONDS = 10.0
# Requests handled at once; past this a request cannot start: HTTP 503 with Retry-After.
MAX_CONCURRENT_REQUESTS = 64
RETRY_AFTER_SECONDS = 1
# A client refused BUSY for want of worker slots that asks again before its Retry-After has
# passed gets its next such refusal after this pause (at most MAX_HELD_REFUSALS at a time, the
# rest at once): it then sends a few requests a second instead of hundreds, and neither its
# requests nor its CPU crowd out the cheap requests of everyone else. A client that waits as
# asked is answered at once.
BUSY_HOLD_SECONDS = 0.25
MAX_HELD_REFUSALS = 32
# evaluateStrategy results kept in memory, per (strategy parameters, hour) of closed hours.
RESULT_CACHE_HOURS = 20_000

LOW_CONFIDENCE_LISTINGS = 5    # fewer listings than this: the price is flagged low-confidence


class OperationLimits(ValidationRule):
    """Rejects an operation nested deeper than MAX_DEPTH fields (introspection fields aside) or
    with more than MAX_ALIASES aliases (counted as expanded: a fragment spread twice counts twice).

    Strawberry's QueryDepthLimiter and MaxAliasesLimiter walk every fragment spread anew, so a
    1 kB document of 30 fragments each spreading the next twice costs 2**30 steps and hangs
    the server (found by tests/reliability/test_graphql_fuzz.py). Here each fragment is
    measured once: linear in the document. Same rules, same messages."""

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        definitions = context.document.definitions
        fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
        measured: dict[str, tuple[int, int]] = {}  # fragment -> (depth, aliases)

        def measure(selection_set: SelectionSetNode, visiting: frozenset[str]) -> tuple[int, int]:
            deepest = aliases = 0
            for selection in selection_set.selections:
                depth = 0
                if isinstance(selection, FieldNode):
                    aliases += selection.alias is not None
                    if selection.selection_set:
                        inner_depth, inner_aliases = measure(selection.selection_set, visiting)
                        aliases += inner_aliases
                        depth = 0 if selection.name.value.startswith("__") else 1 + inner_depth
                elif isinstance(selection, InlineFragmentNode):
                    depth, inner_aliases = measure(selection.selection_set, visiting)
                    aliases += inner_aliases
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    if name not in measured and name in fragments and name not in visiting:
                        # unknown and cyclic fragments count nothing here; other rules reject them
                        measured[name] = measure(fragments[name].selection_set, visiting | {name})
                    depth, inner_aliases = measured.get(name, (0, 0))
                    aliases += inner_aliases
                deepest = max(deepest, depth)
            return deepest, aliases

        total_aliases = 0
        for definition in definitions:
            if isinstance(definition, OperationDefinitionNode):
                depth, aliases = measure(definition.selection_set, frozenset())
                total_aliases += aliases
                if depth > MAX_DEPTH:
                    name = definition.name.value if definition.name else "anonymous"
                    context.report_error(GraphQLError(f"'{name}' exceeds maximum operation depth of {MAX_DEPTH}",
                                                      [definition]))
        if total_aliases > MAX_ALIASES:
            context.report_error(GraphQLError(f"{total_aliases} aliases found. Allowed: {MAX_ALIASES}"))


def limiter_extensions() -> list:
    # factories, not instances: an instance would be shared by concurrent requests
    return [
        lambda: AddValidationRules([OperationLimits]),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    ]
