"""Reroll-strategy profitability (gold) computed from price snapshots (silver).

For every hour of a window and every strategy of the watchlist, `compute_profitability`
evaluates the strategy on that hour's market (`tradewatch.market.strategy.evaluate_strategy`:
sale price = the robust minimum price, books rebuilt from the stored `book` ladders)
under both selling policies, top-K and optimal stopping, and replaces the window of
`warehouse.reroll_profitability` in one transaction. An hour in which a strategy cannot
be priced (no member can be bought, the reroll item has no price) gets no row for that
strategy; the report says which and why.

Hours of the window without any stored book but with Currency Exchange trades of the
league (`warehouse.exchange_prices`, quoted in the watchlist's currency) are priced from the
executed vwaps instead (`strategy_window.exchange_books`); each row records its
`price_source`, `book` or `exchange`. A book, where there is one, always wins: it has depth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psycopg_pool import ConnectionPool

from tradewatch.hours import partition_key
from tradewatch.market.currency import CURRENCIES, REALM_OF_GAME
from tradewatch.market.strategy import StrategyResult
from tradewatch.market.strategy_window import books_by_hour, depth_needed, evaluate_window, exchange_books
from tradewatch.watchlist import Watchlist

__all__ = ["ProfitabilityReport", "compute_profitability"]

CHUNK = timedelta(days=7)  # hours evaluated at a time (memory stays flat over a year)
_COLUMNS = (
    "game, league, paid_with, strategy, policy, observed_hour, input_item_id, input_unit_cost, quantity, "
    "reroll_cost, expected_rerolls, expected_sale_value, expected_profit_per_unit, expected_profit_total, roi, "
    "break_even_reroll_cost, stop_set, simulated, price_source"
)

# Executed vwaps of the needed items in the hours of the window that have no book; an item
# mapped from two metadata paths keeps the one with more volume.
_EXCHANGE_SQL = """
SELECT DISTINCT ON (p.observed_hour, x.item_id) p.observed_hour, x.item_id, p.vwap_price,
       coalesce(r.simulated, false) AS simulated
FROM warehouse.exchange_prices p
JOIN warehouse.exchange_items x ON x.item_key = p.item_key
LEFT JOIN warehouse.raw_currency_exchange r ON r.realm = p.realm AND r.observed_hour = p.observed_hour
WHERE p.realm = %(realm)s AND p.league = %(league)s AND p.quote_currency = %(currency)s
  AND p.observed_hour >= %(start)s AND p.observed_hour < %(end)s AND x.item_id = ANY(%(items)s)
  AND p.vwap_price IS NOT NULL AND NOT p.observed_hour = ANY(%(book_hours)s)
ORDER BY p.observed_hour, x.item_id, p.volume DESC
"""


@dataclass
class ProfitabilityReport:
    """The outcome of one `compute_profitability` call over [start, end)."""

    start: datetime
    end: datetime
    rows: int = 0
    deleted: int = 0
    hours_with_snapshots: int = 0
    hours_from_exchange: int = 0  # hours without a book, priced from executed vwaps
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
    """Evaluate every strategy for every hour of [start, end) that has snapshots, or else executed
    prices; replace that window."""
    if not start < end:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    report = ProfitabilityReport(start=start, end=end)
    game, league, paid_with = watchlist.game, watchlist.league, watchlist.paid_with
    with pool.connection() as reader, pool.connection() as writer, writer.transaction(), writer.cursor() as cur:
        report.deleted = cur.execute(
            "DELETE FROM warehouse.reroll_profitability WHERE game = %s AND league = %s AND paid_with = %s "
            "AND observed_hour >= %s AND observed_hour < %s",
            (game, league, paid_with, start, end),
        ).rowcount
        with cur.copy(f"COPY warehouse.reroll_profitability ({_COLUMNS}) FROM STDIN") as copy:
            # a chunk of hours at a time: a year's books would take half a GB at once; one transaction
            # still replaces the whole window
            chunk_start = start
            while chunk_start < end:
                chunk_end = min(end, chunk_start + CHUNK)
                for row in _chunk_rows(reader, watchlist, chunk_start, chunk_end, report):
                    copy.write_row(row)
                chunk_start = chunk_end
    gaps = sum(len(v) for v in report.unavailable.values())
    log(f"reroll profitability {partition_key(start)}…{partition_key(end)}: {report.rows} rows written "
        f"({report.hours_with_snapshots} hours from books, {report.hours_from_exchange} from executed prices), "
        f"{report.deleted} replaced, {gaps} strategy-hours unavailable")
    return report


def _chunk_rows(conn, watchlist: Watchlist, start: datetime, end: datetime,
                report: ProfitabilityReport) -> list[tuple]:
    """The rows of the hours [start, end), noted in `report` as they are made."""
    game, league, paid_with = watchlist.game, watchlist.league, watchlist.paid_with
    needed = depth_needed(watchlist.strategies)
    rows = conn.execute(
        "SELECT observed_hour, item_id, robust_min_price, book::text, simulated FROM warehouse.price_snapshots "
        "WHERE game = %s AND league = %s AND paid_with = %s AND observed_hour >= %s AND observed_hour < %s "
        "AND item_id = ANY(%s) ORDER BY observed_hour",
        (game, league, paid_with, start, end, sorted(needed)),
    ).fetchall()
    books = books_by_hour((hour, item, price, book) for hour, item, price, book, _ in rows)
    simulated_hours = {hour for hour, *_, simulated in rows if simulated}
    del rows
    # executed prices are quoted in chaos or divine only
    executed = _exchange_rows(conn, watchlist, sorted(needed), start, end, sorted(books)) \
        if paid_with in CURRENCIES else []
    report.hours_with_snapshots += len(books)
    from_exchange = exchange_books(((hour, item, price) for hour, item, price, _ in executed), needed)
    simulated_hours |= {hour for hour, *_, simulated in executed if simulated}
    report.hours_from_exchange += len(from_exchange)

    out: list[tuple] = []
    for evaluation in evaluate_window(watchlist.strategies, {**books, **from_exchange}):
        hour = evaluation.hour
        if evaluation.results is None:
            report.unavailable.setdefault(hour, {})[evaluation.strategy] = evaluation.unavailable_reason
            continue
        report.results[(evaluation.strategy, hour)] = evaluation.results
        for r in evaluation.results:
            out.append((game, league, paid_with, r.strategy, r.policy, hour, r.input_item_id, r.input_unit_cost,
                        r.quantity, r.reroll_cost, r.expected_rerolls, r.expected_sale_value,
                        r.expected_profit_per_unit, r.expected_profit_total, r.roi, r.break_even_reroll_cost,
                        list(r.stop_set), hour in simulated_hours, "exchange" if hour in from_exchange else "book"))
    report.rows += len(out)
    return out


def _exchange_rows(conn, watchlist: Watchlist, items: list[str], start: datetime, end: datetime,
                   book_hours: list[datetime]) -> list[tuple]:
    """`(hour, item, vwap, simulated)` of the watchlist's league, quoted in its currency, outside `book_hours`."""
    return conn.execute(_EXCHANGE_SQL, {
        "realm": REALM_OF_GAME.get(watchlist.game, "pc"), "league": watchlist.league,
        "currency": watchlist.paid_with, "start": start, "end": end,
        "items": items, "book_hours": book_hours,
    }).fetchall()
