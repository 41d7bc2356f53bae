"""History as pandas DataFrames, for notebooks: the same slices as the GraphQL fields.

    from tradewatch import frames
    greed = frames.prices("deafening-essence-of-greed", bucket="day", currency="chaos")

Every reader takes the GraphQL field's arguments (`from_` for `from`) with the same defaults
(`to` = the end of the current hour, `from_` = 24 hours before it, the watchlist's league)
and units, and returns a DataFrame indexed by the UTC hour (`DatetimeIndex`, tz UTC, named
`hour`), with typed columns (float64 prices, Int64 counts, string ids). It reads the
`analytics` views, through the read-only role when one is configured:
TRADEWATCH_READER_DATABASE_URL, else TRADEWATCH_API_DATABASE_URL, else the warehouse URL
(TRADEWATCH_DATABASE_URL or the embedded server). Sessions are read-only whatever the role.

An item is given as a catalogue id (`exalted`), a metadata path or a display name ("Exalted
Orb", case-insensitive); an unknown one raises `UnknownItem` with the closest names.

Prices in chaos or divine are converted with the league-hour's divine price in chaos (the
Currency Exchange's `chaos|divine` vwap, else the order book of divine paid in chaos) by the
warehouse's one conversion, `analytics.convert_price`; an hour without a usable rate has no
converted value.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Iterable, Literal

import pandas as pd

from tradewatch.currency_exchange.catalogue import game_of_realm, resolve_item
from tradewatch.database import resolve_database_url
from tradewatch.hours import HOUR, floor_hour, utc_now
from tradewatch.market.currency import CURRENCIES
from tradewatch.settings import Settings, load_settings
from tradewatch.warehouse.db import connect
from tradewatch.watchlist import Watchlist, watchlist_from_settings

__all__ = ["alerts", "divine_price", "exchange_prices", "prices", "profitability", "reader_url"]

Bucket = Literal["hour", "day", "week"]
_BUCKETS = ("hour", "day", "week")
_DEFAULT_RANGE = timedelta(hours=24)


def reader_url(settings: Settings | None = None) -> str:
    """The URL the readers use: the reader role's, else the API role's, else the warehouse's."""
    settings = settings or load_settings()
    return settings.reader_database_url or settings.api_database_url or resolve_database_url(settings)


def _span(from_: datetime | str | None, to: datetime | str | None) -> tuple[datetime, datetime]:
    def as_time(value: datetime | str) -> datetime:
        moment = pd.Timestamp(value)
        return (moment.tz_localize("UTC") if moment.tzinfo is None else moment.tz_convert("UTC")).to_pydatetime()

    end = as_time(to) if to is not None else floor_hour(utc_now()) + HOUR
    start = as_time(from_) if from_ is not None else end - _DEFAULT_RANGE
    if start >= end:
        raise ValueError(f"from_ {start.isoformat()} must be before to {end.isoformat()}")
    return start, end


def _read(sql: str, params: dict, url: str | None) -> pd.DataFrame:
    with connect(url or reader_url(), options="-c default_transaction_read_only=on -c TimeZone=UTC") as conn:
        cur = conn.execute(sql, params)
        columns = [c.name for c in cur.description]
        return pd.DataFrame(cur.fetchall(), columns=columns)


def _typed(frame: pd.DataFrame, floats: Iterable[str] = (), ints: Iterable[str] = (),
           texts: Iterable[str] = ()) -> pd.DataFrame:
    frame = frame.astype({**{c: "float64" for c in floats}, **{c: "Int64" for c in ints},
                          **{c: "string" for c in texts}})
    frame["hour"] = pd.to_datetime(frame["hour"], utc=True)
    return frame.set_index("hour").sort_index()


def _context(league: str | None, watchlist: Watchlist | None) -> tuple[Watchlist, str]:
    wl = watchlist or watchlist_from_settings(load_settings())
    return wl, (league or wl.league)


def _as_list(items: str | Iterable[str]) -> list[str]:
    return [items] if isinstance(items, str) else list(items)


def _book_ids(items: str | Iterable[str], wl: Watchlist) -> list[str]:
    """Watched ids of `items` (ids, or the catalogue's paths and names of watched items)."""
    out = []
    for text in _as_list(items):
        item_id = text if text in wl.items else resolve_item(wl.game, text).trade_id
        if item_id not in wl.items:
            raise ValueError(f"{text!r} is not a watched item: its book is not fetched (the watchlist's items: "
                             f"{', '.join(wl.items[:3])}, ...); exchange_prices() reads any item")
        if item_id not in out:
            out.append(item_id)
    return out


