"""Shared fixtures for the GraphQL API tests: one database with ten days of simulated
history for the whole session (filled once through the real pipeline: simulate_history ->
compute_snapshots -> compute_profitability), and the app served by uvicorn on a real socket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
import pytest

from graphql_api.config import ApiSettings
from helpers.databases import history_database, with_user
from helpers.servers import UNREACHABLE_URL, ServedApp
from tradewatch.watchlist import load_watchlist

DAYS = 10
# gaps the coverage test expects: one item missing in one hour, one hour missing entirely
GAP_ITEM = "deafening-essence-of-woe"


@dataclass(frozen=True)
class History:
    url: str
    start: datetime
    end: datetime
    gap_item_hour: datetime
    empty_hour: datetime


@pytest.fixture(scope="session")
def watchlist():
    return load_watchlist()


def _gap_hours(start: datetime) -> tuple[datetime, datetime]:
    """The hour missing GAP_ITEM and the hour missing entirely."""
    return start + timedelta(hours=30), start + timedelta(hours=50)


@pytest.fixture(scope="session")
def history(pg_server_url, watchlist) -> History:
    def cut_gaps(pool, start: datetime, end: datetime) -> None:
        # before the derived tables are computed, so that they miss the same rows
        gap_item_hour, empty_hour = _gap_hours(start)
        with pool.connection() as conn:
            conn.execute("DELETE FROM warehouse.raw_trade_responses WHERE (observed_hour = %s AND item_id = %s) "
                         "OR observed_hour = %s", (gap_item_hour, GAP_ITEM, empty_hour))

    with history_database(pg_server_url, watchlist, "tw_graphql", days=DAYS, seed=7, mutate=cut_gaps) as made:
        yield History(made.url, made.start, made.end, *_gap_hours(made.start))


@pytest.fixture(scope="session")
def db(history):
    """A plain connection for computing the expected answers directly in SQL."""
    with psycopg.connect(history.url, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        yield conn


class Served(ServedApp):
    """The app under uvicorn in a thread (see ServedApp), with the GraphQL calls the tests make."""

    def gql(self, query: str, variables: dict | None = None, **kwargs) -> dict:
        response = self.client.post("/graphql", json={"query": query, "variables": variables or {}}, **kwargs)
        assert response.status_code < 500, response.text
        return response.json()

    def data(self, query: str, variables: dict | None = None) -> dict:
        body = self.gql(query, variables)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest.fixture(scope="session")
def serve(history, watchlist):
    """Start an app with given ApiSettings on a real socket; all are stopped at the end."""
    from graphql_api.app import create_app

    started: list[Served] = []

    def start(settings: ApiSettings | None = None, url: str | None = None, pool_timeout: float = 10.0,
              trade_api_url: str = UNREACHABLE_URL) -> Served:
        served = Served(create_app(url or history.url, settings=settings or ApiSettings(), watchlist=watchlist,
                                   pool_timeout=pool_timeout, trade_api_url=trade_api_url))
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture(scope="session")
def api(serve, history) -> Served:
    """The API as deployed: connected as the read-only role tradewatch_api."""
    from tradewatch.warehouse.roles import API_ROLE, apply_api_password
    from pydantic import SecretStr as Secret

    apply_api_password(history.url, Secret("api-test-pw"))
    return serve(url=with_user(history.url, API_ROLE, "api-test-pw"))
