"""Daily bulk files of the warehouse: one Parquet (or CSV) file per realm, league and UTC day.

`DIR/<realm>/<league>/<YYYY-MM-DD>.<parquet|csv>`, for analysts who read history with DuckDB,
polars or pandas instead of paging through the API. Three kinds:

* `exchange`: the Currency Exchange's executed prices, one row per item, market (quote currency)
  and hour, with the price in chaos and in divine;
* `snapshots`: the watchlist's order-book snapshots, one row per item and hour, in chaos and divine;
* `market`: the day of each item of the whole market, one row per item: its volume-weighted price
  in chaos and divine over the day, units, value and the hours it traded in.

The columns (`COLUMNS`, documented in the README) are typed in Parquet and always in this order.
A file is written beside its final name and renamed over it, so a reader sees the old day or the
new one, never half of one; re-running a day replaces its file. A day without rows gets no file.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg

from tradewatch.errors import TradeWatchError
from tradewatch.market_overview.windows import MIN_HOURS, MIN_UNITS

if TYPE_CHECKING:
    import pandas as pd

KINDS = ("exchange", "snapshots", "market")
FORMATS = ("parquet", "csv")
REALMS = ("pc", "poe2", "xbox", "sony")


class DumpError(TradeWatchError):
    """A dump that cannot be written as asked; the message says what to change."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # timestamp, string, float, int, bool
    meaning: str


_ITEM = [
    Column("item_id", "string", "the item's id: its trade-site id where it has one, else its metadata path"),
    Column("item_name", "string", "the item's English name (derived from the path where `named` is false)"),
]
COLUMNS: dict[str, list[Column]] = {
    "exchange": [
        Column("hour", "timestamp", "the UTC hour the trades happened in"),
        Column("realm", "string", "pc, poe2, xbox or sony"),
        Column("league", "string", "the league"),
        *_ITEM,
        Column("category", "string", "the catalogue's category (Currency, Essences, Cards, ...)"),
        Column("metadata_path", "string", "the game's metadata path, the Currency Exchange's key"),
        Column("named", "bool", "false when the catalogue lacks the path and the name is derived from it"),
        Column("quote_currency", "string", "what the item was paid with in this market: chaos or divine"),
        Column("vwap", "float", "quote units paid per item unit over the hour (null: no trade)"),
        Column("min_price", "float", "the lowest executed price of the hour, in the quote currency"),
        Column("max_price", "float", "the highest executed price of the hour, in the quote currency"),
        Column("volume", "float", "item units traded in this market in the hour"),
        Column("quote_volume", "float", "quote units paid for them"),
        Column("chaos_per_divine", "float", "the league-hour's divine price in chaos (null: no rate that hour)"),
        Column("price_chaos", "float", "vwap in chaos (null: no rate to convert with)"),
        Column("price_divine", "float", "vwap in divine (null: no rate to convert with)"),
        Column("low_confidence", "bool", f"the item traded in fewer than {MIN_HOURS} hours of the day or fewer "
                                         f"than {MIN_UNITS:g} units in all its markets that day"),
    ],
    "snapshots": [
        Column("hour", "timestamp", "the UTC hour the order book was observed"),
        Column("game", "string", "poe1 or poe2"),
        Column("league", "string", "the league"),
        *_ITEM,
        Column("paid_with", "string", "the currency the book was asked in"),
        Column("min_price", "float", "the cheapest ask, in paid_with"),
        Column("robust_min_price", "float", "the robust minimum ask (baits left out), in paid_with"),
        Column("avg_price", "float", "the depth-aware average price of the target quantity, in paid_with"),
        Column("listing_count", "int", "listings in the book"),
        Column("total_stock", "float", "units offered in the book"),
        Column("chaos_per_divine", "float", "the league-hour's divine price in chaos (null: no rate that hour)"),
        Column("min_price_chaos", "float", "min_price in chaos"),
        Column("min_price_divine", "float", "min_price in divine"),
        Column("robust_min_price_chaos", "float", "robust_min_price in chaos"),
        Column("robust_min_price_divine", "float", "robust_min_price in divine"),
        Column("avg_price_chaos", "float", "avg_price in chaos"),
        Column("avg_price_divine", "float", "avg_price in divine"),
        Column("simulated", "bool", "true for hours made by `tradewatch simulate-history`, not fetched"),
    ],
    "market": [
        Column("day", "timestamp", "the UTC day (its first hour)"),
        Column("realm", "string", "pc, poe2, xbox or sony"),
        Column("league", "string", "the league"),
        *_ITEM,
        Column("category", "string", "the catalogue's category"),
        Column("named", "bool", "false when the catalogue lacks the path"),
        Column("price_chaos", "float", "Σ value / Σ units over the day in chaos, across the item's chaos and "
                                       "divine markets (each converted with its hour's rate)"),
        Column("price_divine", "float", "the same in divine"),
        Column("volume", "float", "item units traded in the day (every market, with or without a rate)"),
        Column("value_chaos", "float", "Σ value of the day in chaos"),
        Column("value_divine", "float", "Σ value of the day in divine"),
        Column("hours", "int", "hours of the day the item traded in"),
        Column("low_confidence", "bool", f"fewer than {MIN_HOURS} hours or fewer than {MIN_UNITS:g} units, or "
                                         "no price"),
    ],
}

