"""The prepared path: a query text that parsed and validated before runs without Strawberry's
per-request extension machinery.

Strawberry runs every request through its schema extensions: each hook of each extension is
entered and left through context managers built anew per request (about a third of the server's
work for a small answer). Ours do their work before execution, on the document (the token limit,
the depth and alias rules, introspection off: deterministic for a given query text, and cached by
text anyway) or around it (the cost check, the error masking). So a (query text, operation name)
whose parse and validation passed once is remembered here, with its parsed document, and the next
request with the same text goes straight to graphql-core's execution, with the same execution
context class, after the same checks that do depend on the request: the cost budget and the free
worker slots (`cost.admit`, with the request's variables), and, after it, the same error logging
and masking. A schema with any other extension (one that could need every request) has no prepared
path: `PreparedPath.of` returns None.
"""

from __future__ import annotations

from collections import OrderedDict
from inspect import isawaitable
from typing import Any, Callable

from graphql import DocumentNode, ExecutionResult as GraphQLExecutionResult, execute
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions import AddValidationRules, MaskErrors, MaxTokensLimiter, ParserCache, ValidationCache
from strawberry.types import ExecutionResult

from graphql_api.cost import admit

_PER_DOCUMENT_ONLY = (AddValidationRules, MaxTokensLimiter, ParserCache, ValidationCache)  # DisableIntrospection too


class PreparedDocuments:
    """Documents that parsed and validated, by (query text, operation name): the newest `size`."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._documents: OrderedDict[tuple[str, str | None], DocumentNode] = OrderedDict()

    def __len__(self) -> int:
        return len(self._documents)

    def remember(self, query: str, operation_name: str | None, document: DocumentNode) -> None:
        key = (query, operation_name)
        self._documents[key] = document
        self._documents.move_to_end(key)
        while len(self._documents) > self.size:
            self._documents.popitem(last=False)

    def get(self, query: Any, operation_name: Any) -> DocumentNode | None:
        if not isinstance(query, str) or not (operation_name is None or isinstance(operation_name, str)):
            return None
        return self._documents.get((query, operation_name))


class PreparedPath:
    """Executes a prepared document as the schema's extensions would, without them."""

    def __init__(self, schema: Any, budget: Callable[[Any], int], mask: MaskErrors | None) -> None:
        self.schema = schema
        self.budget = budget
        self.mask = mask

    @classmethod
    def of(cls, schema: Any) -> PreparedPath | None:
        """The prepared path of `schema`, or None when one of its extensions is not known to do its work
        on the document alone or in the checks repeated here."""
        budget, mask = None, None
        for extension in schema.get_extensions():
            if extension._implements_resolve():
                return None
            if isinstance(extension, MaskErrors):
                mask = extension
            elif callable(getattr(type(extension), "budget_of", None)):
                budget = type(extension).budget_of  # cost.cost_limiter's extension
            elif not isinstance(extension, _PER_DOCUMENT_ONLY):
                return None
        return None if budget is None else cls(schema, budget, mask)

    async def execute(self, document: DocumentNode, query: str, variable_values: dict[str, Any] | None,
                      context_value: Any, root_value: Any, operation_name: str | None) -> ExecutionResult:
        refusal = admit(document, query, operation_name, variable_values, context_value, self.budget)
        if refusal is not None:
            errors = [refusal]
            self.schema._process_errors(errors)
            return ExecutionResult(data=None, errors=self._masked(errors), extensions={})
        result = execute(self.schema._schema, document, root_value=root_value, context_value=context_value,
                         variable_values=variable_values, operation_name=operation_name,
                         execution_context_class=self.schema.execution_context_class,
                         is_awaitable=optimized_is_awaitable)
        if isawaitable(result):
            result = await result
        assert isinstance(result, GraphQLExecutionResult)
        errors = result.errors
        if errors:
            self.schema._process_errors(errors)  # logged as they are, answered masked
            errors = self._masked(errors)
        return ExecutionResult(data=result.data, errors=errors, extensions={})

    def _masked(self, errors: list) -> list:
        return self.mask._process_errors(errors) if self.mask is not None else errors
