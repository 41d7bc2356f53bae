"""CSV export of a price series for spreadsheet users:

    GET /export/price-series.csv?item=deafening-essence-of-greed&from=2026-01-01&to=2026-02-01&bucket=day

Parameters as in the `priceSeries` field (`item` may repeat; `bucket` hour|day|week,
`league`). One row per item and bucket. Bad parameters get a 400/404 with a plain-text
message naming the parameter.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime

import orjson
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from graphql_api import limits
from graphql_api.context import ApiContext
from graphql_api.errors import ApiError, bad_input, shown
from graphql_api.inputs import item_ids, time_range
from graphql_api.currency import resolve_currency
from graphql_api.leagues import checked_league
from graphql_api.queries.prices import price_series
from graphql_api.types import Bucket, Currency
from graphql_api.view import cache_headers, conditional

COLUMNS = ("time", "open", "high", "low", "close", "robust_close", "avg_price", "stock", "listing_count", "hours")


def _time(params, name: str) -> datetime | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return datetime.fromisoformat(raw)
    except ValueError:
        raise bad_input(name, f"{shown(raw)} is not an ISO-8601 time such as 2026-01-31T13:00:00Z") from None


async def price_series_csv(request: Request) -> Response:
    params = request.query_params
    wl = request.app.state.watchlist
    ctx = ApiContext(pool=request.app.state.pool, watchlist=wl, request=request)
    try:
        raw_items = params.getlist("item")
        if not raw_items:
            raise bad_input("item", "give at least one `item=<id>`, e.g. item=deafening-essence-of-greed")
        ids = item_ids(raw_items, "item", wl.items, wl.game)
        if len(ids) > limits.MAX_SERIES_ITEMS:
            raise bad_input("item", f"{len(ids)} items are more than {limits.MAX_SERIES_ITEMS}")
        bucket_raw = params.get("bucket", "hour").upper()
        if bucket_raw not in Bucket.__members__:
            raise bad_input("bucket", f"{shown(params.get('bucket'))} must be hour, day or week")
        span = time_range(_time(params, "from"), _time(params, "to"), limits.MAX_PAGED_RANGE)
        currency_raw = params.get("currency", "").upper()
        if currency_raw and currency_raw not in Currency.__members__:
            raise bad_input("currency", f"{shown(params.get('currency'))} must be chaos or divine")
        unit = resolve_currency(ctx, Currency[currency_raw] if currency_raw else None)
        series = await price_series(ctx, await checked_league(ctx, params.get("league")), ids, span,
                                    Bucket[bucket_raw], unit)
    except ApiError as exc:
        status = 404 if exc.code == "NOT_FOUND" else 503 if exc.code in ("SERVICE_UNAVAILABLE", "TIMEOUT") else 400
        return PlainTextResponse(f"{exc} ({exc.code})\n", status_code=status)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("item", *COLUMNS))
    for s in series:
        columns = [orjson.loads(getattr(s, name)) for name in COLUMNS]
        for row in zip(*columns):
            writer.writerow((s.item.id, *("" if v is None else v for v in row)))
    body = out.getvalue().encode()
    filename = f"price-series-{span.start:%Y%m%dT%H%M}-{span.end:%Y%m%dT%H%M}.csv"
    response = Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    headers = await cache_headers(request, ctx, body, request.app.state.grace, request.app.state.private_cache)
    return conditional(request, response, headers) if headers else response


__all__ = ["COLUMNS", "price_series_csv"]
