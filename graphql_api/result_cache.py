"""What-if results kept in memory: one `evaluation.HourRecord` per (strategy parameters, market,
hour), kept as the worker handed it back (a plain tuple: no copy, nothing for the garbage
collector to walk).

Only hours that can no longer change are kept: the hour's fetch window has closed and a later
hour is stored (the rule of `caching.CachePolicy` for HTTP caching), and the hour had snapshots
(an hour whose snapshots are not computed yet is not answered from memory). The cache holds at
most `limits.RESULT_CACHE_HOURS` hours, least recently used dropped first. It lives in the API
process and is used from the event loop only, so it needs no lock.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime, timedelta
from typing import Hashable, Iterable

from graphql_api import limits
from graphql_api.evaluation import HourRecord
from tradewatch.hours import HOUR, utc_now
from tradewatch.market.strategy import StrategySpec
from tradewatch.market.strategy_window import NO_SNAPSHOTS


def spec_key(spec: StrategySpec, game: str, league: str, paid_with: str) -> Hashable:
    """Everything an hour's result depends on besides the hour."""
    weights = tuple(sorted(spec.weights.items())) if spec.weights else None
    return (game, league, paid_with, spec.name, spec.family, spec.reroll_cost_item, spec.reroll_cost_amount,
            spec.units_per_reroll, spec.buy_quantity, spec.top_k, weights)


def settled(hour: datetime, grace: timedelta, newest_stored: datetime | None, now: datetime | None = None) -> bool:
    """An hour whose stored market can no longer change (see the module docstring)."""
    return newest_stored is not None and hour < newest_stored and hour + HOUR <= (now or utc_now()) - grace


class ResultCache:
    def __init__(self, max_hours: int = limits.RESULT_CACHE_HOURS) -> None:
        self.max_hours = max_hours
        self._entries: OrderedDict[tuple, HourRecord] = OrderedDict()
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, key: Hashable, hours: Iterable[datetime]) -> dict[datetime, HourRecord]:
        found = {}
        hours = list(hours)
        for hour in hours:
            entry = self._entries.get((key, hour))
            if entry is not None:
                self._entries.move_to_end((key, hour))
                found[hour] = entry
        self.hits += len(found)
        self.misses += len(hours) - len(found)
        return found

    def put_many(self, key: Hashable, records: Iterable[HourRecord]) -> None:
        entries = self._entries
        for record in records:
            if record[3] == NO_SNAPSHOTS:
                continue
            entries[(key, record[0])] = record
            entries.move_to_end((key, record[0]))
        while len(self._entries) > self.max_hours:
            self._entries.popitem(last=False)
