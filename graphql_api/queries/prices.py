"""`latestPrices`, `snapshots` and `priceSeries`: reads of warehouse.price_snapshots (`priceSeries`
also joins the Currency Exchange's executed prices of warehouse.exchange_prices to its buckets)."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from graphql_api import limits
from graphql_api.caching import NEWEST_COLUMN, with_newest
from graphql_api.context import ApiContext
from graphql_api.currency import from_snapshots
from graphql_api.db import fetch_all
from graphql_api.errors import bad_input
from graphql_api.inputs import TimeRange, decode_cursor, encode_cursor
from graphql_api.json_rows import JsonRows, RowPlan, item_columns, page_sql, text_array
from graphql_api.types import (Bucket, Item, LatestPrice, PageInfo, PriceSeries, Snapshot, SnapshotConnection,
                               SnapshotOrder, item_of)
from tradewatch.market.currency import CURRENCIES, REALM_OF_GAME

# The newest row per item comes from the (item_id, observed_hour) index, one probe per
# item, instead of a DISTINCT ON over the whole history.
# The change compares with the nearest hour at least 24 h (7 d) older that has a robust price:
# an hour whose book was empty or all bait is skipped, not shown as "no change known".
# Each change is read only when it is selected (`latest_sql`).
_LATEST_NEWEST = """
SELECT i.item_id, i.item_name, i.item_category, i.n, l.observed_hour, l.observed_at, l.min_price,
       l.robust_min_price, l.avg_price, l.target_quantity, l.listing_count, l.total_stock, l.simulated,
       {p24} AS p24, {p7d} AS p7d
FROM unnest(%(items)s::text[], %(names)s::text[], %(categories)s::text[]) WITH ORDINALITY
     AS i(item_id, item_name, item_category, n)
