"""A reroll strategy evaluated over a window of stored hours — the one implementation that
the `reroll_profitability` asset (every watchlist strategy, hours with snapshots) and the
what-if GraphQL field `evaluateStrategy` (the caller's parameters, every hour of a range)
both use.

Input is what the warehouse stores per hour and item: the robust minimum price (the sale
price) and the book as `pricing.ladder` rows; or, for hours without a book, the Currency
Exchange's executed vwap (`exchange_books`: bought and sold at that price). Pure: rows in,
results out, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson

from tradewatch.market.strategy import (ItemQuote, StrategyResult, StrategySpec, StrategyUnavailable,
                                        evaluate_strategy_hours)

__all__ = ["HourEvaluation", "NO_SNAPSHOTS", "books_by_hour", "depth_needed", "evaluate_window", "exchange_books"]

NO_SNAPSHOTS = "no snapshots are stored for this hour"

# hour → item → (robust minimum price, ladder rows as stored: JSON text or already parsed)
HourBooks = Mapping[datetime, Mapping[str, tuple[float | None, object]]]


@dataclass(frozen=True)
class HourEvaluation:
    """One strategy in one hour: both policies' results, or why it could not be priced."""

    strategy: str
    hour: datetime
    results: tuple[StrategyResult, StrategyResult] | None  # (top_k, optimal)
    unavailable_reason: str | None = None


def depth_needed(specs: Iterable[StrategySpec]) -> dict[str, int]:
    """Per item, the most units any of `specs` buys of it (family members and the reroll item)."""
    needed: dict[str, int] = {}
    for s in specs:
        for member in s.family:
            needed[member] = max(needed.get(member, 0), s.buy_quantity)
        reroll_units = math.ceil(s.reroll_cost_amount * math.ceil(s.buy_quantity / s.units_per_reroll))
        needed[s.reroll_cost_item] = max(needed.get(s.reroll_cost_item, 0), reroll_units)
    return needed


def books_by_hour(rows: Iterable[tuple[datetime, str, float | None, object]]) -> dict[datetime, dict[str, tuple]]:
    """`(hour, item, robust_min_price, ladder)` rows grouped by hour."""
    grouped: dict[datetime, dict[str, tuple]] = {}
    for hour, item, price, book in rows:
        grouped.setdefault(hour, {})[item] = (price, book)
    return grouped


def exchange_books(rows: Iterable[tuple[datetime, str, float | None]],
                   needed: Mapping[str, int]) -> dict[datetime, dict[str, tuple]]:
    """`(hour, item, executed vwap)` rows as books: each item sells at its vwap and can be bought
    at it, as many units as a strategy needs (a one-row ladder at the vwap holding `needed`).

    The executed price is all the exchange history says: no depth, no spread. An item without
    a trade that hour (vwap null, or no row) gets no quote, which the strategy core treats
    like a missing book: a member cannot be bought and sells for 0, a reroll item leaves the
    hour unpriced. Items outside `needed` are left out."""
    grouped: dict[datetime, dict[str, tuple]] = {}
    for hour, item, price in rows:
        if price is None or not price > 0 or not math.isfinite(price) or item not in needed:
            continue
        grouped.setdefault(hour, {})[item] = (price, [[price, 1, max(needed[item], 1)]])
    return grouped


def _prefix(rows: Sequence, quantity: int) -> Sequence:
    """The cheapest ladder rows that can deliver `quantity` units.

    The ladder is stored cheapest first, and buying walks it from the cheapest row until
    `quantity` is reached, so the rows after that prefix never change a depth-aware cost
    (the sale price comes from the snapshot's robust minimum, not from the book).
    """
    units = 0
    for index, (_, amount, stock) in enumerate(rows):
        units += (stock // amount) * amount if amount > 0 else 0
        if units >= quantity:
            return rows[: index + 1]
    return rows


def _rows_needed(book: object, quantity: int) -> Sequence:
    """The rows of a stored ladder that pricing may read, parsing as little of its JSON text
    as it can (parsed rows are handed on as they are: pricing reads them only as far as the
    purchase goes).

    A book holds ~100 rows and a strategy needs the first few: the text is cut after
    `rows` rows (each row is a flat array, so each `]` but the last closes one) and
    only that is parsed, with four times as many rows while they do not suffice."""
    if not isinstance(book, (str, bytes)):
        return book  # type: ignore[return-value]
    text = book.decode() if isinstance(book, bytes) else book
    rows, end, last = 4, 0, text.rfind("]")  # `last` closes the whole ladder
    while True:
        for _ in range(rows):
            end = text.find("]", end + 1)
            if end < 0 or end >= last:
                return _prefix(orjson.loads(text), quantity)
        parsed = orjson.loads(text[: end + 1] + "]")
        prefix = _prefix(parsed, quantity)
        if len(prefix) < len(parsed):
            return prefix
        rows *= 4


def _quotes(books: Mapping[str, tuple[float | None, object]], needed: Mapping[str, int]) -> dict[str, ItemQuote]:
    return {item: ItemQuote(item, price, ladder=_rows_needed(book, needed[item]))
            for item, (price, book) in books.items() if item in needed}


# Hours solved together (`evaluate_strategy_hours`): a week amortises numpy's per-call cost,
# and the generator still yields as it goes (the API's worker checks its deadline between hours).
_CHUNK_HOURS = 168


def evaluate_window(specs: Sequence[StrategySpec], books: HourBooks,
                    hours: Iterable[datetime] | None = None) -> Iterator[HourEvaluation]:
    """Every strategy of `specs` in every hour of `hours` (default: the hours of `books`).

    An hour without any book is reported as `NO_SNAPSHOTS`; an hour whose market cannot
    price a strategy carries the core's reason (`StrategyUnavailable`).
    """
    needed = depth_needed(specs)
    wanted = sorted(books) if hours is None else list(hours)
    for first in range(0, len(wanted), _CHUNK_HOURS):
        chunk = wanted[first:first + _CHUNK_HOURS]
        quotes = [_quotes(b, needed) if (b := books.get(hour)) else None for hour in chunk]
        priced = [q for q in quotes if q is not None]
        outcomes = [iter(evaluate_strategy_hours(spec, [
            (q, q.get(spec.reroll_cost_item) or ItemQuote(spec.reroll_cost_item, None)) for q in priced]))
            for spec in specs]
        for hour, hour_quotes in zip(chunk, quotes):
            for spec, spec_outcomes in zip(specs, outcomes):
                if hour_quotes is None:
                    yield HourEvaluation(spec.name, hour, None, NO_SNAPSHOTS)
                    continue
                outcome = next(spec_outcomes)
                if isinstance(outcome, StrategyUnavailable):
                    yield HourEvaluation(spec.name, hour, None, outcome.reason)
                else:
                    yield HourEvaluation(spec.name, hour, outcome)
