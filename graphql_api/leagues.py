"""A requested league that has no data is NOT_FOUND, naming the stored leagues and the closest spelling.

The stored leagues (order books and Currency Exchange prices) are read with loose index scans
(one probe per league, not a scan of the history) and kept for a minute per process. The
watchlist's own league is never refused: a fresh install has no data yet and answers empty.

The trade site's current leagues (`LiveLeagues`, `GET /api/trade[2]/data/leagues`) are kept
for a few minutes per process; when the site cannot be reached the answer is None (the
`leagues` field then still lists the stored ones) and the next attempt waits half a minute,
so an unreachable site does not slow every request down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from graphql_api.context import ApiContext
from graphql_api.db import fetch_all
from graphql_api.errors import did_you_mean, not_found
from graphql_api.inputs import league_name
from tradewatch.bulk_exchange.client import TradeApiError, list_leagues
from tradewatch.bulk_exchange.leagues import closest

log = logging.getLogger("graphql_api")

CACHE_SECONDS = 60.0

# a loose index scan: the next league after the previous one, by the primary key's prefix
STORED_SQL = """
WITH RECURSIVE book(league) AS (
    (SELECT league FROM warehouse.price_snapshots WHERE game = %(game)s ORDER BY league LIMIT 1)
    UNION ALL
    SELECT (SELECT s.league FROM warehouse.price_snapshots s WHERE s.game = %(game)s AND s.league > book.league
            ORDER BY s.league LIMIT 1) FROM book WHERE book.league IS NOT NULL),
cx(league) AS (
    (SELECT league FROM warehouse.exchange_prices WHERE realm = %(realm)s ORDER BY league LIMIT 1)
    UNION ALL
    SELECT (SELECT p.league FROM warehouse.exchange_prices p WHERE p.realm = %(realm)s AND p.league > cx.league
            ORDER BY p.league LIMIT 1) FROM cx WHERE cx.league IS NOT NULL)
SELECT league FROM book WHERE league IS NOT NULL UNION SELECT league FROM cx WHERE league IS NOT NULL
ORDER BY 1
"""

_cache: dict[tuple[int, str], tuple[float, list[str]]] = {}


async def stored_leagues(ctx: ApiContext, realm: str | None = None) -> list[str]:
    """Every league with book or exchange data (for the watchlist's game, or the game and exchange
    data of `realm`), cached for a minute."""
    from tradewatch.currency_exchange.catalogue import game_of_realm
    from tradewatch.market.currency import REALM_OF_GAME

    realm = realm or REALM_OF_GAME.get(ctx.watchlist.game, "pc")
    game = ctx.watchlist.game if realm == REALM_OF_GAME.get(ctx.watchlist.game) else game_of_realm(realm)
    key = (id(ctx.pool), game, realm)
    hit = _cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    rows = await fetch_all(ctx.pool, STORED_SQL, {"game": game, "realm": realm}, rows_as_dicts=False)
    leagues = [r[0] for r in rows]
    _cache[key] = (time.monotonic(), leagues)
    return leagues


async def checked_league(ctx: ApiContext, league: str | None, realm: str | None = None) -> str:
    """The league to read (default: the watchlist's); NOT_FOUND when another one has no stored data
    (of the watchlist's game, or of `realm` when a field reads another realm's exchange)."""
    name = league_name(league, ctx.watchlist.league)
    if name == ctx.watchlist.league:
        return name
    stored = await stored_leagues(ctx, realm)
    if name in stored:
        return name
    # the watchlist's league counts too: on a fresh install nothing is stored yet
    hint = did_you_mean(name, list(dict.fromkeys([*stored, ctx.watchlist.league])))
    raise not_found("league", f"no data is stored for league {name[:100]!r}{hint}; stored leagues: "
                              f"{', '.join(stored) if stored else 'none yet'}")


SPANS_SQL = """
SELECT 'book' AS source, l.league, (SELECT min(observed_hour) FROM warehouse.price_snapshots s
                                     WHERE s.game = %(game)s AND s.league = l.league) AS first_hour,
       (SELECT max(observed_hour) FROM warehouse.price_snapshots s
         WHERE s.game = %(game)s AND s.league = l.league) AS last_hour
FROM unnest(%(book)s::text[]) AS l(league)
UNION ALL
SELECT 'exchange', l.league, (SELECT min(observed_hour) FROM warehouse.exchange_prices p
                               WHERE p.realm = %(realm)s AND p.league = l.league),
       (SELECT max(observed_hour) FROM warehouse.exchange_prices p WHERE p.realm = %(realm)s AND p.league = l.league)
FROM unnest(%(exchange)s::text[]) AS l(league)
ORDER BY 1, 2
"""


async def league_spans(ctx: ApiContext) -> list[dict]:
    """Per source and stored league: the first and last stored hour."""
    from tradewatch.market.currency import REALM_OF_GAME

    realm = REALM_OF_GAME.get(ctx.watchlist.game, "pc")
    params = {"game": ctx.watchlist.game, "realm": realm}
    per_source = await fetch_all(ctx.pool, STORED_SQL.replace(
        "SELECT league FROM book WHERE league IS NOT NULL UNION SELECT league FROM cx WHERE league IS NOT NULL",
        "SELECT 'book', league FROM book WHERE league IS NOT NULL "
        "UNION ALL SELECT 'exchange', league FROM cx WHERE league IS NOT NULL"), params, rows_as_dicts=False)
    return await fetch_all(ctx.pool, SPANS_SQL, {
        **params, "book": [league for source, league in per_source if source == "book"],
        "exchange": [league for source, league in per_source if source == "exchange"]})


LIVE_CACHE_SECONDS = 300.0   # the trade site's list changes when a league starts or ends
LIVE_RETRY_SECONDS = 30.0    # after a failure
LIVE_TIMEOUT_SECONDS = 5.0


class LiveLeagues:
    """The trade site's current leagues for one game, cached; `get()` is None while they cannot be read."""

    def __init__(self, base_url: str, game: str, user_agent: str, *, poesessid: str | None = None,
                 cf_clearance: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = lambda: list_leagues(base_url, game, user_agent, poesessid=poesessid,
                                           cf_clearance=cf_clearance, timeout=LIVE_TIMEOUT_SECONDS)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._read_at: float | None = None
        self._names: list[str] | None = None

    def _fresh(self) -> bool:
        ttl = LIVE_CACHE_SECONDS if self._names is not None else LIVE_RETRY_SECONDS
        return self._read_at is not None and self._clock() - self._read_at < ttl

    async def get(self) -> list[str] | None:
        if self._fresh():
            return self._names
        async with self._lock:  # one request at a time, the others wait for its answer
            if not self._fresh():
                try:
                    self._names = await asyncio.to_thread(self._fetch)
                except TradeApiError as exc:
                    log.warning("leagues: %s; answering the stored leagues only", exc)
                    self._names = None
                self._read_at = self._clock()
        return self._names
