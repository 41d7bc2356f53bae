"""Per-request context handed to every resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from psycopg_pool import AsyncConnectionPool
from strawberry.types import Info as _Info

from graphql_api.caching import CachePolicy
from tradewatch.watchlist import Watchlist


@dataclass
class ApiContext:
    pool: AsyncConnectionPool
    watchlist: Watchlist
    request: Any = None
    response: Any = None
    cache: CachePolicy = field(default_factory=CachePolicy)
    max_cost: int = 1000          # the request budget (ApiSettings.max_cost)
    cost: int = 0                 # what the cost model charged this request
    deadline: float = 0.0         # time.monotonic() by which the request must be answered
    workers: Any = None           # workers.WorkerPool for CPU-bound resolvers
    results: Any = None           # result_cache.ResultCache of evaluateStrategy
    documents: Any = None         # admission.KnownDocuments: validated documents needing worker jobs
    database_url: str = ""        # for the worker processes' own connections
    statement_timeout_ms: int = 5000
    grace: timedelta = timedelta(0)  # an hour is closed at its end + this (the fetch grace)
    live_leagues: Any = None      # leagues.LiveLeagues: the trade site's current leagues

    @property
    def watched(self) -> tuple[str, ...]:
        return self.watchlist.items


Info = _Info[ApiContext, None]
