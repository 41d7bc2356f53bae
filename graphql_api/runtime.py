"""What each request's context gets from the running app for the expensive fields: the cost
budget, the deadline (set by `admission`), the worker pool and the results cache. Kept apart
from `view.py` so that the view only calls `fill` and `mark_busy`."""

from __future__ import annotations

import time
from typing import Any

from graphql_api import limits
from graphql_api.admission import BUSY_FLAG, DEADLINE
from graphql_api.context import ApiContext


def fill(ctx: ApiContext, request: Any) -> None:
    state = request.app.state
    ctx.max_cost = getattr(state, "max_cost", ctx.max_cost)
    ctx.workers = getattr(state, "workers", None)
    ctx.results = getattr(state, "results", None)
    ctx.documents = getattr(state, "documents", None)
    ctx.database_url = getattr(state, "database_url", "")
    ctx.statement_timeout_ms = getattr(state, "statement_timeout_ms", ctx.statement_timeout_ms)
    ctx.grace = getattr(state, "grace", ctx.grace)
    ctx.live_leagues = getattr(state, "live_leagues", None)
    ctx.deadline = request.scope.get("state", {}).get(DEADLINE) or time.monotonic() + limits.REQUEST_BUDGET_SECONDS


def mark_busy(request: Any, result: Any) -> None:
    """Flag a request none of whose fields could start (every error BUSY, no data): HTTP 503."""
    data = result.data
    if result.errors and all((e.extensions or {}).get("code") == "BUSY" or
                             getattr(e.original_error, "code", None) == "BUSY" for e in result.errors) \
            and (data is None or all(v is None for v in data.values())):
        request.scope.setdefault("state", {})[BUSY_FLAG] = True
