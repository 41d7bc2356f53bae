"""The Currency Exchange feed as a resource: the client behind the shared PostgreSQL limiter."""

from __future__ import annotations

from typing import Optional
from urllib.parse import urlsplit

from dagster import ConfigurableResource
from psycopg_pool import ConnectionPool

from tradewatch.currency_exchange.client import ClientCredentials, CurrencyExchangeClient
from tradewatch.rate_limit import PostgresRateLimiter, Rule
from pydantic import SecretStr as Secret

from tradewatch.settings import DEFAULT_CX_TOKEN_URL, DEFAULT_USER_AGENT, PUBLIC_CX_URL


class CurrencyExchangeResource(ConfigurableResource):
    """GGG's Currency Exchange history (or the simulator's copy of it)."""

    base_url: str = PUBLIC_CX_URL
    user_agent: str = DEFAULT_USER_AGENT
    client_id: Optional[str] = None
    client_secret: Optional[str] = None
    token_url: str = DEFAULT_CX_TOKEN_URL
    max_in_flight: int = 4
    max_per_minute: int = 60
    timeout_seconds: float = 30.0
    max_attempts: int = 6
    backoff_seconds: float = 1.0
    limiter_pad_seconds: float = 0.5
    max_wait_seconds: float = 900.0
    # the newest hour: GGG publishes within seconds to ~5 minutes after it ends; poll that long
    publish_wait_minutes: float = 10.0
    poll_seconds: float = 20.0

    def limiter_key(self) -> str:
        return f"{urlsplit(self.base_url).netloc}/currency-exchange"

    def client(self, pool: ConnectionPool) -> CurrencyExchangeClient:
        """A client whose limiter keeps its state in the warehouse behind `pool`."""
        limiter = PostgresRateLimiter(
            pool, key=self.limiter_key(), pad=self.limiter_pad_seconds, max_wait=self.max_wait_seconds,
            default_rules=[Rule("*", self.max_per_minute, 60.0, 0.0)],
        )
        credentials = None
        if self.client_id and self.client_secret:
            credentials = ClientCredentials(self.token_url, self.client_id, Secret(self.client_secret), self.user_agent,
                                            timeout=self.timeout_seconds, backoff=self.backoff_seconds)
        return CurrencyExchangeClient(self.base_url, self.user_agent, limiter, credentials=credentials,
                                      timeout=self.timeout_seconds, max_attempts=self.max_attempts,
                                      backoff=self.backoff_seconds)
