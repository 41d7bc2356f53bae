"""`market`, `marketItem` and `categories`: the whole Currency Exchange market, like poe.ninja's overview.

Every answer is one statement over the rollups the Dagster assets keep
(`warehouse.market_latest`, `warehouse.market_hours`, `warehouse.market_state`, see
tradewatch/warehouse/market_rollups.py) joined to the item catalogue
(`warehouse.exchange_catalogue`): no raw document and no exchange-price hour is aggregated
at query time. The figures' definitions (windows W0 … W7, price, change, confidence) are
those of tradewatch/market_overview/windows.py.

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
from graphql_api.json_rows import JsonRows, RowPlan, page_sql
from graphql_api.inputs import decode_cursor, encode_cursor, is_clean_text, league_name
from graphql_api.types import Currency, PageInfo
from tradewatch.currency_exchange.catalogue import UnknownItem, game_of_realm, resolve_item
from tradewatch.market_overview.windows import MIN_HOURS, MIN_UNITS, WindowSums, low_confidence

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


def _sort(order: MarketOrder, unit: str) -> tuple[str, str]:
    """(the 'no value' flag, the sort key) columns of an order; the key ascends."""
    column, direction = order.value.split()
    if column == "name":
        return "false", "0::float8"
    value = "m.volume24h" if column == "volume24h" else f"m.{unit}_{column}"
    key = f"-{value}" if direction == "desc" else value
    return f"({value} IS NULL)", f"coalesce({key}, 0)"


_CURSOR_KEYS = ("s_null", "s_key", "s_name", "item_key")


def _cursor(order: MarketOrder, unit: str, r: dict, prefix: str = "") -> str:
    """The cursor of the row whose keys are `r`'s `prefix` + _CURSOR_KEYS."""
    s_null, s_key, s_name, item_key = (r[prefix + k] for k in _CURSOR_KEYS)
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


# MarketRow's fields over a page row `p` (json_rows.row_plan)
MARKET_JSON = {
    "item": {"id": "p.id", "name": "p.name", "category": "p.category", "metadataPath": "p.item_path",
             "tradeId": "p.trade_id", "named": "p.named", "goldFee": "p.gold_fee", "image": "p.image"},
    "price": "p.price", "change24h": "p.change24h", "change7d": "p.change7d", "volume24h": "p.volume24h",
    "value24h": "p.value24h", "lowConfidence": "p.low_confidence", "sparkline": "p.sparkline"}

_ORDER = ", ".join(_CURSOR_KEYS)