CROSS JOIN LATERAL (
    SELECT observed_hour, observed_at, min_price, robust_min_price, avg_price, target_quantity, listing_count,
           total_stock, simulated
    FROM warehouse.price_snapshots s
    WHERE s.item_id = i.item_id AND s.game = %(game)s AND s.league = %(league)s AND s.paid_with = %(paid)s
    ORDER BY s.observed_hour DESC LIMIT 1) l"""
_LATEST_BEFORE = """
LEFT JOIN LATERAL (
    SELECT robust_min_price FROM warehouse.price_snapshots s
    WHERE s.item_id = i.item_id AND s.game = %(game)s AND s.league = %(league)s AND s.paid_with = %(paid)s
      AND s.observed_hour <= l.observed_hour - interval '{near}'
      AND s.observed_hour > l.observed_hour - interval '{far}'
      AND s.robust_min_price IS NOT NULL
    ORDER BY s.observed_hour DESC LIMIT 1) {alias} ON true"""


def latest_sql(change_24h: bool = True, change_7d: bool = True) -> str:
    """The newest snapshot of each of `%(items)s` (in their order: `n`), with the robust price 24 h and
    7 d before it (`p24`, `p7d`) read only when asked for (null otherwise)."""
    sql = _LATEST_NEWEST.format(p24="d1.robust_min_price" if change_24h else "NULL::float8",
                                p7d="d7.robust_min_price" if change_7d else "NULL::float8")
    if change_24h:
        sql += _LATEST_BEFORE.format(near="24 hours", far="48 hours", alias="d1")
    if change_7d:
        sql += _LATEST_BEFORE.format(near="7 days", far="14 days", alias="d7")
    return sql


LATEST_SQL = latest_sql()


def _change_sql(now: str, then: str) -> str:
    # as `_change`: null without both prices or when the older one is 0
    return f"(CASE WHEN {now} IS NOT NULL AND {then} <> 0 THEN ({now} - {then}) / {then} END)"


# LatestPrice's fields over a row `p` of `latest_sql` (json_rows.row_plan)
LATEST_JSON = {"item": {**item_columns("p.item_id"), "name": "p.item_name", "category": "p.item_category"},
               "hour": "p.observed_hour", "observedAt": "p.observed_at", "minPrice": "p.min_price",
               "robustMinPrice": "p.robust_min_price", "avgPrice": "p.avg_price",
               "targetQuantity": "p.target_quantity", "listingCount": "p.listing_count",
               "totalStock": "p.total_stock", "change24h": _change_sql("p.robust_min_price", "p.p24"),
               "change7d": _change_sql("p.robust_min_price", "p.p7d"),
               "lowConfidence": f"(p.listing_count < {limits.LOW_CONFIDENCE_LISTINGS} OR p.robust_min_price IS NULL)",
               "paidWith": "%(unit)s::text", "simulated": "p.simulated"}


@lru_cache(maxsize=256)
def _latest_items(item_ids: tuple[str, ...], watched: tuple[str, ...]) -> tuple[tuple[Item, ...], dict[str, str]]:
    """The items and their statement parameters: the same few lists come in every request, so they are
    built once (json_rows.text_array)."""
    items = tuple(item_of(i, i in watched) for i in item_ids)
    return items, {"items": text_array(item_ids), "names": text_array(tuple(i.name for i in items)),
                   "categories": text_array(tuple(i.category for i in items))}


def _change(now: float | None, then: float | None) -> float | None:
    return (now - then) / then if now is not None and then else None


async def latest_prices(ctx: ApiContext, league: str, item_ids: list[str], unit: str,
                        plan: RowPlan | None = None, selected: frozenset[str] | set[str] | None = None
                        ) -> list[LatestPrice] | JsonRows:
    """The newest snapshot of each item; with `plan` (the selection compiled by json_rows.row_plan) the
    list comes as JSON built by PostgreSQL, unless a value of it needs the normal path. `selected`
    (the field names asked for; None: all) leaves out the changes nobody asked for."""
    ctx.cache.read_live()  # "now" moves every hour
    wl = ctx.watchlist
    items, item_params = _latest_items(tuple(item_ids), ctx.watched)
    sql = from_snapshots(latest_sql(selected is None or "change24h" in selected,
                                    selected is None or "change7d" in selected), ctx, unit)
    params = {**item_params, "game": wl.game, "league": league, "paid": wl.paid_with}
    if plan is not None:
        built = (await fetch_all(ctx.pool, f"SELECT {plan.array('p.n')} AS nodes, "
                                           f"bool_and({plan.clean}) AS clean FROM ({sql}) p",
                                 {**params, "unit": unit, "watched": text_array(ctx.watched)}))[0]
        if built["clean"] is not False:  # null: no rows
            return JsonRows(built["nodes"] or "[]", plan.field_nodes)
        # a value graphql-core reports as an error: the normal path names it with its path
    rows = await fetch_all(ctx.pool, sql, params)
    by_id = {i.id: i for i in items}
    return [
        LatestPrice(
            item=by_id[r["item_id"]], hour=r["observed_hour"],
            observed_at=r["observed_at"], min_price=r["min_price"], robust_min_price=r["robust_min_price"],
            avg_price=r["avg_price"], target_quantity=r["target_quantity"], listing_count=r["listing_count"],
            total_stock=r["total_stock"], change_24h=_change(r["robust_min_price"], r["p24"]),
            change_7d=_change(r["robust_min_price"], r["p7d"]),
            low_confidence=r["listing_count"] < limits.LOW_CONFIDENCE_LISTINGS or r["robust_min_price"] is None,
            paid_with=unit, simulated=r["simulated"],
        )
        for r in rows
    ]


_SNAPSHOT_COLUMNS = ("item_id, observed_hour, observed_at, listing_count, total_stock, min_price, "
                     "robust_min_price, target_quantity, bought, spent, avg_price, simulated")

# Snapshot's fields over a page row `p` (json_rows.row_plan)
SNAPSHOT_JSON = {"item": item_columns("p.item_id"), "hour": "p.observed_hour", "observedAt": "p.observed_at",
                 "listingCount": "p.listing_count", "totalStock": "p.total_stock", "minPrice": "p.min_price",
                 "robustMinPrice": "p.robust_min_price", "targetQuantity": "p.target_quantity",
                 "bought": "p.bought", "spent": "p.spent", "avgPrice": "p.avg_price", "paidWith": "%(unit)s::text",
                 "simulated": "p.simulated", "book": "p.book_json"}


async def snapshots(ctx: ApiContext, league: str, item_ids: list[str] | None, span: TimeRange,
                    order: SnapshotOrder, first: int, after: str | None, with_book: bool,
                    unit: str, plan: RowPlan | None = None) -> SnapshotConnection:
    """A page of snapshots; with `plan` (the selection of `nodes` compiled by json_rows.row_plan) its
    rows come as JSON built by PostgreSQL, unless a value of the page needs the normal path."""
    ctx.cache.read_range(span.end)
    wl = ctx.watchlist
    params: dict = {"game": wl.game, "league": league, "paid": wl.paid_with, "start": span.start,
                    "end": span.end, "items": item_ids, "limit": first + 1}
    cursor = decode_cursor(after, (datetime, str))
    direction, compare = ("ASC", ">") if order is SnapshotOrder.TIME_ASC else ("DESC", "<")
    keyset = ""
    if cursor is not None:
        params["after_hour"], params["after_item"] = cursor
        keyset = f"AND (observed_hour, item_id) {compare} (%(after_hour)s, %(after_item)s)"
    book = (", book AS book_json" if plan is not None else ", book::text AS book") if with_book else ""
    sql = from_snapshots(f"""
        SELECT {_SNAPSHOT_COLUMNS}{book}
        FROM warehouse.price_snapshots
        WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s
          AND observed_hour >= %(start)s AND observed_hour < %(end)s
          {'AND item_id = ANY(%(items)s)' if item_ids is not None else ''} {keyset}
        ORDER BY observed_hour {direction}, item_id {direction}
        LIMIT %(limit)s""", ctx, unit)
    if plan is not None:
        page = (await fetch_all(ctx.pool, page_sql(sql, plan, first, ("observed_hour", "item_id"), NEWEST_COLUMN),
                                {**params, "unit": unit, "watched": text_array(ctx.watched)}))[0]
        ctx.cache.saw_newest(page["tw_newest"])
        if page["clean"] is not False:  # null: no rows
            end_cursor = encode_cursor(page["last_observed_hour"], page["last_item_id"]) if page["n"] else None
            return SnapshotConnection(nodes=JsonRows(page["nodes"] or "[]", plan.field_nodes),  # type: ignore[arg-type]
                                      page_info=PageInfo(has_next_page=page["n"] > first, end_cursor=end_cursor))
        # a value graphql-core reports as an error: the normal path names it with its path
        return await snapshots(ctx, league, item_ids, span, order, first, after, with_book, unit)
    rows = await fetch_all(ctx.pool, with_newest(sql), params)
    ctx.cache.saw_newest_of(rows)
    more = len(rows) > first
    rows = rows[:first]
    watched = ctx.watched
    nodes = [
        Snapshot(item=item_of(r["item_id"], r["item_id"] in watched), hour=r["observed_hour"],
                 observed_at=r["observed_at"], listing_count=r["listing_count"], total_stock=r["total_stock"],
                 min_price=r["min_price"], robust_min_price=r["robust_min_price"],
                 target_quantity=r["target_quantity"], bought=r["bought"], spent=r["spent"],
                 avg_price=r["avg_price"], paid_with=unit, simulated=r["simulated"],
                 book=r.get("book"))
        for r in rows
    ]
    end_cursor = encode_cursor(rows[-1]["observed_hour"], rows[-1]["item_id"]) if rows else None
    return SnapshotConnection(nodes=nodes, page_info=PageInfo(has_next_page=more, end_cursor=end_cursor))


# The Currency Exchange's executed trades per item and bucket, to join to the book's buckets
# (the same date_trunc, in the API's UTC sessions). `%(quote)s` is null for a currency the
# exchange does not quote in: no rows then.
EXECUTED_CTE = """
e AS (
    SELECT x.item_id, date_trunc(%(unit)s, p.observed_hour) AS t,
           sum(p.quote_volume) FILTER (WHERE p.vwap_price IS NOT NULL)
               / nullif(sum(p.volume) FILTER (WHERE p.vwap_price IS NOT NULL), 0) AS executed_price,
           sum(p.volume) AS executed_volume
    FROM warehouse.exchange_prices p
    JOIN warehouse.exchange_items x ON x.item_key = p.item_key
    WHERE p.realm = %(realm)s AND p.league = %(league)s AND p.quote_currency = %(quote)s
      AND x.item_id = ANY(%(items)s) AND p.observed_hour >= %(start)s AND p.observed_hour < %(end)s
    GROUP BY 1, 2)"""
# When neither executed column is asked for, nothing is read (the cost model charges the join only then).
NO_EXECUTED_CTE = """
e AS (SELECT NULL::text AS item_id, NULL::timestamptz AS t, NULL::float8 AS executed_price,
             NULL::float8 AS executed_volume WHERE false)"""
EXECUTED_COLUMNS = ("json_agg(e.executed_price ORDER BY b.t)::text AS executed_price, "
                    "json_agg(e.executed_volume ORDER BY b.t)::text AS executed_volume")

# HOUR: one snapshot per bucket, so no grouping: open = high = low = close = min_price.
SERIES_HOUR_SQL = """
WITH b AS (
    SELECT item_id, observed_hour AS t, min_price, robust_min_price, avg_price, total_stock, listing_count
    FROM warehouse.price_snapshots
    WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND item_id = ANY(%(items)s)
      AND observed_hour >= %(start)s AND observed_hour < %(end)s),
{executed}
SELECT b.item_id, count(*) AS points,
       json_agg(b.t ORDER BY b.t)::text AS time,
       json_agg(b.min_price ORDER BY b.t)::text AS price,
       json_agg(b.robust_min_price ORDER BY b.t)::text AS robust_close,
       json_agg(b.avg_price ORDER BY b.t)::text AS avg_price,
       json_agg(b.total_stock ORDER BY b.t)::text AS stock,
       json_agg(b.listing_count ORDER BY b.t)::text AS listing_count, {columns}
