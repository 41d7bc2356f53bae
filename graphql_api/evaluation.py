"""The CPU side of `evaluateStrategy`, run in a worker process (`graphql_api.workers`): read the
snapshots of the asked hours, price them with the core (`strategy_window.evaluate_window`)
and hand back the per-hour results. Reads on its own read-only, time-limited connection (one
per worker process), so neither the rows nor the parsing ever touch the API's event loop."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime

import orjson
import psycopg

from graphql_api.db import session_options
from graphql_api.workers import JobFailed
from tradewatch.market.strategy import StrategySpec
from tradewatch.market.strategy_window import HourEvaluation, books_by_hour, evaluate_window
from tradewatch.warehouse.db import libpq_url

EVALUATE_SQL = """
SELECT observed_hour, item_id, robust_min_price, book::text AS book
FROM warehouse.price_snapshots
WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND item_id = ANY(%(items)s)
  AND observed_hour = ANY(%(hours)s)
"""

_connection: psycopg.Connection | None = None


def _connect(url: str, statement_timeout_ms: int) -> psycopg.Connection:
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5,
                                      options=session_options(statement_timeout_ms))
    return _connection


def spec_fields(spec: StrategySpec) -> dict:
    """The spec as picklable fields (its weights are a read-only mapping proxy, which is not)."""
    fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
    fields["weights"] = dict(spec.weights) if spec.weights else None
    return fields


def evaluate_hours(url: str, statement_timeout_ms: int, fields: dict, game: str, league: str,
                   paid_with: str, hours: list[datetime], deadline: float) -> list[HourEvaluation]:
    """The strategy of `spec_fields` in each of `hours` (an hour without snapshots says so);
    stops at `deadline`."""
    global _connection
    spec = StrategySpec(**fields)
    budget_ms = int((deadline - time.monotonic()) * 1000)
    if budget_ms <= 0:
        raise JobFailed("TIMEOUT", "the request ran out of its time budget before the evaluation started")
    params = {"game": game, "league": league, "paid": paid_with, "hours": hours,
              "items": list(dict.fromkeys((*spec.family, spec.reroll_cost_item)))}
    try:
        conn = _connect(url, statement_timeout_ms)
        conn.execute(f"SET statement_timeout = {max(1, min(statement_timeout_ms, budget_ms))}")
        rows = conn.execute(EVALUATE_SQL, params).fetchall()
    except psycopg.errors.QueryCanceled:
        raise JobFailed("TIMEOUT", "reading the snapshots ran longer than the time limit; ask for a shorter "
                                   "range") from None
    except psycopg.OperationalError:
        if _connection is not None:
            _connection.close()
        _connection = None
        raise JobFailed("SERVICE_UNAVAILABLE", "the database is unreachable right now; try again shortly") from None
    books = books_by_hour((hour, item, price, orjson.loads(book)) for hour, item, price, book in rows)
    out = []
    for evaluation in evaluate_window([spec], books, hours):
        out.append(evaluation)
        if time.monotonic() > deadline:
            raise JobFailed("TIMEOUT", "the evaluation ran longer than the request's time budget; ask for a "
                                       "shorter range or fewer fields")
    return out
