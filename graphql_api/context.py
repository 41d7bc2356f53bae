"""Per-request context handed to every resolver."""

from __future__ import annotations

from dataclasses import dataclass, field
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

    @property
    def watched(self) -> tuple[str, ...]:
        return self.watchlist.items


Info = _Info[ApiContext, None]