FROM b LEFT JOIN e ON e.item_id = b.item_id AND e.t = b.t
GROUP BY b.item_id
"""

SERIES_BUCKET_SQL = """
WITH b AS (
    SELECT item_id, date_trunc(%(unit)s, observed_hour) AS t,
           (array_agg(min_price ORDER BY observed_hour) FILTER (WHERE min_price IS NOT NULL))[1] AS open,
           max(min_price) AS high, min(min_price) AS low,
           (array_agg(min_price ORDER BY observed_hour DESC) FILTER (WHERE min_price IS NOT NULL))[1] AS close,
           (array_agg(robust_min_price ORDER BY observed_hour DESC)
               FILTER (WHERE robust_min_price IS NOT NULL))[1] AS robust_close,
           sum(spent) / nullif(sum(bought), 0) AS avg_price,
           (array_agg(total_stock ORDER BY observed_hour DESC))[1] AS stock,
           (array_agg(listing_count ORDER BY observed_hour DESC))[1] AS listing_count,
           count(*) AS hours
    FROM warehouse.price_snapshots
    WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND item_id = ANY(%(items)s)
      AND observed_hour >= %(start)s AND observed_hour < %(end)s
    GROUP BY item_id, t),
{executed}
SELECT b.item_id, count(*) AS points,
       json_agg(b.t ORDER BY b.t)::text AS time, json_agg(b.open ORDER BY b.t)::text AS open,
       json_agg(b.high ORDER BY b.t)::text AS high, json_agg(b.low ORDER BY b.t)::text AS low,
       json_agg(b.close ORDER BY b.t)::text AS close, json_agg(b.robust_close ORDER BY b.t)::text AS robust_close,
       json_agg(b.avg_price ORDER BY b.t)::text AS avg_price, json_agg(b.stock ORDER BY b.t)::text AS stock,
       json_agg(b.listing_count ORDER BY b.t)::text AS listing_count, json_agg(b.hours ORDER BY b.t)::text AS hours,
       {columns}