async def market(ctx: ApiContext, realm: Realm, league: str | None, category: str | None, search: str | None,
                 order: MarketOrder, currency: Currency, first: int, after: str | None,
                 plan: RowPlan | None = None) -> MarketPage:
    """A page of the overview; with `plan` (the selection of `nodes` compiled by json_rows.row_plan) its rows
    come as JSON built by PostgreSQL, unless a value of the page needs the normal path."""
    unit = currency.value
    name = league_name(league, ctx.watchlist.league)
    category, search = _text_filter(category, "category"), _text_filter(search, "search")
    cursor = _after(after, order, unit)
    s_null, s_key = _sort(order, unit)
    params: dict = {"realm": realm.value, "game": game_of_realm(realm.value), "league": name, "n": first + 1}
    item_filters: list[str] = []
    if category is not None:
        item_filters.append("lower(c.category) = lower(%(category)s)")
        params["category"] = category
    if search is not None:
        item_filters.append("strpos(lower(c.name), lower(%(search)s)) > 0")
        params["search"] = search
    page_filter = ""
    if cursor is not None:
        page_filter = f"WHERE ({_ORDER}) > (%(a_null)s, %(a_key)s, %(a_name)s, %(a_item)s)"
        params.update(a_null=cursor[0], a_key=cursor[1], a_name=cursor[2], a_item=cursor[3])
    figures = (f"m.item_key, m.volume24h, m.low_confidence, m.{unit}_price AS price, "
               f"m.{unit}_change24h AS change24h, m.{unit}_change7d AS change7d, m.{unit}_value24h AS value24h, "
               f"m.{unit}_sparkline AS sparkline, {s_null} AS s_null, {s_key} AS s_key")
    league_rows = "FROM warehouse.market_latest m WHERE m.realm = %(realm)s AND m.league = %(league)s"
    if item_filters:
        # the filters are on the catalogue: every row of the league is joined first (the game as a value, not
        # warehouse.realm_game(m.realm): the planner then joins the catalogue by hash)
        rows_sql = f"""
    WITH f AS (
        SELECT {_ITEM_COLUMNS}, {figures}, lower(c.name) AS s_name
        FROM warehouse.market_latest m
        JOIN warehouse.exchange_catalogue c ON c.game = %(game)s AND c.item_key = m.item_key
        WHERE m.realm = %(realm)s AND m.league = %(league)s AND {' AND '.join(item_filters)}),"""
        total = "(SELECT count(*) FROM f)"
    else:
        # The page is among the league's first rows by (no value, sort value) alone, ties included (the name
        # only breaks ties), so only those rows are joined to the catalogue: after a cursor, every row tied
        # with it on those two and the first rows past them. exchange_prices gives every item of the feed its
        # catalogue row before any market row exists, so the league's count needs no join.
        past, tied = "", ""
        if cursor is not None:
            past = f" AND ({s_null}, {s_key}) > (%(a_null)s, %(a_key)s)"
            tied = (f"\n        UNION ALL SELECT {figures} {league_rows} "
                    f"AND ({s_null}, {s_key}) = (%(a_null)s, %(a_key)s)")
        rows_sql = f"""
    WITH t AS (
        (SELECT {figures} {league_rows}{past}
         ORDER BY s_null, s_key FETCH FIRST %(n)s ROWS WITH TIES){tied}),
    f AS (
        SELECT {_ITEM_COLUMNS}, t.*, lower(c.name) AS s_name
        FROM t CROSS JOIN LATERAL (  -- OFFSET 0: a probe of the catalogue's key per row, not a hash of it all
            SELECT * FROM warehouse.exchange_catalogue c WHERE c.game = %(game)s AND c.item_key = t.item_key
            OFFSET 0) c),"""
        total = f"(SELECT count(*) {league_rows})"
    rows_sql += f"""
    page AS (SELECT * FROM f {page_filter} ORDER BY {_ORDER} LIMIT %(n)s)"""
    ctx.cache.read_live()  # follows the newest hour
    hour_sql = "(SELECT hour FROM warehouse.market_state WHERE realm = %(realm)s)"
    if plan is not None:
        sql = rows_sql + "\n" + page_sql(f"SELECT * FROM page ORDER BY {_ORDER}", plan, first, _CURSOR_KEYS,
                                          hour_sql, f", {total} AS total")
        r = (await fetch_all(ctx.pool, sql, params))[0]
        if r["clean"] is not False:  # null: no rows
            if r["total"] == 0:
                await _empty(ctx, realm, name, category, search, cursor, r["tw_newest"])
            end_cursor = _cursor(order, unit, r, "last_") if r["n"] else None
            return MarketPage(nodes=JsonRows(r["nodes"] or "[]", plan.field_nodes),  # type: ignore[arg-type]
                              page_info=PageInfo(has_next_page=r["n"] > first, end_cursor=end_cursor),
                              total_count=r["total"], hour=r["tw_newest"])
        # a value graphql-core reports as an error: the normal path names it with its path
    sql = f"""{rows_sql}
    SELECT {hour_sql} AS market_hour, {total} AS total, page.* FROM (SELECT 1) one LEFT JOIN page ON true ORDER BY {', '.join('page.' + k for k in
                                                                                         _ORDER.split(', '))}
    """
    rows = await fetch_all(ctx.pool, sql, params)
    hour, total = rows[0]["market_hour"], rows[0]["total"]
    rows = [r for r in rows if r["item_key"] is not None]
    if total == 0:
        await _empty(ctx, realm, name, category, search, cursor, hour)
    more = len(rows) > first
    rows = rows[:first]
    nodes = [MarketRow(item=exchange_item(r), price=r["price"], change24h=r["change24h"], change7d=r["change7d"],
                       volume24h=r["volume24h"], value24h=r["value24h"], low_confidence=r["low_confidence"],
                       sparkline=list(r["sparkline"])) for r in rows]
    end_cursor = _cursor(order, unit, rows[-1]) if rows else None
    return MarketPage(nodes=nodes, page_info=PageInfo(has_next_page=more, end_cursor=end_cursor), total_count=total,
                      hour=hour)


async def _empty(ctx: ApiContext, realm: Realm, league: str, category: str | None, search: str | None,
                 cursor: tuple | None, hour: datetime | None) -> None:
    """An empty unfiltered first page: NOT_FOUND when the league is not one with trades."""
    if category is None and search is None and cursor is None and hour is not None:
        await _check_league(ctx, realm, league)


async def _check_league(ctx: ApiContext, realm: Realm, league: str) -> None:
    """NOT_FOUND for a league in which nothing traded within W0 … W6 (naming those that did)."""
    rows = await fetch_all(ctx.pool, "SELECT DISTINCT league FROM warehouse.market_latest WHERE realm = %s "
                                     "ORDER BY 1", (realm.value,), rows_as_dicts=False)
    leagues = [r[0] for r in rows]
    if leagues and league not in leagues:
        raise not_found("league", f"nothing traded in league {league[:100]!r} of realm {realm.name} within the "
                                  f"7 days to the newest hour{did_you_mean(league, leagues)}; leagues with trades: "
                                  f"{', '.join(leagues[:20])}")


