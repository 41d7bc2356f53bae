"""The CPU side of `evaluateStrategy`, run in a worker process (`graphql_api.workers`): read the
snapshots of the asked hours, price them with the core (`strategy_window.evaluate_window`)
and hand back the per-hour results. Reads on its own read-only, time-limited connection (one
per worker process), so neither the rows nor the parsing ever touch the API's event loop.

The results come back as `HourRecord`s, already in the form the answer needs: plain tuples of
Python numbers (numpy's, infinities and NaN already made plain or null here), the stop set as a
bit mask over the family. The API process unpickles them, keeps them in its results cache and
sums the summary from them without building an object per hour and policy (it builds those only
when `hours` is selected); and tuples of numbers and strings are never tracked by the garbage
collector, so a full cache costs no collection time."""

from __future__ import annotations

import dataclasses
import math
import time
from datetime import datetime
from typing import Optional, Tuple

import orjson
import psycopg

from graphql_api.db import session_options
from graphql_api.workers import JobFailed
from tradewatch.market.strategy import StrategyResult, StrategySpec
from tradewatch.market.strategy_window import books_by_hour, evaluate_window
from tradewatch.warehouse.db import libpq_url

EVALUATE_SQL = """
SELECT observed_hour, item_id, robust_min_price, book::text AS book
FROM warehouse.price_snapshots
WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND item_id = ANY(%(items)s)
  AND observed_hour = ANY(%(hours)s)
"""

_connection: psycopg.Connection | None = None

# One policy's outcome in one hour: (input_item_id, input_unit_cost, quantity, reroll_cost,
# expected_rerolls, expected_sale_value, expected_profit_per_unit, expected_profit_total, roi,
# break_even_reroll_cost, stop_mask, break_even_reroll_amount), money in the paid currency; bit i
# of stop_mask is family member i (the stop set is in family order). Indexes of its fields:
INPUT_ITEM, PROFIT_PER_UNIT, STOP_MASK = 0, 6, 10
OutcomeRecord = Tuple[str, float, int, float, float, float, float, float, Optional[float], Optional[float], int,
                      Optional[float]]
# One hour: (hour, top_k outcome or None, optimal outcome or None, why it is unpriced or None).
HourRecord = Tuple[datetime, Optional[OutcomeRecord], Optional[OutcomeRecord], Optional[str]]


def finite(value: float | None) -> float | None:
    """A plain float, or None for None, infinities and NaN (the core may hand back numpy floats;
    GraphQL and JSON want plain, finite ones)."""
    return float(value) if value is not None and math.isfinite(value) else None


def break_even_amount(break_even: float | None, reroll_cost: float, amount: float | None) -> float | None:
    """The break-even in reroll-item units per reroll: reroll_cost is `amount` units of the reroll
    item, so the break-even amount scales with it (amount × break-even cost / cost)."""
    if break_even is None or amount is None or not reroll_cost > 0:
        return None
    return finite(break_even * amount / reroll_cost)


def stop_members(mask: int, family: tuple[str, ...]) -> list[str]:
    """The members of `family` whose bits are set in `mask`, in family order."""
    return [member for index, member in enumerate(family) if mask >> index & 1]


def _outcome_record(result: StrategyResult, bits: dict[str, int], reroll_cost_amount: float) -> OutcomeRecord:
    break_even = finite(result.break_even_reroll_cost)
    mask = 0
    for member in result.stop_set:
        mask |= bits[member]
    return (result.input_item_id, float(result.input_unit_cost), int(result.quantity), float(result.reroll_cost),
            float(result.expected_rerolls), float(result.expected_sale_value),
            float(result.expected_profit_per_unit), float(result.expected_profit_total), finite(result.roi),
            break_even, mask, break_even_amount(break_even, float(result.reroll_cost), reroll_cost_amount))


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
                   paid_with: str, hours: list[datetime], deadline: float) -> list[HourRecord]:
    """The strategy of `spec_fields` in each of `hours` (an hour without snapshots says so, as
    `NO_SNAPSHOTS`); stops at `deadline`."""
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
    bits = {member: 1 << index for index, member in enumerate(spec.family)}
    out: list[HourRecord] = []
    for evaluation in evaluate_window([spec], books, hours):
        if evaluation.results is None:
            out.append((evaluation.hour, None, None, evaluation.unavailable_reason))
        else:
            top_k, optimal = evaluation.results
            out.append((evaluation.hour, _outcome_record(top_k, bits, spec.reroll_cost_amount),
                        _outcome_record(optimal, bits, spec.reroll_cost_amount), None))
        if time.monotonic() > deadline:
            raise JobFailed("TIMEOUT", "the evaluation ran longer than the request's time budget; ask for a "
                                       "shorter range or fewer fields")
    return out
