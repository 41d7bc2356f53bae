"""The API's copy of each league's market overview: computed on first read of an hour, kept until it changes.

A listing is a league's overview (`tradewatch.market_overview.overview.league_overview` over the
league's 192 packed hourly rows, fetched in PostgreSQL's binary array format) joined to the item
catalogue, with its rows sorted once per order. It is keyed on the realm's
`warehouse.market_state` (the published hour and `computed_at`, which every rewrite of an hour
inside the windows bumps), read by one primary-key lookup per request: a new hour or a rewritten
one gives a new listing, nothing stale is served. Listings live in the API process, per database
pool, at most `MAX_LISTINGS` of them (least recently used dropped); concurrent first reads of the
same league wait for one computation.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from graphql_api.db import fetch_all
from tradewatch.market_overview.overview import LeagueOverview, PackedHour, from_array_send, league_overview
from tradewatch.market_overview.windows import WINDOWS

MAX_LISTINGS = 64

STATE_SQL = "SELECT hour, computed_at FROM warehouse.market_state WHERE realm = %(realm)s"

HOURS_SQL = f"""
SELECT observed_hour, array_send(item_keys) AS item_keys, array_send(volume) AS volume,
       array_send(chaos_units) AS chaos_units, array_send(chaos_value) AS chaos_value,
       array_send(divine_units) AS divine_units, array_send(divine_value) AS divine_value
FROM warehouse.market_hours
WHERE realm = %(realm)s AND league = %(league)s AND observed_hour > %(hour)s::timestamptz - interval '{24 * WINDOWS} hours'
  AND observed_hour <= %(hour)s
"""

CATALOGUE_SQL = """
SELECT c.item_key, c.id, c.name, c.category, c.item_path, c.trade_id, c.named, c.gold_fee, c.image
FROM warehouse.exchange_catalogue c WHERE c.game = %(game)s AND c.item_key = ANY(%(keys)s::bigint[])
"""

def number(x: float) -> float | None:
    """A figure as the API gives it: None for NaN (no value)."""
    return None if math.isnan(x) else float(x)


@dataclass
class Listing:
    """A league's overview and, per row, its catalogue entry; rows without one are not listed."""

    hour: datetime
    overview: LeagueOverview
    rows: list[int]  # positions in the overview of the listed rows
    items: dict[int, dict[str, Any]]  # position -> catalogue row (CATALOGUE_SQL)
    names: dict[int, str]  # position -> lower-case name
    categories: dict[int, str | None]  # position -> lower-case category
    _sorted: dict[tuple[str, str], tuple[list[tuple], list[int]]] = field(default_factory=dict)

    def sorted_rows(self, column: str, descending: bool, unit: str) -> tuple[list[tuple], list[int]]:
        """(sort keys, positions) of every row in the order (no value, sort value, lower-case name, item key),
        the sort value negated for a descending order and 0 where there is none (NAME_ASC: 0 everywhere)."""
        cache_key = (f"{column} {'desc' if descending else 'asc'}", unit)
        found = self._sorted.get(cache_key)
        if found is not None:
            return found
        o = self.overview
        if column == "name":
            values = None
        elif column == "volume24h":
            values = o.volume24h
        else:
            values = getattr(o.unit(unit), column)
        keyed = []
        for i in self.rows:
            if values is None:
                s_null, s_key = False, 0.0
            else:
                v = float(values[i])
                s_null = math.isnan(v)
                s_key = 0.0 if s_null else (-v if descending else v)
            keyed.append(((s_null, s_key, self.names[i], int(o.item_keys[i])), i))
        keyed.sort(key=lambda t: t[0])
        found = ([k for k, _ in keyed], [i for _, i in keyed])
        self._sorted[cache_key] = found
        return found

    def page(self, column: str, descending: bool, unit: str, category: str | None, search: str | None,
             after: tuple | None, n: int) -> tuple[int, list[tuple[tuple, int]]]:
        """(rows matching the filters, the first `n` of them after the cursor `after` as (sort key, position))."""
        keys, positions = self.sorted_rows(column, descending, unit)
        category = category.lower() if category is not None else None
        search = search.lower() if search is not None else None
        if category is None and search is None:
            start = bisect.bisect_right(keys, after) if after is not None else 0
            return len(keys), list(zip(keys[start:start + n], positions[start:start + n]))
        total, page = 0, []
        for key, i in zip(keys, positions):
            if category is not None and self.categories[i] != category:
                continue
            if search is not None and search not in self.names[i]:
                continue
            total += 1
            if len(page) < n and (after is None or key > after):
                page.append((key, i))
        return total, page


class ListingCache:
    """Listings of one database (pool), keyed on (realm, league) and the realm's market state."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self._entries: OrderedDict[tuple[str, str], tuple[tuple, Listing]] = OrderedDict()
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def get(self, realm: str, game: str, league: str) -> Listing | None:
        """The listing of the realm's published hour; None when the realm has none."""
        state = await fetch_all(self.pool, STATE_SQL, {"realm": realm}, rows_as_dicts=False)
        if not state:
            return None
        stamp = tuple(state[0])
        key = (realm, league)
        entry = self._entries.get(key)
        if entry is not None and entry[0] == stamp:
            self._entries.move_to_end(key)
            return entry[1]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == stamp:
                return entry[1]
            listing = await _build(self.pool, realm, game, league, stamp[0])
            self._entries[key] = (stamp, listing)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_LISTINGS:
                dropped, _ = self._entries.popitem(last=False)
                self._locks.pop(dropped, None)
        return listing


async def _build(pool: Any, realm: str, game: str, league: str, hour: datetime) -> Listing:
    rows = await fetch_all(pool, HOURS_SQL, {"realm": realm, "league": league, "hour": hour}, binary=True)
    packed = [PackedHour(r["observed_hour"], *(from_array_send(r[c]) for c in (
        "item_keys", "volume", "chaos_units", "chaos_value", "divine_units", "divine_value"))) for r in rows]
    # ~40 ms of numpy for the largest league: off the event loop
    overview = await asyncio.to_thread(league_overview, hour, packed)
    keys = [int(k) for k in overview.item_keys]
    catalogue = {r["item_key"]: r for r in await fetch_all(pool, CATALOGUE_SQL, {"game": game, "keys": keys})} \
        if keys else {}
    listed, items, names, categories = [], {}, {}, {}
    for i, k in enumerate(keys):
        entry = catalogue.get(k)
        if entry is None:
            continue
        listed.append(i)
        items[i] = entry
        names[i] = entry["name"].lower()
        categories[i] = entry["category"].lower() if entry["category"] is not None else None
    return Listing(hour=hour, overview=overview, rows=listed, items=items, names=names, categories=categories)


_CACHES: weakref.WeakKeyDictionary[Any, ListingCache] = weakref.WeakKeyDictionary()


def listing_cache(pool: Any) -> ListingCache:
    """The listings of the database behind `pool` (one cache per pool: an app, a test's database)."""
    cache = _CACHES.get(pool)
    if cache is None:
        cache = _CACHES[pool] = ListingCache(pool)
    return cache