_EXCHANGE_SQL = """
WITH day AS MATERIALIZED (  -- the item's day across its markets, for the confidence flag
    SELECT item_key, count(DISTINCT observed_hour) AS hours, sum(volume) AS units
    FROM warehouse.exchange_prices
    WHERE realm = %(realm)s AND league = %(league)s AND observed_hour >= %(start)s AND observed_hour < %(end)s
      AND volume > 0
    GROUP BY item_key
), rates AS MATERIALIZED (  -- the day's 24 rates, read once (a join of the view per row plans badly)
    SELECT observed_hour, chaos_per_divine FROM analytics.exchange_divine_price
    WHERE realm = %(realm)s AND league = %(league)s AND observed_hour >= %(start)s AND observed_hour < %(end)s
)
SELECT p.observed_hour AS hour, p.realm, p.league, c.id AS item_id, c.name AS item_name, c.category,
       c.item_path AS metadata_path, c.named, p.quote_currency, p.vwap_price AS vwap, p.min_price, p.max_price,
       p.volume, p.quote_volume, d.chaos_per_divine,
       analytics.convert_price(p.vwap_price, p.quote_currency, 'chaos', d.chaos_per_divine) AS price_chaos,
       analytics.convert_price(p.vwap_price, p.quote_currency, 'divine', d.chaos_per_divine) AS price_divine,
       coalesce(day.hours < %(min_hours)s OR day.units < %(min_units)s, true) AS low_confidence
FROM warehouse.exchange_prices p
JOIN warehouse.exchange_catalogue c ON c.game = warehouse.realm_game(%(realm)s) AND c.item_key = p.item_key
LEFT JOIN day ON day.item_key = p.item_key
LEFT JOIN rates d ON d.observed_hour = p.observed_hour
WHERE p.realm = %(realm)s AND p.league = %(league)s AND p.observed_hour >= %(start)s AND p.observed_hour < %(end)s
ORDER BY p.observed_hour, c.id, p.quote_currency
"""

_SNAPSHOTS_SQL = """
WITH rates AS MATERIALIZED (  -- the day's 24 rates, read once, as analytics.price_history reads them
    SELECT observed_hour, chaos_per_divine FROM analytics.exchange_divine_price
    WHERE realm = %(realm)s AND league = %(league)s AND observed_hour >= %(start)s AND observed_hour < %(end)s
)
SELECT s.observed_hour AS hour, s.game, s.league, s.item_id,
       COALESCE(i.item_name, initcap(replace(s.item_id, '-', ' '))) AS item_name, s.paid_with, s.min_price,
       s.robust_min_price, s.avg_price, s.listing_count, s.total_stock::double precision, d.chaos_per_divine,
       analytics.convert_price(s.min_price, s.paid_with, 'chaos', d.chaos_per_divine) AS min_price_chaos,
       analytics.convert_price(s.min_price, s.paid_with, 'divine', d.chaos_per_divine) AS min_price_divine,
       analytics.convert_price(s.robust_min_price, s.paid_with, 'chaos', d.chaos_per_divine) AS robust_min_price_chaos,
       analytics.convert_price(s.robust_min_price, s.paid_with, 'divine', d.chaos_per_divine)
           AS robust_min_price_divine,
       analytics.convert_price(s.avg_price, s.paid_with, 'chaos', d.chaos_per_divine) AS avg_price_chaos,
       analytics.convert_price(s.avg_price, s.paid_with, 'divine', d.chaos_per_divine) AS avg_price_divine,
       s.simulated
FROM warehouse.price_snapshots s
LEFT JOIN warehouse.items i ON i.game = s.game AND i.item_id = s.item_id
LEFT JOIN rates d ON d.observed_hour = s.observed_hour
WHERE s.game = warehouse.realm_game(%(realm)s) AND s.league = %(league)s
  AND s.observed_hour >= %(start)s AND s.observed_hour < %(end)s
ORDER BY s.observed_hour, s.item_id, s.paid_with
"""

