"""`market`, `marketItem` and `categories`: the whole Currency Exchange market, like poe.ninja's overview.

Every answer reads what the Dagster assets keep (see tradewatch/warehouse/market_rollups.py):
`market` the league's packed hourly rows (`warehouse.market_hours`) for the hour
`warehouse.market_state` publishes, turned into the overview in memory once per hour
(graphql_api/market_listing.py); `marketItem` the per-market totals (`warehouse.market_pairs`)
plus the item's exchange prices after them (one to eight days), and the item's 24 packed hours in each
league. No raw document is read. The figures' definitions (windows W0 … W7, price, change,
confidence) are those of tradewatch/market_overview/windows.py.

Paging is keyset, as the other paged fields: the rows are ordered by (no value, the sort
value, lower-case name, item key) and a cursor holds that tuple of the page's last row.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from graphql_api.context import ApiContext
from graphql_api.db import fetch_all
from graphql_api.errors import bad_input, did_you_mean, not_found
from graphql_api.market_listing import Listing, listing_cache, number
from graphql_api.inputs import decode_cursor, encode_cursor, is_clean_text, league_name
from graphql_api.types import Currency, PageInfo
from tradewatch.currency_exchange.catalogue import UnknownItem, game_of_realm, resolve_item
from tradewatch.market_overview.windows import MIN_HOURS, MIN_UNITS, SPARKLINE, WindowSums, low_confidence
from tradewatch.warehouse.market_rollups import pairs_now_sql

LOW_CONFIDENCE_RULE = (f"true when the item traded in fewer than {MIN_HOURS} of the 24 hours of W0, in fewer than "
                       f"{MIN_UNITS:g} units over W0, or has no price in W0")


@strawberry.enum(description="A Currency Exchange realm (PC is PoE 1 on PC; POE2 is Path of Exile 2).")
class Realm(Enum):
    PC = "pc"
    POE2 = "poe2"
    XBOX = "xbox"
    SONY = "sony"


@strawberry.enum(description="The order of `market` rows; ties go by name. Rows without the value sort last.")
class MarketOrder(Enum):
    VALUE_DESC = "value24h desc"
    VOLUME_DESC = "volume24h desc"
    PRICE_DESC = "price desc"
    PRICE_ASC = "price asc"
    CHANGE_24H_DESC = "change24h desc"
    CHANGE_24H_ASC = "change24h asc"
    NAME_ASC = "name asc"


@strawberry.type(description="An item of the Currency Exchange, from the catalogue built from public game data.")
class ExchangeItem:
    id: strawberry.ID = strawberry.field(description="The trade-site id where the item has one, else its metadata path.")
    name: str = strawberry.field(description="The display name; for a path the catalogue lacks, one derived from "
                                             "the path (`named` false).")
    category: str | None
    metadata_path: str = strawberry.field(description="The game's metadata path, as the feed names the item.")
    trade_id: str | None = strawberry.field(description="The trade site's id (bulk exchange), when it has one.")
    named: bool = strawberry.field(description="False when the name is derived from the path.")
    gold_fee: float | None = strawberry.field(description="The gold the game charges per unit exchanged, where known.")
    image: str | None = strawberry.field(description="The trade site's image path (relative to its CDN).")


@strawberry.type(description="An item's row of the market overview in one league. Windows: W0 is the 24 hours "
                             "ending with the page's `hour`, W1 the 24 before, … W7.")
class MarketRow:
    item: ExchangeItem
    price: float | None = strawberry.field(description=(
        "Σ value / Σ units over W0 across the item's markets against chaos and divine, in `currency`; each "
        "market's quote volume converted with its league-hour's divine price in chaos (a market in an hour "
        "without that rate is left out)."))
    change24h: float | None = strawberry.field(description="price(W0) / price(W1) − 1; null when either is.")
    change7d: float | None = strawberry.field(description="price(W0) / price(W7) − 1; null when either is.")
    volume24h: float = strawberry.field(description="Units of the item traded in W0 (every market).")
    value24h: float | None = strawberry.field(description="Σ value over W0 in `currency`, counted as for price.")
    low_confidence: bool = strawberry.field(description=LOW_CONFIDENCE_RULE + ".")
    sparkline: list[float | None] = strawberry.field(description="[price(W6), …, price(W0)]: seven values, null "
                                                                 "where none; the last is `price`.")


@strawberry.type(description="A page of the market overview.")
class MarketPage:
    nodes: list[MarketRow]
    page_info: PageInfo
    total_count: int = strawberry.field(description="Rows matching the filters, over every page.")
    hour: datetime | None = strawberry.field(description="The newest stored hour of the realm (the end of W0); "
                                                         "null when nothing is stored yet.")


@strawberry.type(description="An item in one league: when it traded there and its price at the end.")
class MarketItemLeague:
    league: str
    first_hour: datetime = strawberry.field(description="The first hour it traded in the league.")
    last_hour: datetime = strawberry.field(description="The last hour it traded in the league.")
    price: float | None = strawberry.field(description="Σ value / Σ units in chaos over the 24 hours ending with "
                                                       "`lastHour` (as `market`'s price).")
    price_divine: float | None = strawberry.field(description="The same in divine.")
    volume: float = strawberry.field(description="Units traded over those 24 hours.")
    low_confidence: bool = strawberry.field(description="The market's rule over those 24 hours.")
    volume_total: float = strawberry.field(description="Units traded in the league over its whole history.")


@strawberry.type(description="A market (pair) the item trades in: the item against chaos or divine in a league.")
class ExchangeMarket:
    league: str
    quote_currency: str = strawberry.field(description="`chaos` or `divine`.")
    hours: int = strawberry.field(description="Stored hours of the market.")
    volume: float = strawberry.field(description="Item units traded over them.")
    quote_volume: float = strawberry.field(description="Quote units paid for them.")
    first_hour: datetime
    last_hour: datetime


@strawberry.type(description="An item's page: its catalogue entry, the leagues it traded in, its markets.")
class MarketItem:
    item: ExchangeItem
    realm: Realm
    leagues: list[MarketItemLeague] = strawberry.field(description="Newest league first.")
    markets: list[ExchangeMarket]


_ITEM_COLUMNS = ("c.id, c.name, c.category, c.item_path, c.trade_id, c.named, c.gold_fee, c.image")


def exchange_item(r: dict) -> ExchangeItem:
    return ExchangeItem(id=strawberry.ID(r["id"]), name=r["name"], category=r["category"],
                        metadata_path=r["item_path"], trade_id=r["trade_id"], named=r["named"],
                        gold_fee=r["gold_fee"], image=r["image"])


def _cursor(order: MarketOrder, unit: str, key: tuple) -> str:
    """The cursor of a row whose sort key is `key` (no value, sort value, lower-case name, item key)."""
    s_null, s_key, s_name, item_key = key
    return encode_cursor(order.name, unit, "1" if s_null else "0", repr(float(s_key)), s_name, str(item_key))


def _after(after: str | None, order: MarketOrder, unit: str) -> tuple | None:
    key = decode_cursor(after, (str,) * 6)
    if key is None:
        return None
    if key[:2] != (order.name, unit):
        raise bad_input("after", "belongs to another `orderBy` or `currency`; start again without `after`")
    try:
        return key[2] == "1", float(key[3]), key[4], int(key[5])
    except ValueError:
        raise bad_input("after", "is not a cursor this field returned; pass `pageInfo.endCursor` of the previous "
                                 "page unchanged") from None


def _text_filter(value: str | None, argument: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if len(value) > 100 or not is_clean_text(value):
        raise bad_input(argument, "must be at most 100 printable characters")
    return value or None


def _row(listing: Listing, i: int, unit: str) -> MarketRow:
    o, figures = listing.overview, listing.overview.unit(unit)
    return MarketRow(item=exchange_item(listing.items[i]), price=number(figures.price[i]),
                     change24h=number(figures.change24h[i]), change7d=number(figures.change7d[i]),
                     volume24h=float(o.volume24h[i]), value24h=number(figures.value24h[i]),
                     low_confidence=bool(o.low_confidence[i]), sparkline=[number(x) for x in figures.sparkline[i]])


async def market(ctx: ApiContext, realm: Realm, league: str | None, category: str | None, search: str | None,
                 order: MarketOrder, currency: Currency, first: int, after: str | None) -> MarketPage:
    """A page of the overview, from the league's listing (graphql_api.market_listing): computed from the packed
    hourly rows on the first read of an hour, then kept in memory until the hour changes."""
    unit = currency.value
    name = league_name(league, ctx.watchlist.league)
    category, search = _text_filter(category, "category"), _text_filter(search, "search")
    cursor = _after(after, order, unit)
    column, direction = order.value.split()
    ctx.cache.read_live()  # follows the newest hour
    listing = await listing_cache(ctx.pool).get(realm.value, game_of_realm(realm.value), name)
    if listing is None:  # nothing published yet
        return MarketPage(nodes=[], page_info=PageInfo(has_next_page=False, end_cursor=None), total_count=0,
                          hour=None)
    total, page = listing.page(column, direction == "desc", unit, category, search, cursor, first + 1)
    if total == 0:
        await _empty(ctx, realm, name, category, search, cursor, listing.hour)
    more = len(page) > first
    page = page[:first]
    nodes = [_row(listing, i, unit) for _, i in page]
    end_cursor = _cursor(order, unit, page[-1][0]) if page else None
    return MarketPage(nodes=nodes, page_info=PageInfo(has_next_page=more, end_cursor=end_cursor), total_count=total,
                      hour=listing.hour)


async def _empty(ctx: ApiContext, realm: Realm, league: str, category: str | None, search: str | None,
                 cursor: tuple | None, hour: datetime | None) -> None:
    """An empty unfiltered first page: NOT_FOUND when the league is not one with trades."""
    if category is None and search is None and cursor is None and hour is not None:
        await _check_league(ctx, realm, league, hour)


async def _check_league(ctx: ApiContext, realm: Realm, league: str, hour: datetime) -> None:
    """NOT_FOUND for a league in which nothing traded within W0 … W6 (naming those that did)."""
    rows = await fetch_all(ctx.pool, TRADED_LEAGUES_SQL, {"realm": realm.value, "hour": hour}, rows_as_dicts=False)
    leagues = [r[0] for r in rows]
    if leagues and league not in leagues:
        raise not_found("league", f"nothing traded in league {league[:100]!r} of realm {realm.name} within the "
                                  f"7 days to the newest hour{did_you_mean(league, leagues)}; leagues with trades: "
                                  f"{', '.join(leagues[:20])}")


# the leagues with trades within W0 … W6 (the packed rollup's primary key: realm, hour, league)
TRADED_LEAGUES_SQL = f"""
SELECT DISTINCT league FROM warehouse.market_hours
WHERE realm = %(realm)s AND observed_hour > %(hour)s::timestamptz - interval '{24 * SPARKLINE} hours'
  AND observed_hour <= %(hour)s
