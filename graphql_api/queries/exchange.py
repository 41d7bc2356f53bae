"""`exchangePrices` and `leagues`: reads of GGG's Currency Exchange history (analytics of
warehouse.exchange_prices) beside the order books, as columns like `priceSeries`."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry

from graphql_api import limits
from graphql_api.caching import with_newest
from graphql_api.context import ApiContext
from graphql_api.db import fetch_all
from graphql_api.errors import bad_input, not_found
from graphql_api.inputs import TimeRange, item_ids
from graphql_api.types import Bucket, FloatColumn, IntColumn, Item, TimeColumn, item_of

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
SERIES_SQL = """
WITH b AS (
    SELECT CASE WHEN x.item_id = ANY(%(items)s) THEN x.item_id ELSE x.item_path END AS item_id, {bucket} AS t,
           sum(p.quote_volume) / nullif(sum(p.volume) FILTER (WHERE p.vwap_price IS NOT NULL), 0) AS vwap,
           min(p.min_price) AS min_price, max(p.max_price) AS max_price,
           sum(p.volume) AS volume, sum(p.quote_volume) AS quote_volume, count(*) AS hours
    FROM warehouse.exchange_items x
    CROSS JOIN LATERAL (
        SELECT * FROM warehouse.exchange_prices p
        WHERE p.realm = %(realm)s AND p.league = %(league)s AND p.item_key = x.item_key
          AND p.quote_currency = %(currency)s AND p.observed_hour >= %(start)s AND p.observed_hour < %(end)s
        OFFSET 0) p  -- OFFSET 0: kept a subquery (a pulled-up join would plan as above)
    WHERE x.item_id = ANY(%(items)s) OR x.item_path = ANY(%(items)s)  -- a mapped item asked for by its path too
    GROUP BY 1, t)
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

# A GROUP BY over each source's table: fine for months of history; a per-league summary
# table is the next step when the Currency Exchange history grows to years.
def exchange_item_ids(values: list[str], watched, game: str) -> list[str]:
    """Trade ids (checked like everywhere) or, for items the catalogue does not map, metadata paths."""
    trade = [v for v in values if not v.startswith("Metadata/")]
    known = set(item_ids(trade, "items", watched, game)) if trade else set()
    out: list[str] = []
    for index, value in enumerate(values):
        if value.startswith("Metadata/") and (len(value) > 200 or any(ord(c) < 32 for c in value)):
            raise bad_input(f"items[{index}]", "is not a metadata path (at most 200 printable characters)")
        if (value in known or value.startswith("Metadata/")) and value not in out:
            out.append(value)
    return out


async def exchange_prices(ctx: ApiContext, realm: str, league: str, items: list[str], currency: ExchangeCurrency,
                          span: TimeRange, bucket: Bucket,
                          align: ExchangeAlign = ExchangeAlign.DATE) -> list[ExchangePriceSeries]:
    if realm not in REALMS:
        raise bad_input("realm", f"{realm[:20]!r} is not a realm; use one of {', '.join(REALMS)}")
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
    sql = SERIES_SQL.replace("{bucket}", LEAGUE_BUCKET if origin is not None else DATE_BUCKET)
    rows = await fetch_all(ctx.pool, with_newest(sql), {"unit": bucket.value, "realm": realm, "league": league,
                                                        "currency": currency.value, "items": items,
                                                        "start": span.start, "end": span.end,
                                                        "stride": STRIDES[bucket], "origin": origin or span.start})
    ctx.cache.saw_newest_of(rows)
    by_item = {r["item_id"]: r for r in rows}
    out = []
    for item_id in items:
        r = by_item.get(item_id) or {"points": 0, "time": "[]", "vwap": "[]", "min_price": "[]", "max_price": "[]",
                                     "volume": "[]", "quote_volume": "[]", "hours": "[]", "age": "[]"}
        out.append(ExchangePriceSeries(
            item=item_of(item_id, item_id in ctx.watched), currency=currency, bucket=bucket, points=r["points"],
            time=r["time"], vwap=r["vwap"], min_price=r["min_price"], max_price=r["max_price"], volume=r["volume"],
            quote_volume=r["quote_volume"], hours=r["hours"], league_start=origin,
            age=(r["age"] if r["points"] else "[]") if origin is not None else None))
    return out
