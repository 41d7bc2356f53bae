"""Fast completion of lists of plain objects (snapshot pages, latestPrices, profitability rows).

graphql-core completes every field of every row on its own (resolve info, resolver call,
awaitable check, type dispatch): about 4 µs per value, 10× what the database and the JSON
encoding together cost for a page of 100 rows. Our row types hold plain attributes only, so
for a list of them the work per row is the same every time: read the attributes, serialize
the leaves. `RowCompletionContext` compiles that work once per (type, selection) of a request
from graphql-core's own field collection (aliases, fragments, `@include`/`@skip`, `__typename`
included) and applies it to every row.

Only what is sure to answer exactly as graphql-core would is compiled: fields without a
resolver, field extensions or permissions, without arguments, whose type is a scalar or enum,
a list of those, or a plain object of the same kind. Anything else in the selection, or any
value that would be an error (null in a non-null field, a value its scalar cannot serialize),
sends the whole list back to graphql-core's completion, which reports the error with its path
as before.

A list whose JSON PostgreSQL already wrote for this selection (`json_rows.JsonRows`) is embedded
as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson
from graphql import (FieldNode, GraphQLEnumType, GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLOutputType,
                     GraphQLResolveInfo, GraphQLScalarType)
from graphql.pyutils import Path, Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from graphql_api.json_rows import JsonRows


class _Fallback(Exception):
    """This row cannot be completed here: let graphql-core complete the list (and report why)."""


Converter = Callable[[Any], Any]
_UNCOMPILABLE = object()


def _guarded(convert: Converter, non_null: bool) -> Converter:
    """`convert` for values that are not None; None stays None, or is an error in a non-null field."""
    def guarded(value: Any) -> Any:
        if value is None:
            if non_null:
                raise _Fallback
            return None
        return convert(value)
    return guarded


def _leaf(kind: GraphQLScalarType | GraphQLEnumType, non_null: bool) -> Converter:
    serialize = kind.serialize

    def convert(value: Any) -> Any:
        out = serialize(value)  # raises on a value it cannot take: graphql-core then reports it
        if out is None or out is Undefined:
            raise _Fallback
        return out
    return _guarded(convert, non_null)


def _leaf_list(item: Converter, non_null: bool) -> Converter:
    def convert(value: Any) -> Any:
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, Iterable):
            raise _Fallback
        return [item(v) for v in value]
    return _guarded(convert, non_null)


class RowCompletionContext(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's execution, with lists of plain objects completed by a compiled plan."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._row_plans: dict[tuple, Any] = {}

    def complete_list_value(self, return_type: GraphQLList[GraphQLOutputType], field_nodes: list[FieldNode],
                            info: GraphQLResolveInfo, path: Path, result: Any) -> Any:
        if isinstance(result, JsonRows):
            if result.built_for(field_nodes):
                return orjson.Fragment(result.text)  # PostgreSQL wrote exactly this selection (json_rows)
            raise TypeError("rows built as JSON for another selection")  # a bug: reported as an error
        item_type = return_type.of_type
        non_null = isinstance(item_type, GraphQLNonNull)
        if non_null:
            item_type = item_type.of_type
        if isinstance(item_type, GraphQLObjectType) and isinstance(result, list) and result:
            complete_row = self._plan(item_type, field_nodes, info)
            if complete_row is not _UNCOMPILABLE:
                try:
                    if non_null:
                        return [complete_row(row) for row in result]
                    return [None if row is None else complete_row(row) for row in result]
                except Exception:  # noqa: BLE001 — any doubt: graphql-core completes it and names the error
                    pass
        return super().complete_list_value(return_type, field_nodes, info, path, result)

    def _plan(self, object_type: GraphQLObjectType, field_nodes: list[FieldNode], info: GraphQLResolveInfo) -> Any:
        # the field nodes belong to the (cached) document of this request: their identity is the key
        key = (object_type.name, *map(id, field_nodes))
        plan = self._row_plans.get(key)
        if plan is None:
            plan = self._row_plans[key] = self._compile(object_type, field_nodes, info, 0)
        return plan

    def _compile(self, object_type: GraphQLObjectType, field_nodes: list[FieldNode], info: GraphQLResolveInfo,
                 depth: int) -> Any:
        if depth > 3:  # row types nest one level (item); deeper selections are not worth compiling
            return _UNCOMPILABLE
        fields: list[tuple[str, str | None, Any]] = []
        for response_key, nodes in self.collect_subfields(object_type, field_nodes).items():
            name = nodes[0].name.value
            if name == "__typename":
                fields.append((response_key, None, object_type.name))
                continue
            field = object_type.fields.get(name)
            definition = (field.extensions or {}).get("strawberry-definition") if field is not None else None
            if (definition is None or definition.base_resolver is not None or definition.extensions
                    or definition.permission_classes or any(node.arguments for node in nodes)):
                return _UNCOMPILABLE
            convert = self._converter(field.type, nodes, info, depth)
            if convert is _UNCOMPILABLE:
                return _UNCOMPILABLE
            fields.append((response_key, definition.python_name, convert))
        is_type_of = object_type.is_type_of
        plan = tuple(fields)

        def complete_row(row: Any) -> dict[str, Any]:
            if is_type_of is not None and not is_type_of(row, info):
                raise _Fallback
            out = {}
            for response_key, attribute, convert in plan:
                out[response_key] = convert if attribute is None else convert(getattr(row, attribute))
            return out
        return complete_row

    def _converter(self, kind: GraphQLOutputType, nodes: list[FieldNode], info: GraphQLResolveInfo,
                   depth: int) -> Any:
        non_null = isinstance(kind, GraphQLNonNull)
        if non_null:
            kind = kind.of_type
        if isinstance(kind, (GraphQLScalarType, GraphQLEnumType)):
            return _leaf(kind, non_null)
        if isinstance(kind, GraphQLList):
            item = kind.of_type
            item_non_null = isinstance(item, GraphQLNonNull)
            if item_non_null:
                item = item.of_type
            if isinstance(item, (GraphQLScalarType, GraphQLEnumType)):
                return _leaf_list(_leaf(item, item_non_null), non_null)
            return _UNCOMPILABLE
        if isinstance(kind, GraphQLObjectType):
            complete_row = self._compile(kind, nodes, info, depth + 1)
            return _UNCOMPILABLE if complete_row is _UNCOMPILABLE else _guarded(complete_row, non_null)
        return _UNCOMPILABLE
