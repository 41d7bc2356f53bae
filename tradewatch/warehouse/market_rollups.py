"""The market overview's rollups (`warehouse.market_hourly`, `warehouse.market_latest`), from exchange prices.

`compute_market_hourly` replaces a window of hours of a realm's hourly rollup in one
transaction (delete + INSERT … SELECT from `warehouse.exchange_prices` and the league-hours'
chaos/divine rates): readers see the old hours or the new ones. `compute_market_latest`
rebuilds the realm's "latest" table for its newest stored hour in one transaction: it sums
the newest 192 hours of the hourly rollup into eight 24-hour windows per (league, item) in
SQL and turns them into figures with the pure rules of `tradewatch.market_overview.windows`.

Neither reads a raw document; both are a few hundred milliseconds for a realistic hour.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from psycopg_pool import ConnectionPool

from tradewatch.currency_exchange.catalog import item_storage_key
from tradewatch.market.exchange import CHAOS_PATH, DIVINE_PATH
from tradewatch.market_overview.windows import WINDOW, WINDOWS, MarketFigures, WindowSums, figures

CHAOS_KEY = item_storage_key(CHAOS_PATH)  # the chaos orb is the unit, not an item of the overview
DIVINE_KEY = item_storage_key(DIVINE_PATH)

# A market counts in a unit's value when it traded (a price) and is in that unit or its
# league-hour has a rate. The rate is the one of analytics.exchange_divine_price (what
# `divinePrice` and every conversion read): the exchange's divine|chaos market of the hour
# where it has a row, else the order book's; written out here as two lookups by primary key
# (LATERAL with OFFSET 0, so they are not pulled up: always parameterized index probes), because on fresh, unanalyzed rows the planner
# joined the view (or a CTE of its rates) as a nested loop over every rate: 13-90 s for 200 hours.
HOURLY_SQL = """
INSERT INTO warehouse.market_hourly (realm, item_key, league, observed_hour, volume, chaos_units, chaos_value,
                                     divine_units, divine_value, markets)
SELECT p.realm, p.item_key, p.league, p.observed_hour, sum(p.volume),
       coalesce(sum(p.volume) FILTER (WHERE p.vwap_price IS NOT NULL
                                        AND (p.quote_currency = 'chaos' OR r.rate IS NOT NULL)), 0),
       coalesce(sum(CASE WHEN p.quote_currency = 'chaos' THEN p.quote_volume ELSE p.quote_volume * r.rate END)
                FILTER (WHERE p.vwap_price IS NOT NULL AND (p.quote_currency = 'chaos' OR r.rate IS NOT NULL)), 0),
       coalesce(sum(p.volume) FILTER (WHERE p.vwap_price IS NOT NULL
                                        AND (p.quote_currency = 'divine' OR r.rate IS NOT NULL)), 0),
       coalesce(sum(CASE WHEN p.quote_currency = 'divine' THEN p.quote_volume ELSE p.quote_volume / r.rate END)
                FILTER (WHERE p.vwap_price IS NOT NULL AND (p.quote_currency = 'divine' OR r.rate IS NOT NULL)), 0),
       count(*)
FROM warehouse.exchange_prices p
LEFT JOIN LATERAL (
    SELECT true AS found, d.vwap_price FROM warehouse.exchange_prices d
    WHERE d.realm = p.realm AND d.league = p.league AND d.item_key = %(divine)s AND d.quote_currency = 'chaos'
      AND d.observed_hour = p.observed_hour OFFSET 0) d ON true
LEFT JOIN LATERAL (
    SELECT b.chaos_per_divine FROM warehouse.book_divine_prices b
    WHERE d.found IS NULL AND b.game = CASE WHEN p.realm = 'poe2' THEN 'poe2' ELSE 'poe1' END
      AND b.league = p.league AND b.observed_hour = p.observed_hour OFFSET 0) b ON true
CROSS JOIN LATERAL (SELECT CASE WHEN d.found THEN d.vwap_price ELSE b.chaos_per_divine END AS rate) r
WHERE p.realm = %(realm)s AND p.observed_hour >= %(start)s AND p.observed_hour < %(end)s
  AND p.item_key <> %(chaos)s
GROUP BY p.realm, p.item_key, p.league, p.observed_hour
HAVING sum(p.volume) > 0
"""

# a league's first and last traded hour only ever widen: a window re-run never narrows them
LEAGUES_SQL = """
INSERT INTO warehouse.market_leagues (realm, league, first_hour, last_hour)
SELECT realm, league, min(observed_hour), max(observed_hour) FROM warehouse.market_hourly
WHERE realm = %(realm)s AND observed_hour >= %(start)s AND observed_hour < %(end)s
GROUP BY realm, league
ON CONFLICT (realm, league) DO UPDATE SET first_hour = least(market_leagues.first_hour, EXCLUDED.first_hour),
                                          last_hour = greatest(market_leagues.last_hour, EXCLUDED.last_hour)