def _currency(currency: str | None, wl: Watchlist) -> str:
    currency = (currency or wl.paid_with).lower()
    if currency != wl.paid_with and currency not in CURRENCIES:
        raise ValueError(f"currency {currency!r} must be chaos or divine")
    return currency


def prices(items: str | Iterable[str] | None = None, league: str | None = None, from_: datetime | str | None = None,
           to: datetime | str | None = None, bucket: Bucket = "hour", currency: str | None = None, *,
           url: str | None = None, watchlist: Watchlist | None = None) -> pd.DataFrame:
    """Like `priceSeries`: per item and bucket open/high/low/close of the min price (open and close: the
    first and last hour of the bucket that has a price), the last robust
    minimum (`robust_close`), the depth-aware average price, the last stock and listing count, and
    how many hours the bucket holds; prices in `currency` (default: the watchlist's)."""
    wl, league = _context(league, watchlist)
    if bucket not in _BUCKETS:
        raise ValueError(f"bucket {bucket!r} must be one of {', '.join(_BUCKETS)}")
    currency = _currency(currency, wl)
    ids = _book_ids(items, wl) if items else list(wl.items)
    start, end = _span(from_, to)

    def p(column: str) -> str:
        # the stored column in the stored unit, else the view's `<column>_<currency>` (analytics.convert_price)
        return f"s.{column}" if currency == wl.paid_with else f"s.{column}_{currency}"

    sql = f"""
        WITH h AS (
            SELECT s.item_id, s.observed_hour, {p('min_price')} AS min_price,
                   {p('robust_min_price')} AS robust_min_price, {p('avg_price')} AS avg_price,
                   s.bought, s.total_stock, s.listing_count
            FROM analytics.price_history s
            WHERE s.game = %(game)s AND s.league = %(league)s AND s.paid_with = %(paid)s
              AND s.item_id = ANY(%(items)s) AND s.observed_hour >= %(start)s AND s.observed_hour < %(end)s)
        SELECT item_id, date_trunc(%(unit)s, observed_hour) AS hour,
               (array_agg(min_price ORDER BY observed_hour) FILTER (WHERE min_price IS NOT NULL))[1] AS open,
               max(min_price) AS high, min(min_price) AS low,
               (array_agg(min_price ORDER BY observed_hour DESC) FILTER (WHERE min_price IS NOT NULL))[1] AS close,
               (array_agg(robust_min_price ORDER BY observed_hour DESC)
                   FILTER (WHERE robust_min_price IS NOT NULL))[1] AS robust_close,
               sum(avg_price * bought) / nullif(sum(bought) FILTER (WHERE avg_price IS NOT NULL), 0) AS avg_price,
               (array_agg(total_stock ORDER BY observed_hour DESC))[1] AS stock,
               (array_agg(listing_count ORDER BY observed_hour DESC))[1] AS listing_count,
               count(*) AS hours
        FROM h GROUP BY item_id, date_trunc(%(unit)s, observed_hour)"""
    frame = _read(sql, {"game": wl.game, "league": league,
                        "paid": wl.paid_with, "items": ids, "start": start, "end": end, "unit": bucket}, url)
    frame["currency"] = currency
    return _typed(frame, floats=("open", "high", "low", "close", "robust_close", "avg_price"),
                  ints=("stock", "listing_count", "hours"), texts=("item_id", "currency"))


def exchange_prices(items: str | Iterable[str] | None = None, league: str | None = None,
                    currency: str = "chaos", from_: datetime | str | None = None, to: datetime | str | None = None,
                    realm: str = "pc", *, url: str | None = None,
                    watchlist: Watchlist | None = None) -> pd.DataFrame:
    """Like `exchangePrices`: the Currency Exchange's executed prices quoted in `currency` (the
    market item|currency), volume in item units; `items` (any item of the realm's catalogue, or a
    metadata path it lacks) default: every item that traded. `item_id` is the catalogue id, `item_name`
    the catalogue name (for a path the catalogue lacks, one derived from the path)."""
    wl, league = _context(league, watchlist)
    if currency not in CURRENCIES:
        raise ValueError(f"currency {currency!r} must be chaos or divine")
    game = game_of_realm(realm)
    wanted = [resolve_item(game, text, unlisted_paths=True) for text in _as_list(items)] if items is not None else None
    start, end = _span(from_, to)
    # by path (the catalogue's key), or by the id stored with the row (a path the catalogue spells otherwise)
    sql = """
        SELECT e.observed_hour AS hour, COALESCE(c.item_id, e.item_id) AS item_id, e.item_name,
               e.quote_currency AS currency, e.vwap_price, e.min_price, e.max_price, e.volume, e.quote_volume,
               e.chaos_per_divine
        FROM analytics.exchange_prices e
        LEFT JOIN analytics.exchange_catalogue c ON c.game = %(game)s AND c.item_path = e.item_path
        WHERE e.realm = %(realm)s AND e.league = %(league)s AND e.quote_currency = %(currency)s
          AND e.observed_hour >= %(start)s AND e.observed_hour < %(end)s
          AND (%(ids)s::text[] IS NULL OR e.item_path = ANY(%(paths)s) OR e.item_id = ANY(%(ids)s))"""
    frame = _read(sql, {"realm": realm, "game": game, "league": league, "currency": currency, "start": start,
                        "end": end, "ids": None if wanted is None else [i.id for i in wanted],
                        "paths": None if wanted is None else [i.metadata_path for i in wanted]}, url)
    return _typed(frame, floats=("vwap_price", "min_price", "max_price", "volume", "quote_volume",
                                 "chaos_per_divine"), texts=("item_id", "item_name", "currency"))