_MARKET_SQL = """
SELECT %(start)s::timestamptz AS day, m.realm, m.league, c.id AS item_id, c.name AS item_name, c.category, c.named,
       sum(m.chaos_value) / nullif(sum(m.chaos_units), 0) AS price_chaos,
       sum(m.divine_value) / nullif(sum(m.divine_units), 0) AS price_divine,
       sum(m.volume) AS volume,
       CASE WHEN sum(m.chaos_units) > 0 THEN sum(m.chaos_value) END AS value_chaos,
       CASE WHEN sum(m.divine_units) > 0 THEN sum(m.divine_value) END AS value_divine,
       count(*)::int AS hours,
       (count(*) < %(min_hours)s OR sum(m.volume) < %(min_units)s OR sum(m.chaos_units) = 0) AS low_confidence
FROM warehouse.market_hourly m
JOIN warehouse.exchange_catalogue c ON c.game = warehouse.realm_game(%(realm)s) AND c.item_key = m.item_key
WHERE m.realm = %(realm)s AND m.league = %(league)s AND m.observed_hour >= %(start)s AND m.observed_hour < %(end)s
GROUP BY m.realm, m.league, c.id, c.name, c.category, c.named
ORDER BY c.id
"""

_SQL = {"exchange": _EXCHANGE_SQL, "snapshots": _SNAPSHOTS_SQL, "market": _MARKET_SQL}
_PANDAS = {"timestamp": "datetime64[ns, UTC]", "string": "string", "float": "float64", "int": "Int64",
           "bool": "boolean"}


def day_frame(conn: psycopg.Connection, kind: str, realm: str, league: str, day: date) -> pd.DataFrame:
    """The rows of one kind for one realm, league and UTC day, typed and in the documented order."""
    start = datetime.combine(day, time(), tzinfo=timezone.utc)
    params = {"realm": realm, "league": league, "start": start, "end": start + timedelta(days=1),
              "min_hours": MIN_HOURS, "min_units": MIN_UNITS}
    cur = conn.execute(_SQL[kind], params)
    names = [d.name for d in cur.description]
    expected = [c.name for c in COLUMNS[kind]]
    if names != expected:  # a programming error, never the user's
        raise AssertionError(f"{kind} SQL columns {names} differ from the documented {expected}")
    import pandas as pd  # here: the code location imports this module, and pandas is half a second of every start

    frame = pd.DataFrame(cur.fetchall(), columns=names)
    return frame.astype({c.name: _PANDAS[c.type] for c in COLUMNS[kind]})


def day_path(out: Path, realm: str, league: str, day: date, fmt: str) -> Path:
    """`out/<realm>/<league>/<YYYY-MM-DD>.<fmt>`; a league name is kept as it is spelled, except `/`."""
    return out / realm / league.replace("/", "_") / f"{day.isoformat()}.{fmt}"


