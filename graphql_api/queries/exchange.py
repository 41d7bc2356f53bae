"""`exchangePrices`: reads of GGG's Currency Exchange history (warehouse.exchange_prices) beside
the order books, as columns like `priceSeries`; any item of the realm's catalogue, named by its id,
metadata path or display name."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from graphql_api import limits
from graphql_api.caching import with_newest
from graphql_api.context import ApiContext
from graphql_api.db import fetch_all
from graphql_api.errors import bad_input, did_you_mean, not_found, shown
from graphql_api.inputs import TimeRange, is_clean_text
from graphql_api.types import Bucket, FloatColumn, IntColumn, Item, TimeColumn
from tradewatch.bulk_exchange.catalog import item_name
from tradewatch.currency_exchange.catalogue import (
    AmbiguousItem, CatalogueIndex, CatalogueItem, UnknownItem, catalogue_index, game_of_realm)

BUCKET_HOURS = {Bucket.HOUR: 1, Bucket.DAY: 24, Bucket.WEEK: 168}
REALMS = ("pc", "poe2", "xbox", "sony")


@strawberry.enum(description="The currency executed prices are quoted in.")
class ExchangeCurrency(Enum):
    CHAOS = "chaos"
    DIVINE = "divine"


@strawberry.enum(description="How buckets are counted: by calendar date (UTC), or from the league's first hour in the "
                             "feed, to compare leagues at the same league age.")
class ExchangeAlign(Enum):
    DATE = "date"
    LEAGUE_DAY = "league_day"


@strawberry.type(description=(
    "One item's executed prices on the in-game Currency Exchange, in columns: entry i of every column "
    "belongs to bucket time[i]; buckets without any stored hour are left out. Built in PostgreSQL."))
class ExchangePriceSeries:
    item: Item
    currency: ExchangeCurrency
    bucket: Bucket
    points: int = strawberry.field(description="The number of buckets (the length of every column).")
    time: TimeColumn  # type: ignore[valid-type]
    vwap: FloatColumn = strawberry.field(description="Quote volume / item volume over the bucket (null: no trade).")  # type: ignore[valid-type]
    min_price: FloatColumn = strawberry.field(description="Lowest executed price in the bucket.")  # type: ignore[valid-type]
    max_price: FloatColumn = strawberry.field(description="Highest executed price in the bucket.")  # type: ignore[valid-type]
    volume: FloatColumn = strawberry.field(description="Item units traded in the bucket.")  # type: ignore[valid-type]
    quote_volume: FloatColumn = strawberry.field(description="Quote units paid for them.")  # type: ignore[valid-type]
    hours: IntColumn = strawberry.field(description="How many stored hours the bucket holds.")  # type: ignore[valid-type]
    league_start: datetime | None = strawberry.field(default=None, description=(
        "With `alignBy: LEAGUE_DAY`: the league's first hour in the feed, where bucket 0 starts; else null."))
    age: IntColumn | None = strawberry.field(default=None, description=(  # type: ignore[valid-type]
        "With `alignBy: LEAGUE_DAY`: each bucket's number counted from the league's first hour (0 = the first "
        "24 hours for DAY); else null."))


# The item keys first, then each key's hours from the primary key (realm, league, item_key,
# quote_currency, observed_hour): a join would let the planner scan every market of every hour
# of the range through the hour index (~1,500 markets an hour) and throw away all but a few.
# Each item is its catalogue path's key, plus (PoE 1) the keys `warehouse.exchange_items` stores
# under its trade id (rows written for a path under another spelling).
SERIES_SQL = """
WITH w AS (
    SELECT item_id, item_key FROM unnest(%(items)s::text[], %(keys)s::bigint[]) AS w(item_id, item_key)
    UNION
    SELECT x.item_id, x.item_key FROM warehouse.exchange_items x
    WHERE %(legacy)s AND x.item_id = ANY(%(items)s)),
