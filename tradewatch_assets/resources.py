"""Resources shared by the code location: the warehouse, the watchlist and the trade API."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Optional

from dagster import ConfigurableResource
from psycopg_pool import ConnectionPool

from tradewatch.database import resolve_database_url
from tradewatch.warehouse.db import get_pool
from tradewatch.rate_limit import PostgresRateLimiter
from tradewatch.settings import DEFAULT_USER_AGENT, REAL_TRADE_API_URL, load_settings
from tradewatch.bulk_exchange.client import TradeApiClient, limiter_key
from tradewatch.watchlist import Watchlist, load_watchlist


@lru_cache(maxsize=8)
def _checked(url: str) -> str:
    # imported here: alembic is a fifth of the code location's import time, and every Dagster process
    # (webserver's and daemon's code servers, each run) loads the location, most never open the warehouse
    from tradewatch.warehouse.migrate import require_current

    require_current(url)  # once per process; migrating is `tradewatch db upgrade`'s job, not a reader's
    return url


class WarehouseResource(ConfigurableResource):
    """The PostgreSQL warehouse; no URL means the embedded server under TRADEWATCH_HOME."""

    database_url: Optional[str] = None

    def url(self) -> str:
        settings = load_settings()
        if self.database_url:
            settings = settings.model_copy(update={"database_url": self.database_url})
        return _checked(resolve_database_url(settings))

    def pool(self) -> ConnectionPool:
        return get_pool(self.url())


class WatchlistResource(ConfigurableResource):
    """The watchlist file (default: the packaged one) and an optional league override."""

    path: Optional[str] = None
    league: Optional[str] = None

    def load(self) -> Watchlist:
        return load_watchlist(self.path, self.league)


class TradeApiResource(ConfigurableResource):
    """The PoE trade API (or the simulator), behind the rate limiter shared through PostgreSQL."""

    base_url: str = REAL_TRADE_API_URL
    user_agent: str = DEFAULT_USER_AGENT
    poesessid: Optional[str] = None
    cf_clearance: Optional[str] = None
    timeout_seconds: float = 20.0
    max_attempts: int = 6
    backoff_seconds: float = 1.0
    limiter_pad_seconds: float = 0.5
    max_wait_seconds: float = 900.0
    fetch_grace_minutes: float = 15.0

    def grace(self) -> timedelta:
        return timedelta(minutes=self.fetch_grace_minutes)

    def client(self, game: str, league: str, pool: ConnectionPool) -> TradeApiClient:
        """A client whose limiter keeps its state in the warehouse behind `pool`."""
        limiter = PostgresRateLimiter(
            pool, key=limiter_key(self.base_url, game),
            pad=self.limiter_pad_seconds, max_wait=self.max_wait_seconds,
        )
        return TradeApiClient(
            self.base_url, game, league, self.user_agent, limiter,
            poesessid=self.poesessid, cf_clearance=self.cf_clearance, timeout=self.timeout_seconds,
            max_attempts=self.max_attempts, backoff=self.backoff_seconds,
        )