def divine_price(league: str | None = None, from_: datetime | str | None = None, to: datetime | str | None = None,
                 realm: str = "pc", *, url: str | None = None, watchlist: Watchlist | None = None) -> pd.DataFrame:
    """Like `divinePrice`: the league's divine price in chaos per hour (executed vwap, min, max), and its
    `source`: `exchange`, or `book` for an hour priced from the order book of divine paid in chaos."""
    _, league = _context(league, watchlist)
    start, end = _span(from_, to)
    frame = _read("SELECT observed_hour AS hour, chaos_per_divine, min_chaos_per_divine, max_chaos_per_divine, "
                  "divine_volume, source FROM analytics.exchange_divine_price WHERE realm = %(realm)s AND league = %(league)s "
                  "AND observed_hour >= %(start)s AND observed_hour < %(end)s",
                  {"realm": realm, "league": league, "start": start, "end": end}, url)
    return _typed(frame, floats=("chaos_per_divine", "min_chaos_per_divine", "max_chaos_per_divine", "divine_volume"),
                  texts=("source",))


def profitability(league: str | None = None, strategy: str | None = None, policy: str | None = None,
                  from_: datetime | str | None = None, to: datetime | str | None = None, *, url: str | None = None,
                  watchlist: Watchlist | None = None) -> pd.DataFrame:
    """Like `profitability`: per strategy, policy and hour the stored economics, in the watchlist's currency;
    `price_source` says whether the hour was priced from order books (`book`) or executed prices (`exchange`)."""
    wl, league = _context(league, watchlist)
    if policy is not None and policy.lower() not in ("top_k", "optimal"):
        raise ValueError(f"policy {policy!r} must be top_k or optimal")
    start, end = _span(from_, to)
    sql = """
        SELECT observed_hour AS hour, strategy, policy, input_item_id, input_unit_cost, reroll_cost,
               expected_rerolls, expected_sale_value, expected_profit_per_unit, expected_profit_total, roi,
               break_even_reroll_cost, price_source
        FROM analytics.reroll_profitability
        WHERE league = %(league)s AND observed_hour >= %(start)s AND observed_hour < %(end)s
          AND (%(strategy)s::text IS NULL OR strategy = %(strategy)s)
          AND (%(policy)s::text IS NULL OR policy = %(policy)s)"""
    frame = _read(sql, {"league": league, "start": start, "end": end, "strategy": strategy,
                        "policy": policy.lower() if policy else None}, url)
    frame["currency"] = wl.paid_with
    return _typed(frame, floats=("input_unit_cost", "reroll_cost", "expected_rerolls", "expected_sale_value",
                                 "expected_profit_per_unit", "expected_profit_total", "roi", "break_even_reroll_cost"),
                  texts=("strategy", "policy", "input_item_id", "currency", "price_source"))


def alerts(from_: datetime | str | None = None, to: datetime | str | None = None, rule: str | None = None,
           league: str | None = None, *, url: str | None = None, watchlist: Watchlist | None = None) -> pd.DataFrame:
    """Like `alerts`: the crossings of the alert rules, value and threshold in the rule's currency."""
    wl, league = _context(league, watchlist)
    start, end = _span(from_, to)
    sql = """
        SELECT observed_hour AS hour, rule, kind, item_id, strategy, policy, source, comparison, threshold, value,
               currency
        FROM analytics.alerts
        WHERE game = %(game)s AND league = %(league)s AND observed_hour >= %(start)s AND observed_hour < %(end)s
          AND (%(rule)s::text IS NULL OR rule = %(rule)s)"""
    frame = _read(sql, {"game": wl.game, "league": league, "start": start, "end": end, "rule": rule}, url)
    return _typed(frame, floats=("threshold", "value"),
                  texts=("rule", "kind", "item_id", "strategy", "policy", "source", "comparison", "currency"))