b AS (
    SELECT w.item_id, {bucket} AS t,
           sum(p.quote_volume) / nullif(sum(p.volume) FILTER (WHERE p.vwap_price IS NOT NULL), 0) AS vwap,
           min(p.min_price) AS min_price, max(p.max_price) AS max_price,
           sum(p.volume) AS volume, sum(p.quote_volume) AS quote_volume, count(*) AS hours
    FROM w
    CROSS JOIN LATERAL (
        SELECT * FROM warehouse.exchange_prices p
        WHERE p.realm = %(realm)s AND p.league = %(league)s AND p.item_key = w.item_key
          AND p.quote_currency = %(currency)s AND p.observed_hour >= %(start)s AND p.observed_hour < %(end)s
        OFFSET 0) p  -- OFFSET 0: kept a subquery (a pulled-up join would plan as above)
    GROUP BY w.item_id, t)
SELECT item_id, count(*) AS points,
       json_agg(t ORDER BY t)::text AS time, json_agg(vwap ORDER BY t)::text AS vwap,
       json_agg(min_price ORDER BY t)::text AS min_price, json_agg(max_price ORDER BY t)::text AS max_price,
       json_agg(volume ORDER BY t)::text AS volume, json_agg(quote_volume ORDER BY t)::text AS quote_volume,
       json_agg(hours ORDER BY t)::text AS hours,
       json_agg((extract(epoch FROM t - %(origin)s::timestamptz) / extract(epoch FROM %(stride)s::interval))::bigint
                ORDER BY t)::text AS age
FROM b GROUP BY item_id
"""
DATE_BUCKET = "date_trunc(%(unit)s, p.observed_hour, 'UTC')"
# buckets from the league's first hour: date_bin counts strides from that origin
LEAGUE_BUCKET = "date_bin(%(stride)s::interval, p.observed_hour, %(origin)s::timestamptz)"
STRIDES = {Bucket.HOUR: "1 hour", Bucket.DAY: "1 day", Bucket.WEEK: "7 days"}
LEAGUE_START_SQL = "SELECT first_hour FROM warehouse.market_leagues WHERE realm = %(realm)s AND league = %(league)s"

# Paths first seen in the feed (not in the packaged catalogue) have their rows in the warehouse only.
FIND_SQL = """
SELECT game, item_path AS metadata_path, id, name, category, trade_id, image, gold_fee, named
FROM warehouse.exchange_catalogue
WHERE game = %(game)s AND (id = ANY(%(texts)s) OR item_path = ANY(%(texts)s) OR lower(name) = ANY(%(folded)s))
"""


def exchange_item(item: CatalogueItem, watched: tuple[str, ...]) -> Item:
    """The API's item for a catalogue entry: its catalogue id and name (never a path as a name)."""
    return Item(id=strawberry.ID(item.id), name=item.name, category=item.category, watched=item.id in watched)


async def exchange_items(ctx: ApiContext, game: str, values: list[str] | None) -> list[CatalogueItem]:
    """The catalogue items `values` name (ids, metadata paths or display names), de-duplicated in
    the given order; default: the watched items (those the catalogue lacks keep their id, no rows).
    An unknown item is NOT_FOUND with the closest names, a name several items share BAD_USER_INPUT."""
    index = catalogue_index(game)
    if values is None:
        return [index.by_id.get(i) or CatalogueItem(game=game, metadata_path="", id=i, name=item_name(i))
                for i in ctx.watched]
    found: dict[int, CatalogueItem] = {}
    missing: dict[int, str] = {}
    for position, value in enumerate(values):
        if len(value) > 200 or not is_clean_text(value):
            raise bad_input(f"items[{position}]", "is not an item id, metadata path or name (at most 200 printable "
                                                  "characters)")
        try:
            found[position] = index.resolve(value, hints=False)
        except AmbiguousItem as exc:
            raise bad_input(f"items[{position}]", str(exc)) from None
        except UnknownItem:
            missing[position] = value
    if missing:
        texts = list(missing.values())
        rows = await fetch_all(ctx.pool, FIND_SQL, {"game": game, "texts": texts,
                                                    "folded": [" ".join(t.split()).lower() for t in texts]})
        extra = CatalogueIndex(game, [CatalogueItem(**r) for r in rows])
        for position, value in missing.items():
            try:
                found[position] = extra.resolve(value, hints=False)
            except AmbiguousItem as exc:
                raise bad_input(f"items[{position}]", str(exc)) from None
            except UnknownItem:
                raise not_found(f"items[{position}]", _unknown(value, game, ctx.watched, index)) from None
    out: list[CatalogueItem] = []
    for position in range(len(values)):
        if found[position] not in out:
            out.append(found[position])
    return out


