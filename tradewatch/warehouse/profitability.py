"""Reroll-strategy profitability (gold) computed from price snapshots (silver).

For every hour of a window and every strategy of the watchlist, `compute_profitability`
evaluates the strategy on that hour's market (`tradewatch.market.strategy.evaluate_strategy`:
sale price = the robust minimum price, books rebuilt from the stored `book` ladders)
under both selling policies, top-K and optimal stopping, and replaces the window of
`warehouse.reroll_profitability` in one transaction. An hour in which a strategy cannot
be priced (no member can be bought, the reroll item has no price) gets no row for that
strategy; the report says which and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from psycopg_pool import ConnectionPool

from tradewatch.hours import partition_key
from tradewatch.market.strategy import StrategyResult
from tradewatch.market.strategy_window import books_by_hour, depth_needed, evaluate_window
from tradewatch.watchlist import Watchlist

__all__ = ["ProfitabilityReport", "compute_profitability"]

_COLUMNS = (
    "game, league, paid_with, strategy, policy, observed_hour, input_item_id, input_unit_cost, quantity, "
    "reroll_cost, expected_rerolls, expected_sale_value, expected_profit_per_unit, expected_profit_total, roi, "
    "break_even_reroll_cost, stop_set, simulated"
)


@dataclass
class ProfitabilityReport:
    """The outcome of one `compute_profitability` call over [start, end)."""

    start: datetime
    end: datetime
    rows: int = 0
    deleted: int = 0
    hours_with_snapshots: int = 0
    # (strategy, hour) → (top_k, optimal); hour → strategy → reason
    results: dict[tuple[str, datetime], tuple[StrategyResult, StrategyResult]] = field(default_factory=dict)
    unavailable: dict[datetime, dict[str, str]] = field(default_factory=dict)

    def latest(self, strategy: str) -> tuple[StrategyResult, StrategyResult] | None:
        hours = [h for (s, h) in self.results if s == strategy]
        return self.results[(strategy, max(hours))] if hours else None


def compute_profitability(
    pool: ConnectionPool,
    watchlist: Watchlist,
    start: datetime,
    end: datetime,
    log: Callable[[str], None] = lambda _: None,
) -> ProfitabilityReport:
    """Evaluate every strategy for every hour of [start, end) that has snapshots; replace that window."""
    if not start < end:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    report = ProfitabilityReport(start=start, end=end)
    game, league, paid_with = watchlist.game, watchlist.league, watchlist.paid_with
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT observed_hour, item_id, robust_min_price, book::text, simulated FROM warehouse.price_snapshots "
            "WHERE game = %s AND league = %s AND paid_with = %s AND observed_hour >= %s AND observed_hour < %s "
            "AND item_id = ANY(%s) ORDER BY observed_hour",
            (game, league, paid_with, start, end, sorted(depth_needed(watchlist.strategies))),
        ).fetchall()
    books = books_by_hour((hour, item, price, book) for hour, item, price, book, _ in rows)
    simulated_hours = {hour for hour, *_, simulated in rows if simulated}
    report.hours_with_snapshots = len(books)

    out: list[tuple] = []
    for evaluation in evaluate_window(watchlist.strategies, books):
        hour = evaluation.hour
        if evaluation.results is None:
            report.unavailable.setdefault(hour, {})[evaluation.strategy] = evaluation.unavailable_reason
            continue
        report.results[(evaluation.strategy, hour)] = evaluation.results
        for r in evaluation.results:
            out.append((game, league, paid_with, r.strategy, r.policy, hour, r.input_item_id, r.input_unit_cost,
                        r.quantity, r.reroll_cost, r.expected_rerolls, r.expected_sale_value,
                        r.expected_profit_per_unit, r.expected_profit_total, r.roi, r.break_even_reroll_cost,
                        list(r.stop_set), hour in simulated_hours))

    with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        report.deleted = cur.execute(
            "DELETE FROM warehouse.reroll_profitability WHERE game = %s AND league = %s AND paid_with = %s "
            "AND observed_hour >= %s AND observed_hour < %s",
            (game, league, paid_with, start, end),
        ).rowcount
        with cur.copy(f"COPY warehouse.reroll_profitability ({_COLUMNS}) FROM STDIN") as copy:
            for row in out:
                copy.write_row(row)
    report.rows = len(out)
    gaps = sum(len(v) for v in report.unavailable.values())
    log(f"reroll profitability {partition_key(start)}…{partition_key(end)}: {report.rows} rows written, "
        f"{report.deleted} replaced, {gaps} strategy-hours unavailable")
    return report