CATEGORIES_SQL = """
SELECT category FROM warehouse.exchange_catalogue WHERE game = warehouse.realm_game(%(realm)s) AND category IS NOT NULL
GROUP BY category ORDER BY category
"""


async def categories(ctx: ApiContext, realm: Realm) -> list[str]:
    rows = await fetch_all(ctx.pool, CATEGORIES_SQL, {"realm": realm.value}, rows_as_dicts=False)
    return [r[0] for r in rows]


ITEM_SQL = f"""
SELECT {_ITEM_COLUMNS}, c.item_key FROM warehouse.exchange_catalogue c
WHERE c.game = warehouse.realm_game(%(realm)s)
  AND (c.id = %(id)s OR c.item_path = %(id)s OR lower(c.name) = lower(%(id)s))
ORDER BY (c.id = %(id)s) DESC, (c.item_path = %(id)s) DESC, c.named DESC LIMIT 1
"""

# The item's markets from their kept totals (warehouse.market_pairs, a few rows), each league it traded in,
# then the 24 hours ending with its last traded hour there from the hourly rollup (at most 24 packed rows a
# league, the item found in each by its key).
LEAGUES_SQL = """
WITH l AS (
    SELECT league, min(traded_first) AS first_hour, max(traded_last) AS last_hour, sum(volume)::float8 AS volume_total
    FROM warehouse.market_pairs WHERE realm = %(realm)s AND item_key = %(key)s
    GROUP BY league HAVING max(traded_last) IS NOT NULL)
SELECT l.league, l.first_hour, l.last_hour, l.volume_total, w.*
FROM l CROSS JOIN LATERAL (
    SELECT coalesce(sum(h.volume[x.i]), 0) AS volume, count(*) AS hours,
           coalesce(sum(h.chaos_units[x.i]), 0) AS chaos_units, coalesce(sum(h.chaos_value[x.i]), 0) AS chaos_value,
           coalesce(sum(h.divine_units[x.i]), 0) AS divine_units,
           coalesce(sum(h.divine_value[x.i]), 0) AS divine_value
    FROM warehouse.market_hours h
    CROSS JOIN LATERAL (SELECT array_position(h.item_keys, %(key)s::bigint) AS i) x
    WHERE h.realm = %(realm)s AND h.league = l.league AND x.i IS NOT NULL
      AND h.observed_hour > l.last_hour - interval '24 hours' AND h.observed_hour <= l.last_hour) w
ORDER BY l.last_hour DESC, l.league
"""

MARKETS_SQL = """
SELECT league, quote_currency, hours, volume::float8 AS volume, quote_volume::float8 AS quote_volume, first_hour,
       last_hour
FROM warehouse.market_pairs
WHERE realm = %(realm)s AND item_key = %(key)s AND league = ANY(%(leagues)s::text[])
ORDER BY last_hour DESC, league, quote_currency
"""


async def market_item(ctx: ApiContext, item_id: str, realm: Realm) -> MarketItem:
    text = item_id.strip()
    if not text or len(text) > 300 or not is_clean_text(text):
        raise bad_input("id", "is not an item id, metadata path or name (1 to 300 printable characters)")
    ctx.cache.read_live()
    rows = await fetch_all(ctx.pool, ITEM_SQL, {"realm": realm.value, "id": text})
    if not rows:
        raise not_found("id", _unknown_item(realm, text))
    item = rows[0]
    params = {"realm": realm.value, "key": item["item_key"]}
    leagues = await fetch_all(ctx.pool, LEAGUES_SQL, params)
    markets = await fetch_all(ctx.pool, MARKETS_SQL, {**params, "leagues": [r["league"] for r in leagues]}) \
        if leagues else []
    out = []
    for r in leagues:
        sums = WindowSums(r["volume"], r["hours"], r["chaos_units"], r["chaos_value"], r["divine_units"],
                          r["divine_value"])
        price = sums.price("chaos")
        out.append(MarketItemLeague(league=r["league"], first_hour=r["first_hour"], last_hour=r["last_hour"],
                                    price=price, price_divine=sums.price("divine"), volume=r["volume"],
                                    low_confidence=low_confidence(sums, price if price is not None
                                                                  else sums.price("divine")),
                                    volume_total=r["volume_total"]))
    return MarketItem(item=exchange_item(item), realm=realm, leagues=out,
                      markets=[ExchangeMarket(**m) for m in markets])


def _unknown_item(realm: Realm, text: str) -> str:
    """The catalogue's own 'did you mean' message for an unknown item."""
    try:
        resolve_item(game_of_realm(realm.value), text)
    except UnknownItem as exc:
        return str(exc)
    return f"{text[:100]!r} has not traded on the Currency Exchange of realm {realm.name}"