FROM b LEFT JOIN e ON e.item_id = b.item_id AND e.t = b.t
GROUP BY b.item_id
"""

BUCKET_HOURS = {Bucket.HOUR: 1, Bucket.DAY: 24, Bucket.WEEK: 168}


def _empty(item, bucket: Bucket) -> PriceSeries:
    return PriceSeries(item=item, bucket=bucket, points=0, time="[]", open="[]", high="[]", low="[]",
                       close="[]", robust_close="[]", avg_price="[]", stock="[]", listing_count="[]", hours="[]",
                       executed_price="[]", executed_volume="[]")


async def price_series(ctx: ApiContext, league: str, item_ids: list[str], span: TimeRange,
                       bucket: Bucket, unit: str, executed: bool = True) -> list[PriceSeries]:
    """One series per item of `item_ids`, with the exchange's executed columns read when `executed`."""
    points = (span.end - span.start).total_seconds() / 3600 / BUCKET_HOURS[bucket]
    if points > limits.MAX_SERIES_POINTS + 1:
        raise bad_input("to", f"the range holds about {points:.0f} {bucket.name} buckets per item, more than "
                              f"{limits.MAX_SERIES_POINTS}; use a coarser `bucket` or a shorter range")
    ctx.cache.read_range(span.end)
    wl = ctx.watchlist
    params = {"game": wl.game, "league": league, "paid": wl.paid_with, "items": item_ids,
              "start": span.start, "end": span.end, "unit": bucket.value,
              "realm": REALM_OF_GAME.get(wl.game, "pc"), "quote": unit if unit in CURRENCIES else None}
    sql = (SERIES_HOUR_SQL if bucket is Bucket.HOUR else SERIES_BUCKET_SQL).format(
        executed=EXECUTED_CTE if executed else NO_EXECUTED_CTE, columns=EXECUTED_COLUMNS)
    rows = await fetch_all(ctx.pool, with_newest(from_snapshots(sql, ctx, unit)), params)
    ctx.cache.saw_newest_of(rows)
    by_item = {r["item_id"]: r for r in rows}
    out = []
    for item_id in item_ids:
        item = item_of(item_id, item_id in ctx.watched)
        r = by_item.get(item_id)
        if r is None:
            out.append(_empty(item, bucket))
        elif bucket is Bucket.HOUR:
            ones = "[" + ",".join(["1"] * r["points"]) + "]"
            out.append(PriceSeries(item=item, bucket=bucket, points=r["points"], time=r["time"], open=r["price"],
                                   high=r["price"], low=r["price"], close=r["price"],
                                   robust_close=r["robust_close"], avg_price=r["avg_price"], stock=r["stock"],
                                   listing_count=r["listing_count"], hours=ones,
                                   executed_price=r["executed_price"], executed_volume=r["executed_volume"]))
        else:
            out.append(PriceSeries(item=item, bucket=bucket, points=r["points"], time=r["time"], open=r["open"],
                                   high=r["high"], low=r["low"], close=r["close"], robust_close=r["robust_close"],
                                   avg_price=r["avg_price"], stock=r["stock"], listing_count=r["listing_count"],
                                   hours=r["hours"], executed_price=r["executed_price"],
                                   executed_volume=r["executed_volume"]))
    return out
