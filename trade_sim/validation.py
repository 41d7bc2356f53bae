"""Validation of bulk-exchange request bodies, with the trade API's error messages.

Failures raise `QueryError`, which the app turns into
`400 {"error": {"code": 2, "message": ...}}`. Messages name the offending field or
id so client authors can see what they did wrong; only the "Too many items" text
is known from the real API (unverified), the rest are the simulator's own.
"""

from __future__ import annotations

import json
from typing import Any, Iterable

__all__ = ["MAX_HAVE", "MAX_WANT", "QueryError", "STATUS_OPTIONS", "validate_exchange_body"]

STATUS_OPTIONS = ("online", "onlineleague", "any")
SORT_DIRECTIONS = ("asc", "desc")
MAX_WANT = 10
MAX_HAVE = 10


class QueryError(ValueError):
    """An invalid query; `str(exc)` is the message sent to the client."""


def _id_list(query: dict[str, Any], name: str, known: Iterable[str] | None, limit: int) -> list[str]:
    if name not in query:
        raise QueryError(f"Invalid query: missing `{name}`")
    value = query[name]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QueryError(f"Invalid query: `{name}` must be a list of item ids")
    if not value:
        raise QueryError(f"Invalid query: `{name}` must not be empty")
    if len(value) > limit:
        raise QueryError(f"Too many items `{name}` items selected.")
    if known is not None:
        for item_id in value:
            if item_id not in known:
                raise QueryError(f"Unknown item provided in `{name}`: `{item_id}`")
    return value


def validate_exchange_body(raw: bytes, known_ids: set[str] | None = None) -> dict[str, Any]:
    """Parse and check a request body; return it (with `sort` defaulted) or raise QueryError.

    `known_ids=None` skips the id check (useful for callers without static data).
    """
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise QueryError("Invalid query: request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise QueryError("Invalid query: request body must be a JSON object")
    engine = body.get("engine", "new")
    if engine != "new":
        # Only the "new" engine (listings inline, no fetch step) is simulated.
        raise QueryError(f"Invalid query: unsupported engine `{engine}`")
    query = body.get("query")
    if query is None:
        raise QueryError("Invalid query: missing `query`")
    if not isinstance(query, dict):
        raise QueryError("Invalid query: `query` must be an object")

    status = query.get("status", {"option": "online"})
    option = status.get("option") if isinstance(status, dict) else None
    if option not in STATUS_OPTIONS:
        raise QueryError(
            f"Invalid query: unknown status option `{option}` (expected one of "
            f"{', '.join(STATUS_OPTIONS)})"
        )

    _id_list(query, "have", known_ids, MAX_HAVE)
    _id_list(query, "want", known_ids, MAX_WANT)

    if "minimum" in query and query["minimum"] is not None:
        minimum = query["minimum"]
        # bool is an int subclass; `true` is not a stock count.
        if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1:
            raise QueryError(f"Invalid query: `minimum` must be a positive integer, got {minimum!r}")

    sort = body.get("sort", {"have": "asc"})
    if not isinstance(sort, dict):
        raise QueryError("Invalid query: `sort` must be an object")
    direction = sort.get("have", "asc")
    if direction not in SORT_DIRECTIONS:
        raise QueryError(f"Invalid query: unknown sort direction for `have`: `{direction}`")
    return {**body, "engine": "new", "sort": {**sort, "have": direction}}
