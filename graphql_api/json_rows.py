"""Row lists built as JSON by PostgreSQL for exactly the selected fields (snapshot and
profitability pages, latestPrices), handed to the response without per-field completion.

`row_plan(info, columns)` reads the selection under the connection's `nodes` (or, with
`list_field=None`, of the field's own list) the way
graphql-core collects it (aliases, fragments, `@include`/`@skip` with the request's variables,
`__typename`) and, when every selected field is plain, compiles it into one
JSON text expression per row (`RowPlan.text`) plus a `clean` condition: true when each value
is one GraphQL would serialize without an error (not null where the type is non-null, an Int
within 32 bits, a finite Float, an enum value the enum has). The query then aggregates its page
into one JSON array and `JsonRows` carries that text through execution;
`completion.RowCompletionContext` embeds it verbatim (orjson.Fragment).

Plain means: a field listed in `columns` (its SQL over the page row `p`), without arguments,
whose type is a scalar (Int, Float, Boolean, String, ID, DateTime, or a JSON scalar), an enum, a
list of String/ID/Float, or a nested object whose fields are listed the same way. Anything else, a
`nodes` selected under two response keys, or a page whose `clean` is false, takes the normal
path, so errors and their paths stay exactly those of graphql-core. Values differ from the
normal path only in the spelling of numbers (PostgreSQL writes 500 where orjson writes 500.0):
the same JSON values. A plan is compiled once per selection (the field nodes of the request's
cached document and the Boolean variables `@include`/`@skip` may read) and kept: `_PLANS`.
Lists of strings the statements take in every request (the watched items) are passed as array
text built once (`text_array`), not adapted element by element each time.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from graphql import (FieldNode, GraphQLEnumType, GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLOutputType,
                     GraphQLScalarType, get_named_type)
from graphql.execution.collect_fields import collect_sub_fields

# An object's columns: GraphQL field name -> SQL expression over the row, or a nested object's columns
Columns = Mapping[str, "str | Columns"]

# Python's datetime.isoformat() in a UTC session: microseconds only when there are any. A whole
# second is PostgreSQL's own JSON of the time (ISO 8601 with +00:00 in a UTC session, and cheaper than
# to_char); the rest need to_char for all six digits (PostgreSQL's JSON trims trailing zeros).
_TIME = ("(CASE WHEN date_trunc('second', {e}) = {e} THEN to_json({e}) "
         "ELSE to_json(to_char({e}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"+00:00\"')) END)")
_JSON_SCALARS = frozenset({"FloatColumn", "IntColumn", "TimeColumn", "Ladder", "JSON"})


def item_columns(column: str) -> dict[str, str]:
    """An `Item` of a row: its id and whether it is watched (the statement passes the watched ids as
    `%(watched)s`, best as `text_array(...)`); a selection of its name or category takes the normal path
    (names live in the catalogue) unless the statement has them as columns too."""
    return {"id": column, "watched": f"({column} = ANY(%(watched)s::text[]))"}


@lru_cache(maxsize=256)
def text_array(values: tuple[str | None, ...]) -> str:
    """`values` as the text of a PostgreSQL array literal, for a parameter cast with `::text[]`: psycopg
    adapts a list element by element on every execution (a regular expression or three per element),
    while the same few lists (the watched items, their names) come back in every request."""
    def element(value: str | None) -> str:
        if value is None:
            return "NULL"
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return "{" + ",".join(map(element, values)) + "}"


class JsonRows:
    """The value of a list field whose JSON PostgreSQL wrote, for the field nodes it was built for."""

    __slots__ = ("text", "field_nodes")

    def __init__(self, text: str, field_nodes: tuple[FieldNode, ...]) -> None:
        self.text = text
        self.field_nodes = field_nodes

    def built_for(self, field_nodes: list[FieldNode]) -> bool:
        return len(field_nodes) == len(self.field_nodes) and all(
            a is b for a, b in zip(field_nodes, self.field_nodes))


@dataclass(frozen=True)
class RowPlan:
    """One row's JSON object as its text written out piece by piece (`text`), and its `clean` condition,
    both SQL over the row `p`. `text` is valid JSON only where `clean` holds (a NaN is written bare); it
    is written as text rather than with json_build_object, which looks up each value's type output on
    every call (about 60 % of a page statement's time went to it)."""

    text: str
    clean: str
    field_nodes: tuple[FieldNode, ...]

    def array(self, order: str, only: str = "") -> str:
        """The aggregate writing the rows' `text` as one JSON array (text; null without rows), in `order`,
        of the rows `only` lets through (a FILTER clause, or nothing)."""
        return f"'[' || string_agg({self.text}, ',' ORDER BY {order}) {only} || ']'"


class _Unplain(Exception):
    pass


def row_plan(info: Any, columns: Columns, list_field: str | None = "nodes") -> RowPlan | None:
    """The plan of `list_field`'s rows for this resolver's selection (`list_field` None: the rows of the
    resolver's own list), or None when it is not plain. Compiled once per selection: see `_PLANS`."""
    raw = info._raw_info  # graphql-core's resolve info: the schema, fragments and variables of the request
    key = _plan_key(raw, columns, list_field)
    if key is not None:
        cached = _PLANS.get(key)
        # the entry holds what it was compiled for, so their ids cannot be reused meanwhile
        if cached is not None and cached[0] is columns and all(a is b for a, b in zip(cached[1], raw.field_nodes)):
            _PLANS.move_to_end(key)
            return cached[2]
    plan = _compile_plan(raw, columns, list_field)
    if key is not None:
        _PLANS[key] = (columns, tuple(raw.field_nodes), plan)
        while len(_PLANS) > _MAX_PLANS:
            _PLANS.popitem(last=False)
    return plan


# Compiled plans by (columns, list field, the field nodes of the request's cached document, the
# Boolean variables: the only values a plan depends on, through @include/@skip)
_PLANS: OrderedDict[tuple, tuple[Columns, tuple[FieldNode, ...], RowPlan | None]] = OrderedDict()
_MAX_PLANS = 512


def _switches(raw: Any) -> tuple:
    """The request's Boolean (or null) variables: the only values `@include`/`@skip` can read."""
    variables = raw.variable_values or {}
    return tuple(sorted((k, v) for k, v in variables.items() if v is None or isinstance(v, bool)))


def _plan_key(raw: Any, columns: Columns, list_field: str | None) -> tuple | None:
    return (id(columns), list_field, *map(id, raw.field_nodes), _switches(raw))


def _compile_plan(raw: Any, columns: Columns, list_field: str | None) -> RowPlan | None:
    if list_field is None:
        field_nodes, row_type = list(raw.field_nodes), _list_item_object(raw.return_type)
    else:
        connection = get_named_type(raw.return_type)
        if not isinstance(connection, GraphQLObjectType):
            return None
        selected = collect_sub_fields(raw.schema, raw.fragments, raw.variable_values, connection, raw.field_nodes)
        keys = [key for key, nodes in selected.items() if nodes[0].name.value == list_field]
        if len(keys) != 1:  # none, or aliased twice with (maybe) different selections
            return None
        field_nodes = selected[keys[0]]
        row_type = _list_item_object(connection.fields[list_field].type)
    if row_type is None:
        return None
    try:
        text, clean = _object(raw, row_type, field_nodes, columns)
    except _Unplain:
        return None
    return RowPlan(text=text, clean=" AND ".join(clean) or "true", field_nodes=tuple(field_nodes))


def selected_names(info: Any, *path: str) -> frozenset[str]:
    """The field names selected under `path` of this resolver's field, collected as graphql-core does
    (fragments, inline fragments with or without a type, `@include`/`@skip`). Collected once per
    selection, as the plans are (`_NAMES`)."""
    raw = info._raw_info
    key = (path, id(raw.return_type), *map(id, raw.field_nodes), _switches(raw))
    cached = _NAMES.get(key)
    if cached is not None and cached[0] is raw.return_type and all(a is b for a, b in zip(cached[1],
                                                                                          raw.field_nodes)):
        return cached[2]
    names = _selected_names(raw, path)
    _NAMES[key] = (raw.return_type, tuple(raw.field_nodes), names)
    while len(_NAMES) > _MAX_PLANS:
        _NAMES.popitem(last=False)
    return names


# selected_names' answers, kept with what they were collected for (so their ids are not reused meanwhile)
_NAMES: OrderedDict[tuple, tuple[Any, tuple[FieldNode, ...], frozenset[str]]] = OrderedDict()


def _selected_names(raw: Any, path: tuple[str, ...]) -> frozenset[str]:
    kind, nodes = get_named_type(raw.return_type), list(raw.field_nodes)
    for name in (*path, None):
        if not isinstance(kind, GraphQLObjectType):
            return frozenset()
        found = collect_sub_fields(raw.schema, raw.fragments, raw.variable_values, kind, nodes)
        if name is None:
            return frozenset(fields[0].name.value for fields in found.values())
        nodes = [node for fields in found.values() if fields[0].name.value == name for node in fields]
        if not nodes:
            return frozenset()
        kind = get_named_type(kind.fields[name].type)
    return frozenset()


def _list_item_object(kind: GraphQLOutputType) -> GraphQLObjectType | None:
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    if not isinstance(kind, GraphQLList):
        return None
    item = kind.of_type
    # nullable rows could be null, which the plan does not write
    return item.of_type if isinstance(item, GraphQLNonNull) and isinstance(item.of_type, GraphQLObjectType) else None


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _concat(pieces: list[str]) -> str:
    """The SQL text pieces joined with `||`, neighbouring literals (quoted SQL strings) joined into one.
    Every piece is non-null text (values are coalesced to 'null'), so `||` never yields null; concat()
    looked up each argument's output function on every row (~5 % of a page statement)."""
    merged: list[str] = []
    for piece in pieces:
        if merged and piece.startswith("'") and merged[-1].startswith("'") and merged[-1].endswith("'"):
            merged[-1] = merged[-1][:-1] + piece[1:]
        else:
            merged.append(piece)
    return f"({' || '.join(merged)})::text"


def _object(raw: Any, object_type: GraphQLObjectType, field_nodes: list[FieldNode],
            columns: Columns) -> tuple[str, list[str]]:
    """(text, clean checks) of an object; response keys are GraphQL names (nothing to escape)."""
    pieces: list[str] = []
    clean: list[str] = []
    for key, nodes in collect_sub_fields(raw.schema, raw.fragments, raw.variable_values, object_type,
                                         field_nodes).items():
        pieces.append(_sql_string(('{"' if not pieces else ',"') + key + '":'))
        name = nodes[0].name.value
        if name == "__typename":
            pieces.append(_sql_string(f'"{object_type.name}"'))
            continue
        column = columns.get(name)
        field = object_type.fields.get(name)
        if column is None or field is None or field.args or any(node.arguments for node in nodes):
            raise _Unplain
        text, checks = _value(raw, field.type, nodes, column)
        pieces.append(text)
        clean.extend(checks)
    pieces.append(_sql_string("}") if pieces else "'{}'")
    return _concat(pieces), clean


def _as_text(json: str) -> str:
    """The JSON text of a json expression, `null` for SQL null."""
    return f"coalesce(({json})::text, 'null')"


def _value(raw: Any, kind: GraphQLOutputType, nodes: list[FieldNode], column: Any) -> tuple[str, list[str]]:
    non_null = isinstance(kind, GraphQLNonNull)
    if non_null:
        kind = kind.of_type
    if isinstance(kind, GraphQLObjectType):
        if not non_null or not isinstance(column, Mapping):  # a nullable object could be null: not written here
            raise _Unplain
        return _object(raw, kind, nodes, column)
    if not isinstance(column, str):
        raise _Unplain
    checks = [f"{column} IS NOT NULL"] if non_null else []

    def allowing_null(check: str) -> str:
        return check if non_null else f"({column} IS NULL OR {check})"

    if isinstance(kind, GraphQLEnumType):
        quoted = " ".join(f"WHEN {_sql_string(v.value)} THEN {_sql_string(orjson.dumps(name).decode())}"
                          for name, v in kind.values.items() if isinstance(v.value, str))
        checks.append(allowing_null(f"{column} IN ({', '.join(_sql_string(str(v.value)) for v in kind.values.values())})"))
        return f"coalesce((CASE {column} {quoted} END), 'null')", checks
    if isinstance(kind, GraphQLList):
        item = kind.of_type
        item_non_null = isinstance(item, GraphQLNonNull)
        if item_non_null:
            item = item.of_type
        if not (isinstance(item, GraphQLScalarType) and item.name in ("String", "ID", "Float")):
            raise _Unplain
        if item_non_null:
            checks.append(allowing_null(f"array_position({column}, NULL) IS NULL"))
        if item.name == "Float":  # a float8[]: every value finite (false for NaN too; nulls pass)
            checks.append(allowing_null(f"NOT EXISTS (SELECT FROM unnest({column}) AS x(v) "
                                        "WHERE NOT abs(x.v) < 'Infinity'::float8)"))
        return _as_text(f"to_json({column})"), checks
    if not isinstance(kind, GraphQLScalarType):
        raise _Unplain
    if kind.name == "Int":
        checks.append(allowing_null(f"{column} BETWEEN -2147483648 AND 2147483647"))
        return f"coalesce(({column})::text, 'null')", checks  # a number's text is its JSON
    if kind.name == "Float":
        checks.append(allowing_null(f"abs({column}) < 'Infinity'::float8"))  # false for NaN too
        return f"coalesce(({column})::text, 'null')", checks  # finite where clean: its text is its JSON
    if kind.name in ("Boolean", "String", "ID") or kind.name in _JSON_SCALARS:
        return _as_text(f"to_json({column})"), checks
    if kind.name == "DateTime":
        return _as_text(_TIME.format(e=column)), checks
    raise _Unplain


def page_sql(page: str, plan: RowPlan, first: int, keys: tuple[str, ...], newest: str, extra: str = "") -> str:
    """One row for the page statement `page` (which reads `first` + 1 rows, ordered): the JSON array of
    its first `first` rows (`nodes`), whether they are all clean, the row count `n`, each of `keys` of
    the last row in the array (`last_<key>`), `newest` (the answer's freshness) as `tw_newest`, and the
    `extra` columns (", expression AS name", …) the page needs beside them."""
    inside = f"FILTER (WHERE p.tw_row <= {int(first)})"
    last = "".join(f", (array_agg(p.{k} ORDER BY p.tw_row DESC) {inside})[1] AS last_{k}" for k in keys)
    return (f"SELECT {newest} AS tw_newest{extra}, count(p.*) AS n, {plan.array('p.tw_row', inside)} "
            f"AS nodes, bool_and({plan.clean}) {inside} AS clean{last} "
            f"FROM (SELECT q.*, row_number() OVER () AS tw_row FROM ({page}) q) p")
