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
from tradewatch.market.exchange import CHAOS_PATH
from tradewatch.market_overview.windows import WINDOW, WINDOWS, MarketFigures, WindowSums, figures

CHAOS_KEY = item_storage_key(CHAOS_PATH)  # the chaos orb is the unit, not an item of the overview

# A market counts in a unit's value when it traded (a price) and is in that unit or its
# league-hour has a rate; the rate is the view `divinePrice` and every conversion read.
HOURLY_SQL = """
WITH rates AS (
    SELECT league, observed_hour, chaos_per_divine AS rate
    FROM analytics.exchange_divine_price
    WHERE realm = %(realm)s AND observed_hour >= %(start)s AND observed_hour < %(end)s
      AND chaos_per_divine IS NOT NULL)
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
LEFT JOIN rates r ON r.league = p.league AND r.observed_hour = p.observed_hour
WHERE p.realm = %(realm)s AND p.observed_hour >= %(start)s AND p.observed_hour < %(end)s
  AND p.item_key <> %(chaos)s
GROUP BY p.realm, p.item_key, p.league, p.observed_hour
HAVING sum(p.volume) > 0
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
    params = {"realm": realm, "start": start, "end": end, "chaos": CHAOS_KEY}
    with pool.connection() as conn, conn.transaction():
        report.deleted = conn.execute(
            "DELETE FROM warehouse.market_hourly WHERE realm = %(realm)s AND observed_hour >= %(start)s "
            "AND observed_hour < %(end)s", params).rowcount
        report.rows = conn.execute(HOURLY_SQL, params).rowcount
    return report


def window_sums(rows) -> dict[tuple[str, int], list[WindowSums]]:
    """(league, item key) → its eight windows' sums, from WINDOWS_SQL's rows."""
    out: dict[tuple[str, int], list[WindowSums]] = {}
    for league, key, w, volume, hours, chaos_units, chaos_value, divine_units, divine_value in rows:
        if not 0 <= w < WINDOWS:
            continue
        sums = out.setdefault((league, key), [WindowSums()] * WINDOWS)
        sums[w] = WindowSums(volume, hours, chaos_units, chaos_value, divine_units, divine_value)
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
            with cur.copy(f"COPY warehouse.market_latest ({LATEST_COLUMNS}) FROM STDIN") as copy:
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