def write_atomically(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    """Write the file beside `path` and rename it over it: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        if fmt == "parquet":
            frame.to_parquet(tmp, engine="pyarrow", index=False)
        else:
            frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%SZ")
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class DayWritten:
    day: date
    path: Path | None  # None: no rows that day, no file
    rows: int


def validate(kind: str | None, realm: str, fmt: str, start: date, end: date) -> None:
    """Refuse a request that cannot be written, saying what to change (`kind` None: every kind)."""
    if kind is not None and kind not in KINDS:
        raise DumpError(f"--what {kind!r} is not known; choose one of {', '.join(KINDS)}")
    if realm not in REALMS:
        raise DumpError(f"--realm {realm!r} is not known; choose one of {', '.join(REALMS)}")
    if fmt not in FORMATS:
        raise DumpError(f"--format {fmt!r} is not known; choose parquet or csv")
    if end <= start:
        raise DumpError(f"--to {end} must come after --from {start} (--to is excluded: "
                        f"--from {start} --to {start + timedelta(days=1)} writes one day)")


_ANY_HOUR = {"start": datetime.min.replace(tzinfo=timezone.utc), "end": datetime.max.replace(tzinfo=timezone.utc)}


def _check_league(conn: psycopg.Connection, kind: str, realm: str, league: str) -> None:
    """A league without a single stored row of this kind in the realm is refused, naming those that have."""
    table = {"exchange": "warehouse.exchange_prices WHERE realm = %(realm)s",
             "market": "warehouse.market_hourly WHERE realm = %(realm)s",
             "snapshots": "warehouse.price_snapshots WHERE game = warehouse.realm_game(%(realm)s)"}[kind]
    params = {"realm": realm, "league": league, **_ANY_HOUR}
    if conn.execute(f"SELECT 1 FROM {table} AND league = %(league)s LIMIT 1", params).fetchone():
        return
    known = [r[0] for r in conn.execute(_LEAGUES_SQL[kind], params).fetchall()]
    raise DumpError(f"league {league!r} has no stored {kind} rows in realm {realm}; "
                    + (f"stored leagues: {', '.join(known)}" if known else "nothing of that kind is stored yet")
                    + " (--league takes the league as the trade site spells it)")


def export_days(database_url: str, kind: str, realm: str, league: str, start: date, end: date, fmt: str,
                out: Path) -> list[DayWritten]:
    """Write one file per UTC day in [start, end) and say what was written."""
    validate(kind, realm, fmt, start, end)
    written: list[DayWritten] = []
    with psycopg.connect(database_url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        _check_league(conn, kind, realm, league)
        day = start
        while day < end:
            frame = day_frame(conn, kind, realm, league, day)
            conn.rollback()  # one short read transaction per day, not one for the whole range
            if len(frame):
                path = day_path(out, realm, league, day, fmt)
                write_atomically(frame, path, fmt)
                written.append(DayWritten(day, path, len(frame)))
            else:
                written.append(DayWritten(day, None, 0))
            day += timedelta(days=1)
    return written


_LEAGUES_SQL = {
    "exchange": "SELECT DISTINCT league FROM warehouse.exchange_prices WHERE realm = %(realm)s "
                "AND observed_hour >= %(start)s AND observed_hour < %(end)s ORDER BY league",
    "market": "SELECT DISTINCT league FROM warehouse.market_hourly WHERE realm = %(realm)s "
              "AND observed_hour >= %(start)s AND observed_hour < %(end)s ORDER BY league",
    "snapshots": "SELECT DISTINCT league FROM warehouse.price_snapshots WHERE game = warehouse.realm_game(%(realm)s) "
                 "AND observed_hour >= %(start)s AND observed_hour < %(end)s ORDER BY league",
}


def dump_days(database_url: str, realm: str, start: date, end: date, out: Path,
              fmt: str = "parquet") -> list[tuple[str, str, DayWritten]]:
    """Every kind for every league with rows, per UTC day in [start, end): what the daily asset writes.
    Returns (kind, league, what was written) for each file."""
    validate(None, realm, fmt, start, end)
    done: list[tuple[str, str, DayWritten]] = []
    with psycopg.connect(database_url) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        day = start
        while day < end:
            first = datetime.combine(day, time(), tzinfo=timezone.utc)
            window = {"realm": realm, "start": first, "end": first + timedelta(days=1)}
            for kind in KINDS:
                leagues = [r[0] for r in conn.execute(_LEAGUES_SQL[kind], window).fetchall()]
                for league in leagues:
                    frame = day_frame(conn, kind, realm, league, day)
                    path = day_path(out / kind, realm, league, day, fmt)
                    write_atomically(frame, path, fmt)
                    done.append((kind, league, DayWritten(day, path, len(frame))))
            conn.rollback()
            day += timedelta(days=1)
    return done