ORDER BY 1
"""

CATEGORIES_SQL = """
SELECT category FROM warehouse.exchange_catalogue WHERE game = warehouse.realm_game(%(realm)s) AND category IS NOT NULL
GROUP BY category ORDER BY category
"""


async def categories(ctx: ApiContext, realm: Realm) -> list[str]:
    rows = await fetch_all(ctx.pool, CATEGORIES_SQL, {"realm": realm.value}, rows_as_dicts=False)
    return [r[0] for r in rows]


# An item's catalogue entry (by id, path or name, in that order of preference)
ITEM_SQL = f"""
SELECT {_ITEM_COLUMNS}, c.item_key FROM warehouse.exchange_catalogue c
WHERE c.game = warehouse.realm_game(%(realm)s)
  AND (c.id = %(id)s OR c.item_path = %(id)s OR lower(c.name) = lower(%(id)s))
ORDER BY (c.id = %(id)s) DESC, (c.item_path = %(id)s) DESC, c.named DESC LIMIT 1
"""

# The whole page in one statement: the item, its markets (pairs_now_sql: the kept totals and its last days of
# rows), each league it traded in, and the 24 hours ending with its last traded hour there from the hourly rollup
# (at most 24 packed rows a league, the item found in each by its key). One row per market, the item's entry and
# its league's figures on each; one row with the entry alone when it has no market.
ITEM_PAGE_SQL = f"""
WITH c AS MATERIALIZED ({ITEM_SQL.strip()}),
{pairs_now_sql("(SELECT item_key FROM c)")},
l AS (
    SELECT league, min(traded_first) AS first_hour, max(traded_last) AS last_hour, sum(volume)::float8 AS volume_total
    FROM pairs GROUP BY league HAVING max(traded_last) IS NOT NULL),
