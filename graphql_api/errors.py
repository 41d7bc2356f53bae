"""Errors the client sees: a message naming the argument and a machine code in
`extensions.code`. Anything unexpected is masked (and logged with its stack trace).

Codes: BAD_USER_INPUT, NOT_FOUND, TIMEOUT, SERVICE_UNAVAILABLE, QUERY_TOO_COMPLEX, QUERY_TOO_EXPENSIVE
(cost.py), BUSY (workers.py, admission.py), GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED,
UNAUTHENTICATED, REQUEST_TOO_LARGE, REQUEST_TIMEOUT, INTERNAL_SERVER_ERROR.

Logging: a request the client got wrong is one INFO line (its codes and messages, cut short,
no stack trace: the client's mistake is no bug of ours); an unexpected error is an ERROR with
its stack trace. Strawberry's own logger, which puts every error at ERROR with a trace, is
not used (see `log_errors`). Refusals that protect the server (BUSY, QUERY_TOO_EXPENSIVE) are
not logged one by one.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

from functools import lru_cache

from graphql import ArgumentNode, GraphQLError, Visitor, parse, visit

from tradewatch.bulk_exchange.leagues import closest

log = logging.getLogger("graphql_api")

MASKED_MESSAGE = "Unexpected error; it was logged on the server."


class ApiError(Exception):
    """An error meant for the client; `argument` names the offending argument, if any."""

    def __init__(self, message: str, code: str = "BAD_USER_INPUT", argument: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.argument = argument


def shown(value: object, limit: int = 80) -> str:
    """repr() of a value the client sent, cut short: an error message must not echo 1 MB back."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def bad_input(argument: str, problem: str) -> ApiError:
    return ApiError(f"argument `{argument}`: {problem}", code="BAD_USER_INPUT", argument=argument)


def not_found(argument: str, problem: str) -> ApiError:
    return ApiError(f"argument `{argument}`: {problem}", code="NOT_FOUND", argument=argument)


def did_you_mean(value: str, known: Sequence[str]) -> str:
    """' (did you mean 'x'?)' naming the known name closest in spelling to a mistyped one, or ''."""
    if len(value) > 200:  # a typo is not that long, and difflib's cost grows with the length
        return ""
    hint = closest(value, known)
    return f" (did you mean {hint!r}?)" if hint else ""


def should_mask_error(error: GraphQLError) -> bool:
    """Keep our coded errors and the ones about the request itself (parsing, validation, scalar
    coercion: no `path`); mask what went wrong while resolving."""
    original = error.original_error
    return not (original is None or error.path is None or isinstance(original, (ApiError, GraphQLError)))


def _one_line(text: str, limit: int = 160) -> str:
    # client text goes into the log: no line breaks (no forged lines), and not 1 MB of it
    flat = "".join(c if c.isprintable() else " " for c in text)
    return flat if len(flat) <= limit else f"{flat[:limit]}..."


def log_errors(errors: list[GraphQLError]) -> None:
    """Log the errors of one operation (before they are masked): unexpected ones at ERROR with
    their stack trace, all the client's mistakes together as one INFO line."""
    mistakes = []
    for error in errors:
        if should_mask_error(error):
            original = error.original_error
            log.error("unexpected error in %s", ".".join(map(str, error.path or [])) or "the operation",
                      exc_info=(type(original), original, original.__traceback__))
        else:
            mistakes.append(f"{error_code(error)} {_one_line(error.message)}")
    if mistakes:
        shown_ = "; ".join(mistakes[:3]) + (f"; and {len(mistakes) - 3} more" if len(mistakes) > 3 else "")
        log.info("client error%s: %s", "s" if len(mistakes) > 1 else "", shown_)


_INPUT_HINTS = ("got invalid value", "has invalid value", "cannot represent", "of required type",
                "was not provided", "Expected value of type", "Int cannot", "Float cannot")


def error_code(error: GraphQLError) -> str:
    """The code of an error that did not set one itself (graphql-core and limiter errors)."""
    original = error.original_error
    if isinstance(original, ApiError):
        return original.code
    message = error.message
    if message == MASKED_MESSAGE:
        return "INTERNAL_SERVER_ERROR"
    if message.startswith("Syntax Error"):
        # graphql-core's parser reports a hit token or nesting limit as a syntax error
        too_big = "tokens" in message or "nested too deeply" in message
        return "QUERY_TOO_COMPLEX" if too_big else "GRAPHQL_PARSE_FAILED"
    if "exceeds maximum operation depth" in message or "aliases found. Allowed" in message:
        return "QUERY_TOO_COMPLEX"
    if any(hint in message for hint in _INPUT_HINTS):
        return "BAD_USER_INPUT"
    if error.path is not None:
        return "INTERNAL_SERVER_ERROR"
    return "GRAPHQL_VALIDATION_FAILED"


@lru_cache(maxsize=256)
def _arguments_by_value_start(body: str) -> dict[int, str]:
    """Where each argument's value starts in a document -> the argument's name."""
    found: dict[int, str] = {}

    class Collect(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            if node.value.loc is not None:
                found[node.value.loc.start] = node.name.value

    visit(parse(body, no_location=False), Collect())
    return found


def _literal_argument(error: GraphQLError) -> str | None:
    """The argument whose literal value graphql-core rejected (its message names only the type)."""
    node = error.nodes[0] if error.nodes else None
    if node is None or node.loc is None or error.source is None:
        return None
    try:
        return _arguments_by_value_start(error.source.body).get(node.loc.start)
    except GraphQLError:
        return None


def format_error(error: GraphQLError) -> dict[str, Any]:
    """The error as the client gets it: message, locations, path and extensions.code."""
    formatted = error.formatted
    extensions = dict(formatted.get("extensions") or {})
    extensions.setdefault("code", error_code(error))
    original = error.original_error
    if isinstance(original, ApiError) and original.argument:
        extensions.setdefault("argument", original.argument)
    elif extensions["code"] == "BAD_USER_INPUT":
        argument = _literal_argument(error)
        if argument:
            extensions["argument"] = argument
            formatted["message"] = f"argument `{argument}`: {formatted['message']}"
    formatted["extensions"] = extensions
    return formatted