"""

# the newest hour of the realm the exchange prices hold (an index scan from the newest end)
NEWEST_SQL = """
SELECT max(observed_hour) FROM warehouse.exchange_prices WHERE realm = %(realm)s
"""

WINDOWS_SQL = """
SELECT league, item_key, floor(extract(epoch FROM %(hour)s::timestamptz - observed_hour) / 86400)::int AS w,
       sum(volume), count(*), sum(chaos_units), sum(chaos_value), sum(divine_units), sum(divine_value)
FROM warehouse.market_hourly
WHERE realm = %(realm)s AND observed_hour > %(since)s AND observed_hour <= %(hour)s
GROUP BY 1, 2, 3
"""

LATEST_COLUMNS = ("realm, league, item_key, hour, volume24h, hours24h, low_confidence, chaos_price, chaos_change24h, "
                  "chaos_change7d, chaos_value24h, chaos_sparkline, divine_price, divine_change24h, divine_change7d, "
                  "divine_value24h, divine_sparkline")

LATEST_TYPES = ["text", "text", "int8", "timestamptz", "float8", "int4", "bool", "float8", "float8", "float8", "float8",
                "float8[]", "float8", "float8", "float8", "float8", "float8[]"]


@dataclass
class HourlyReport:
    realm: str
    start: datetime
    end: datetime
    rows: int = 0
    deleted: int = 0


@dataclass
class LatestReport:
    realm: str
    hour: datetime | None = None
    rows: int = 0
    leagues: dict[str, int] = field(default_factory=dict)
    low_confidence: int = 0


def compute_market_hourly(pool: ConnectionPool, realm: str, start: datetime, end: datetime) -> HourlyReport:
    """Replace [start, end) of the realm's hourly market rollup atomically."""
    if not start < end:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    report = HourlyReport(realm, start, end)
    params = {"realm": realm, "start": start, "end": end, "chaos": CHAOS_KEY, "divine": DIVINE_KEY}
    with pool.connection() as conn, conn.transaction():
        report.deleted = conn.execute(
            "DELETE FROM warehouse.market_hourly WHERE realm = %(realm)s AND observed_hour >= %(start)s "
            "AND observed_hour < %(end)s", params).rowcount
        report.rows = conn.execute(HOURLY_SQL, params).rowcount
        conn.execute(LEAGUES_SQL, params)
    return report


def window_sums(rows) -> dict[tuple[str, int], list[WindowSums]]:
    """(league, item key) → its eight windows' sums, from WINDOWS_SQL's rows."""
    out: dict[tuple[str, int], list[WindowSums]] = {}
    empty = [WindowSums()] * WINDOWS
    for league, key, w, *values in rows:
        if 0 <= w < WINDOWS:
            sums = out.get((league, key))
            if sums is None:
                sums = out[(league, key)] = empty.copy()
            sums[w] = WindowSums(*values)
    return out


def _row(realm: str, league: str, key: int, hour: datetime, f: MarketFigures) -> tuple:
    c, d = f.chaos, f.divine
    return (realm, league, key, hour, f.volume24h, f.hours24h, f.low_confidence,
            c.price, c.change24h, c.change7d, c.value24h, list(c.sparkline),
            d.price, d.change24h, d.change7d, d.value24h, list(d.sparkline))


def compute_market_latest(pool: ConnectionPool, realm: str, hour: datetime | None = None) -> LatestReport:
    """Rebuild the realm's latest market for `hour` (default: the newest stored hour) atomically.

    The rows are the items that traded in a league within W0 … W6."""
    report = LatestReport(realm)
    with pool.connection() as conn, conn.transaction():
        if hour is None:
            hour = conn.execute(NEWEST_SQL, {"realm": realm}).fetchone()[0]
        report.hour = hour
        conn.execute("DELETE FROM warehouse.market_latest WHERE realm = %s", (realm,))
        if hour is None:
            conn.execute("DELETE FROM warehouse.market_state WHERE realm = %s", (realm,))
            return report
        # ~200k hourly rows into ~30k groups: hashed in memory rather than sorted through temp files
        conn.execute("SET LOCAL work_mem = '64MB'")
        rows = conn.execute(WINDOWS_SQL, {"realm": realm, "hour": hour, "since": hour - WINDOW * WINDOWS}).fetchall()
        out = []
        for (league, key), sums in window_sums(rows).items():
            if not any(s.volume > 0 for s in sums[:WINDOWS - 1]):  # traded only in W7: not a row
                continue
            f = figures(sums)
            out.append(_row(realm, league, key, hour, f))
            report.leagues[league] = report.leagues.get(league, 0) + 1
            report.low_confidence += f.low_confidence
        with conn.cursor() as cur:
            with cur.copy(f"COPY warehouse.market_latest ({LATEST_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(LATEST_TYPES)
                for row in out:
                    copy.write_row(row)
        conn.execute(
            "INSERT INTO warehouse.market_state (realm, hour, rows, computed_at) VALUES (%s, %s, %s, now()) "
            "ON CONFLICT (realm) DO UPDATE SET hour = EXCLUDED.hour, rows = EXCLUDED.rows, computed_at = now()",
            (realm, hour, len(out)))
        report.rows = len(out)
    return report


__all__ = ["CHAOS_KEY", "HourlyReport", "LatestReport", "compute_market_hourly", "compute_market_latest",
           "window_sums"]