w AS (
    SELECT l.*, w.*
    FROM l CROSS JOIN LATERAL (
        SELECT coalesce(sum(h.volume[x.i]), 0) AS w_volume, count(*) AS w_hours,
               coalesce(sum(h.chaos_units[x.i]), 0) AS w_chaos_units,
               coalesce(sum(h.chaos_value[x.i]), 0) AS w_chaos_value,
               coalesce(sum(h.divine_units[x.i]), 0) AS w_divine_units,
               coalesce(sum(h.divine_value[x.i]), 0) AS w_divine_value
        FROM warehouse.market_hours h
        CROSS JOIN LATERAL (SELECT array_position(h.item_keys, (SELECT item_key FROM c)) AS i) x
        WHERE h.realm = %(realm)s AND h.league = l.league AND x.i IS NOT NULL
          AND h.observed_hour > l.last_hour - interval '24 hours' AND h.observed_hour <= l.last_hour) w)
SELECT c.*, w.*, p.quote_currency, p.hours AS m_hours, p.volume::float8 AS m_volume,
       p.quote_volume::float8 AS m_quote_volume, p.first_hour AS m_first_hour, p.last_hour AS m_last_hour
FROM c LEFT JOIN (w JOIN pairs p USING (league)) ON true
"""


async def market_item(ctx: ApiContext, item_id: str, realm: Realm) -> MarketItem:
    text = item_id.strip()
    if not text or len(text) > 300 or not is_clean_text(text):
        raise bad_input("id", "is not an item id, metadata path or name (1 to 300 printable characters)")
    ctx.cache.read_live()
    rows = await fetch_all(ctx.pool, ITEM_PAGE_SQL, {"realm": realm.value, "id": text})
    if not rows:
        raise not_found("id", _unknown_item(realm, text))
    leagues: dict[str, MarketItemLeague] = {}
    markets = []
    for r in rows:
        if r["league"] is None:  # no market
            continue
        if r["league"] not in leagues:
            sums = WindowSums(r["w_volume"], r["w_hours"], r["w_chaos_units"], r["w_chaos_value"],
                              r["w_divine_units"], r["w_divine_value"])
            price = sums.price("chaos")
            leagues[r["league"]] = MarketItemLeague(
                league=r["league"], first_hour=r["first_hour"], last_hour=r["last_hour"], price=price,
                price_divine=sums.price("divine"), volume=r["w_volume"],
                low_confidence=low_confidence(sums, price if price is not None else sums.price("divine")),
                volume_total=r["volume_total"])
        markets.append(ExchangeMarket(league=r["league"], quote_currency=r["quote_currency"], hours=r["m_hours"],
                                      volume=r["m_volume"], quote_volume=r["m_quote_volume"],
                                      first_hour=r["m_first_hour"], last_hour=r["m_last_hour"]))
    # newest first, as the kept order was: leagues by their last traded hour, markets by their last hour
    ordered = sorted(leagues.values(), key=lambda x: x.league)
    ordered.sort(key=lambda x: x.last_hour, reverse=True)
    markets.sort(key=lambda m: (m.league, m.quote_currency))
    markets.sort(key=lambda m: m.last_hour, reverse=True)
    return MarketItem(item=exchange_item(rows[0]), realm=realm, leagues=ordered, markets=markets)


def _unknown_item(realm: Realm, text: str) -> str:
    """The catalogue's own 'did you mean' message for an unknown item."""
    try:
        resolve_item(game_of_realm(realm.value), text)
    except UnknownItem as exc:
        return str(exc)
    return f"{text[:100]!r} has not traded on the Currency Exchange of realm {realm.name}"
