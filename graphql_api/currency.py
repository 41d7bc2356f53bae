"""Prices in chaos or divine: the `currency` argument of the price fields and `divinePrice`.

Snapshots are stored in the watchlist's currency (`paid_with`). For another unit, the price
fields read `warehouse.price_snapshots` through `snapshots_source`, the same columns with every
price converted by the warehouse's one conversion, `analytics.convert_price` (migration 0015),
with the hour's divine price in chaos from `analytics.exchange_divine_price` (null where that
rate is missing or unusable); PostgreSQL inlines the function and pulls the subquery up into
each statement, so the filters still use the snapshot indexes. The `book` ladder stays as stored.

The profitability fields convert after the strategy math (`converted`): every money field of
an outcome with its hour's divine price (`divine_rate_column` in SQL, `divine_rates` for a
range); ratios (roi), counts and the break-even in reroll-item units are unit-free and stay.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from graphql_api import limits
from graphql_api.context import ApiContext
from graphql_api.db import fetch_all
from graphql_api.errors import bad_input
from graphql_api.inputs import TimeRange
from graphql_api.types import Bucket, Currency, DivinePriceSeries
from tradewatch.market.currency import CURRENCIES, REALM_OF_GAME, convert

_PRICES = ("min_price", "robust_min_price", "avg_price", "spent")
_OTHERS = ("game", "league", "paid_with", "observed_hour", "item_id", "observed_at", "listing_count", "total_stock",
           "target_quantity", "bought", "book", "simulated", "raw_response_id")


def resolve_currency(ctx: ApiContext, currency: Currency | None) -> str:
    """The unit asked for (default: the watchlist's currency), refused when it cannot be converted."""
    paid_with = ctx.watchlist.paid_with
    unit = currency.value if currency is not None else paid_with
    if unit != paid_with and paid_with not in ("chaos", "divine"):
        raise bad_input("currency", f"prices are stored in {paid_with!r}, which has no chaos/divine rate; "
                                    "leave `currency` out")
    return unit


def snapshots_source(ctx: ApiContext, unit: str) -> str:
    """What to read instead of `warehouse.price_snapshots` for prices in `unit` (the table itself when
    no conversion is needed)."""
    paid_with = ctx.watchlist.paid_with
    if unit == paid_with:
        return "warehouse.price_snapshots"
    if {paid_with, unit} != set(CURRENCIES):  # resolve_currency refused it before; never a stray literal in SQL
        raise ValueError(f"cannot convert {paid_with!r} to {unit!r}: only chaos and divine convert")
    realm = REALM_OF_GAME.get(ctx.watchlist.game, "pc")
    prices = ", ".join(f"analytics.convert_price(s.{c}, '{paid_with}', '{unit}', d.chaos_per_divine) AS {c}"
                       for c in _PRICES)
    return (f"(SELECT {', '.join('s.' + c for c in _OTHERS)}, {prices} FROM warehouse.price_snapshots s "
            f"LEFT JOIN analytics.exchange_divine_price d ON d.realm = '{realm}' AND d.league = s.league "
            "AND d.observed_hour = s.observed_hour)")


def from_snapshots(sql: str, ctx: ApiContext, unit: str) -> str:
    """`sql` with its `warehouse.price_snapshots` read in `unit` (aliases kept or added)."""
    source = snapshots_source(ctx, unit)
    if source == "warehouse.price_snapshots":
        return sql
    # one pass: the source itself reads warehouse.price_snapshots
    return re.sub(r"warehouse\.price_snapshots( s\b)?", lambda m: f"{source}{m.group(1) or ' AS price_snapshots'}", sql)


# the money fields of a StrategyOutcome (and so of a ProfitabilityRow)
OUTCOME_MONEY = ("input_unit_cost", "reroll_cost", "expected_sale_value", "expected_profit_per_unit",
                 "expected_profit_total", "break_even_reroll_cost")
Outcome = TypeVar("Outcome")


def divine_rate_column(ctx: ApiContext, unit: str, table: str) -> str:
    """A select-list column `chaos_per_divine`: the divine price of `table`'s league-hour (null when
    `unit` is the stored one and nothing needs converting)."""
    if unit == ctx.watchlist.paid_with:
        return "NULL::double precision AS chaos_per_divine"
    realm = REALM_OF_GAME.get(ctx.watchlist.game, "pc")
    return (f"(SELECT d.chaos_per_divine FROM analytics.exchange_divine_price d WHERE d.realm = '{realm}' "
            f"AND d.league = {table}.league AND d.observed_hour = {table}.observed_hour LIMIT 1) AS chaos_per_divine")


async def divine_rates(ctx: ApiContext, league: str, span: TimeRange, unit: str) -> dict[datetime, float]:
    """Hour → divine price in chaos over the range (empty when `unit` needs no conversion)."""
    if unit == ctx.watchlist.paid_with:
        return {}
    rows = await fetch_all(ctx.pool, "SELECT observed_hour, chaos_per_divine FROM analytics.exchange_divine_price "
                                     "WHERE realm = %(realm)s AND league = %(league)s AND observed_hour >= %(start)s "
                                     "AND observed_hour < %(end)s",
                           {"realm": REALM_OF_GAME.get(ctx.watchlist.game, "pc"), "league": league,
                            "start": span.start, "end": span.end}, rows_as_dicts=False)
    return {hour: rate for hour, rate in rows}


def converted(outcome: Outcome, paid_with: str, unit: str, chaos_per_divine: float | None) -> Outcome:
    """`outcome` (a StrategyOutcome or ProfitabilityRow in `paid_with`) with its money fields in `unit`."""
    if unit == paid_with:
        return outcome
    return replace(outcome, **{f: convert(getattr(outcome, f), paid_with, unit, chaos_per_divine)
                               for f in OUTCOME_MONEY})


# the view answers the exchange's divine market where it traded, else the order book of divine paid
# in chaos (source 'book', no volumes): a bucket's price is the exchange's vwap when it has one
DIVINE_SQL = """
SELECT count(*) AS points, json_agg(t ORDER BY t)::text AS time, json_agg(price ORDER BY t)::text AS price,
       json_agg(low ORDER BY t)::text AS low, json_agg(high ORDER BY t)::text AS high,
       json_agg(volume ORDER BY t)::text AS volume, json_agg(book_hours ORDER BY t)::text AS book_hours
FROM (SELECT date_trunc(%(unit)s, observed_hour) AS t,
             coalesce(sum(chaos_volume) / nullif(sum(divine_volume), 0),
                      avg(chaos_per_divine) FILTER (WHERE source = 'book')) AS price,
             min(min_chaos_per_divine) AS low, max(max_chaos_per_divine) AS high, sum(divine_volume) AS volume,
             count(*) FILTER (WHERE source = 'book') AS book_hours
      FROM analytics.exchange_divine_price
      WHERE realm = %(realm)s AND league = %(league)s
        AND observed_hour >= %(start)s AND observed_hour < %(end)s
      GROUP BY 1) b
"""

BUCKET_HOURS = {Bucket.HOUR: 1, Bucket.DAY: 24, Bucket.WEEK: 168}


async def divine_price(ctx: ApiContext, league: str, span: TimeRange, bucket: Bucket) -> DivinePriceSeries:
    points = (span.end - span.start).total_seconds() / 3600 / BUCKET_HOURS[bucket]
    if points > limits.MAX_SERIES_POINTS + 1:
        raise bad_input("to", f"the range holds about {points:.0f} {bucket.name} buckets, more than "
                              f"{limits.MAX_SERIES_POINTS}; use a coarser `bucket` or a shorter range")
    ctx.cache.read_range(span.end)
    rows = await fetch_all(ctx.pool, DIVINE_SQL, {"unit": bucket.value, "league": league, "start": span.start,
                                                  "end": span.end,
                                                  "realm": REALM_OF_GAME.get(ctx.watchlist.game, "pc")})
    r = rows[0]
    empty = "[]"
    return DivinePriceSeries(league=league, bucket=bucket, points=r["points"], time=r["time"] or empty,
                             chaos_per_divine=r["price"] or empty, min_chaos_per_divine=r["low"] or empty,
                             max_chaos_per_divine=r["high"] or empty, divine_volume=r["volume"] or empty,
                             book_hours=r["book_hours"] or empty)
