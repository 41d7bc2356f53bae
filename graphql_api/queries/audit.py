"""`coverage` and `rawResponses`: what is stored, missing or simulated, and the raw
responses themselves, for auditing the derived numbers."""

from __future__ import annotations

from datetime import datetime

from graphql_api.context import ApiContext
from graphql_api.db import fetch_all
from graphql_api.inputs import TimeRange, decode_cursor, encode_cursor
from graphql_api.types import Coverage, CoverageHour, PageInfo, RawResponse, RawResponseConnection, item_of
from tradewatch.bulk_exchange.raw_store import read_body
from tradewatch.hours import HOUR, floor_hour, hours_between

COVERAGE_SQL = """
WITH raw AS (
    SELECT observed_hour, array_agg(item_id) AS items, bool_or(simulated) AS simulated
    FROM warehouse.raw_trade_responses
    WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND item_id = ANY(%(items)s)
      AND observed_hour >= %(start)s AND observed_hour < %(end)s
    GROUP BY observed_hour),
snap AS (
    SELECT observed_hour, count(*) AS n
    FROM warehouse.price_snapshots
    WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND item_id = ANY(%(items)s)
      AND observed_hour >= %(start)s AND observed_hour < %(end)s
    GROUP BY observed_hour)
SELECT coalesce(raw.observed_hour, snap.observed_hour) AS hour, raw.items, raw.simulated, snap.n
FROM raw FULL JOIN snap ON snap.observed_hour = raw.observed_hour
"""


def _whole_hours(span: TimeRange) -> list[datetime]:
    first = floor_hour(span.start)
    if first < span.start:
        first += HOUR
    return hours_between(first, span.end)


async def coverage(ctx: ApiContext, league: str, span: TimeRange) -> Coverage:
    ctx.cache.read_range(span.end)
    wl = ctx.watchlist
    items = list(wl.items)
    rows = await fetch_all(ctx.pool, COVERAGE_SQL, {"game": wl.game, "league": league, "paid": wl.paid_with,
                                                    "items": items, "start": span.start, "end": span.end})
    by_hour = {r["hour"]: r for r in rows}
    hours = []
    for hour in _whole_hours(span):
        r = by_hour.get(hour)
        stored = set(r["items"] or ()) if r else set()
        hours.append(CoverageHour(
            hour=hour, stored=len(stored), snapshots=(r["n"] or 0) if r else 0,
            missing=[i for i in items if i not in stored], simulated=bool(r and r["simulated"]),
            complete=len(stored) == len(items)))
    return Coverage(
        league=league, from_=span.start, to=span.end, items=items, hours_total=len(hours),
        hours_complete=sum(h.complete for h in hours),
        hours_partial=sum(1 for h in hours if 0 < h.stored < len(items)),
        hours_empty=sum(1 for h in hours if h.stored == 0),
        simulated_hours=sum(h.simulated for h in hours), hours=hours)


async def raw_responses(ctx: ApiContext, league: str, item_id: str | None, span: TimeRange, first: int,
                        after: str | None, with_body: bool) -> RawResponseConnection:
    ctx.cache.read_range(span.end)
    wl = ctx.watchlist
    params: dict = {"game": wl.game, "league": league, "paid": wl.paid_with, "start": span.start, "end": span.end,
                    "item": item_id, "limit": first + 1}
    keyset = ""
    cursor = decode_cursor(after, (datetime, str))
    if cursor is not None:
        params["ah"], params["ai"] = cursor
        keyset = "AND (observed_hour, item_id) > (%(ah)s, %(ai)s)"
    sql = f"""
        SELECT id, item_id, observed_hour, league, paid_with, request_path, request_body::text AS request_body,
               status_code, {'compression, body, body_sha256,' if with_body else ''}
               rate_limit_headers::text AS rate_limit_headers, fetched_at, duration_ms, attempt, response_bytes,
               simulated
        FROM warehouse.raw_trade_responses
        WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s
          AND observed_hour >= %(start)s AND observed_hour < %(end)s
          AND (%(item)s::text IS NULL OR item_id = %(item)s) {keyset}
        ORDER BY observed_hour, item_id
        LIMIT %(limit)s"""
    rows = await fetch_all(ctx.pool, sql, params)
    more = len(rows) > first
    rows = rows[:first]
    nodes = [
        RawResponse(id=str(r["id"]), item=item_of(r["item_id"], r["item_id"] in ctx.watched), hour=r["observed_hour"],
                    league=r["league"], paid_with=r["paid_with"], request_path=r["request_path"],
                    request_body=r["request_body"], status_code=r["status_code"],
                    response_body=read_body(r["compression"], r["body"], r["body_sha256"], r["id"]) if with_body
                    else None,
                    rate_limit_headers=r["rate_limit_headers"], fetched_at=r["fetched_at"],
                    duration_ms=r["duration_ms"], attempt=r["attempt"], response_bytes=r["response_bytes"],
                    simulated=r["simulated"])
        for r in rows
    ]
    end = encode_cursor(rows[-1]["observed_hour"], rows[-1]["item_id"]) if rows else None
    return RawResponseConnection(nodes=nodes, page_info=PageInfo(has_next_page=more, end_cursor=end))