def _unknown(value: str, game: str, watched: tuple[str, ...], index: CatalogueIndex) -> str:
    # a watched id first (what a dashboard most likely meant), in the words every item field uses
    watched_hint = did_you_mean(value, watched)
    if watched_hint:
        return (f"unknown item id {shown(value)}{watched_hint}; the `items` field lists the watched ids, "
                "e.g. deafening-essence-of-greed")
    hints = index.suggestions(value)
    hint = f" (did you mean {' or '.join(repr(h) for h in hints)}?)" if hints else ""
    return (f"unknown item id {shown(value)}{hint}: no {game} catalogue id, metadata path or item name; "
            "`items(search: ..., realm: ...)` finds any exchange item by name")


def checked_realm(realm: str) -> str:
    if realm not in REALMS:
        raise bad_input("realm", f"{realm[:20]!r} is not a realm; use one of {', '.join(REALMS)}")
    return realm


async def exchange_prices(ctx: ApiContext, realm: str, league: str, items: list[CatalogueItem],
                          currency: ExchangeCurrency, span: TimeRange, bucket: Bucket,
                          align: ExchangeAlign = ExchangeAlign.DATE) -> list[ExchangePriceSeries]:
    checked_realm(realm)
    if len(items) > limits.MAX_SERIES_ITEMS:
        raise bad_input("items", f"{len(items)} items are more than {limits.MAX_SERIES_ITEMS}")
    points = (span.end - span.start).total_seconds() / 3600 / BUCKET_HOURS[bucket]
    if points > limits.MAX_SERIES_POINTS + 1:
        raise bad_input("to", f"the range holds about {points:.0f} {bucket.name} buckets per item, more than "
                              f"{limits.MAX_SERIES_POINTS}; use a coarser `bucket` or a shorter range")
    origin = None
    if align is ExchangeAlign.LEAGUE_DAY:
        found = await fetch_all(ctx.pool, LEAGUE_START_SQL, {"realm": realm, "league": league}, rows_as_dicts=False)
        if not found:
            raise not_found("league", f"league {league[:100]!r} has no Currency Exchange history of realm {realm} "
                                      "in the market rollups; materialize exchange_market_hourly for it, or use "
                                      "`alignBy: DATE`")
        origin = found[0][0]
    ctx.cache.read_range(span.end)
    resolved = [i for i in items if i.metadata_path]
    sql = SERIES_SQL.replace("{bucket}", LEAGUE_BUCKET if origin is not None else DATE_BUCKET)
    rows = await fetch_all(ctx.pool, with_newest(sql), {
        "unit": bucket.value, "realm": realm, "league": league, "currency": currency.value,
        "items": [i.id for i in resolved], "keys": [i.item_key for i in resolved],
        "legacy": game_of_realm(realm) == "poe1", "start": span.start, "end": span.end,
        "stride": STRIDES[bucket], "origin": origin or span.start})
    ctx.cache.saw_newest_of(rows)
    by_item = {r["item_id"]: r for r in rows}
    out = []
    for item in items:
        r = by_item.get(item.id) if item.metadata_path else None
        r = r or {"points": 0, "time": "[]", "vwap": "[]", "min_price": "[]", "max_price": "[]",
                                     "volume": "[]", "quote_volume": "[]", "hours": "[]", "age": "[]"}
        out.append(ExchangePriceSeries(
            item=exchange_item(item, ctx.watched), currency=currency, bucket=bucket, points=r["points"],
            time=r["time"], vwap=r["vwap"], min_price=r["min_price"], max_price=r["max_price"], volume=r["volume"],
            quote_volume=r["quote_volume"], hours=r["hours"], league_start=origin,
            age=(r["age"] if r["points"] else "[]") if origin is not None else None))
    return out
