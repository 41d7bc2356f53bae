"""The market overview's rollups (`warehouse.market_hourly`, `warehouse.market_latest`), from exchange prices.

`compute_market_hourly` replaces a window of hours of a realm's hourly rollup in one
transaction (delete + INSERT … SELECT from `warehouse.exchange_prices` and the league-hours'
chaos/divine rates): readers see the old hours or the new ones. The rollup is stored packed, one
row of arrays per hour and league (`warehouse.market_hours`, migration 0021), and read per item
through the view `warehouse.market_hourly`. `compute_market_latest`
brings the realm's "latest" table to its newest stored hour in one transaction. It keeps the
sums of the eight 24-hour windows per (league, item) in `warehouse.market_windows` (exact
numeric sums). Each hour it steps them: the hour entering each window is added and the one
leaving it subtracted, reading nine slices of the hourly rollup instead of 192 hours. Only the
items whose sums changed get new rows, their figures computed in the same transaction by the rules
of `tradewatch.market_overview.windows` written in SQL (`LATEST_SELECT`; a test holds them equal to
`figures`): the sums never leave PostgreSQL. A rewrite of hours the windows already counted (a re-run,
a backfill) marks them invalid, and the next run rebuilds them from the hourly rollup. A step
and a rebuild end in the same rows.

Neither reads a raw document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psycopg_pool import ConnectionPool

from tradewatch.currency_exchange.catalog import item_storage_key
from tradewatch.market.exchange import CHAOS_PATH, DIVINE_PATH
from tradewatch.market_overview.windows import MIN_HOURS, MIN_UNITS, SPARKLINE, WINDOW, WINDOWS, WindowSums

CHAOS_KEY = item_storage_key(CHAOS_PATH)  # the chaos orb is the unit, not an item of the overview
DIVINE_KEY = item_storage_key(DIVINE_PATH)

# A market counts in a unit's value when it traded (a price) and is in that unit or its
# league-hour has a rate. The rate is the one of analytics.exchange_divine_price (what
# `divinePrice` and every conversion read): the exchange's divine|chaos market of the hour
# where it has a row, else the order book's; written out here as two lookups by primary key
# (LATERAL with OFFSET 0, so they are not pulled up: always parameterized index probes), because on fresh, unanalyzed rows the planner
# joined the view (or a CTE of its rates) as a nested loop over every rate: 13-90 s for 200 hours.
HOURLY_SQL = """
INSERT INTO warehouse.market_hours (realm, observed_hour, league, item_keys, volume, chaos_units, chaos_value,
                                    divine_units, divine_value, markets)
SELECT realm, observed_hour, league, array_agg(item_key ORDER BY item_key), array_agg(volume ORDER BY item_key),
       array_agg(chaos_units ORDER BY item_key), array_agg(chaos_value ORDER BY item_key),
       array_agg(divine_units ORDER BY item_key), array_agg(divine_value ORDER BY item_key),
       array_agg(markets ORDER BY item_key)
FROM (
SELECT p.realm, p.item_key, p.league, p.observed_hour, sum(p.volume) AS volume,
       coalesce(sum(p.volume) FILTER (WHERE p.vwap_price IS NOT NULL
                                        AND (p.quote_currency = 'chaos' OR r.rate IS NOT NULL)), 0) AS chaos_units,
       coalesce(sum(CASE WHEN p.quote_currency = 'chaos' THEN p.quote_volume ELSE p.quote_volume * r.rate END)
                FILTER (WHERE p.vwap_price IS NOT NULL AND (p.quote_currency = 'chaos' OR r.rate IS NOT NULL)), 0)
           AS chaos_value,
       coalesce(sum(p.volume) FILTER (WHERE p.vwap_price IS NOT NULL
                                        AND (p.quote_currency = 'divine' OR r.rate IS NOT NULL)), 0) AS divine_units,
       coalesce(sum(CASE WHEN p.quote_currency = 'divine' THEN p.quote_volume ELSE p.quote_volume / r.rate END)
                FILTER (WHERE p.vwap_price IS NOT NULL AND (p.quote_currency = 'divine' OR r.rate IS NOT NULL)), 0)
           AS divine_value,
       count(*)::smallint AS markets
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
HAVING sum(p.volume) > 0) a
GROUP BY realm, observed_hour, league
"""

# a league's first and last traded hour only ever widen: a window re-run never narrows them
LEAGUES_SQL = """
INSERT INTO warehouse.market_leagues (realm, league, first_hour, last_hour)
SELECT realm, league, min(observed_hour), max(observed_hour) FROM warehouse.market_hours
WHERE realm = %(realm)s AND observed_hour >= %(start)s AND observed_hour < %(end)s
GROUP BY realm, league
ON CONFLICT (realm, league) DO UPDATE SET first_hour = least(market_leagues.first_hour, EXCLUDED.first_hour),
                                          last_hour = greatest(market_leagues.last_hour, EXCLUDED.last_hour)
"""

# The per-market totals of item pages (warehouse.market_pairs, migration 0020): the exchange-price rows of the
# hours `hours` (an array, or one window [start, end)) summed per market, in exact numeric sums.
PAIRS_SELECT = """
SELECT realm, item_key, league, quote_currency, count(*) AS hours, sum(volume::numeric) AS volume,
       sum(quote_volume::numeric) AS quote_volume, min(observed_hour) AS first_hour, max(observed_hour) AS last_hour,
       min(observed_hour) FILTER (WHERE volume > 0) AS traded_first,
       max(observed_hour) FILTER (WHERE volume > 0) AS traded_last
FROM warehouse.exchange_prices
WHERE realm = %(realm)s AND {hours} AND item_key <> %(chaos)s
GROUP BY realm, item_key, league, quote_currency
"""
WINDOW_HOURS = "observed_hour >= %(start)s AND observed_hour < %(end)s"
# added to them (a new market inserted); LEAST/GREATEST skip a null
PAIRS_ADD_SQL = f"""
INSERT INTO warehouse.market_pairs AS m (realm, item_key, league, quote_currency, hours, volume, quote_volume,
                                         first_hour, last_hour, traded_first, traded_last)
{PAIRS_SELECT.replace("{hours}", WINDOW_HOURS)}
ON CONFLICT (realm, item_key, league, quote_currency) DO UPDATE SET
    hours = m.hours + EXCLUDED.hours, volume = m.volume + EXCLUDED.volume,
    quote_volume = m.quote_volume + EXCLUDED.quote_volume, first_hour = least(m.first_hour, EXCLUDED.first_hour),
    last_hour = greatest(m.last_hour, EXCLUDED.last_hour), traded_first = least(m.traded_first, EXCLUDED.traded_first),
    traded_last = greatest(m.traded_last, EXCLUDED.traded_last)
"""
# the hours of the window with rows, now counted
PAIRS_HOURS_SQL = """
INSERT INTO warehouse.market_pairs_hours (realm, observed_hour)
SELECT DISTINCT realm, observed_hour FROM warehouse.exchange_prices
WHERE realm = %(realm)s AND observed_hour >= %(start)s AND observed_hour < %(end)s AND item_key <> %(chaos)s
"""
# every counted hour summed anew (a semi-join: each hour read through the exchange prices' hour index)
PAIRS_REBUILD_SQL = "INSERT INTO warehouse.market_pairs " + PAIRS_SELECT.replace(
    "{hours}", "observed_hour IN (SELECT observed_hour FROM warehouse.market_pairs_hours WHERE realm = %(realm)s)")

# hours the latest market's windows already counted were rewritten: its next run rebuilds them
INVALIDATE_SQL = """
UPDATE warehouse.market_state SET windows_valid = false
WHERE realm = %(realm)s AND windows_valid AND %(start)s <= hour AND %(end)s > hour - interval '192 hours'
"""

# the newest hour of the realm the exchange prices hold (an index scan from the newest end)
NEWEST_SQL = """
SELECT max(observed_hour) FROM warehouse.exchange_prices WHERE realm = %(realm)s
"""

# the window sums of market_windows, one array entry per window (W0 first; see migration 0018)
SUMS = ("volume", "hours", "chaos_units", "chaos_value", "divine_units", "divine_value")


def _per_window(expression: str, total: str) -> str:
    """ARRAY[W0 … W7] of `total` over the rows whose window `w` is each index (0 where none)."""
    return "ARRAY[" + ", ".join(f"coalesce({total.format(e=expression, i=i)}, 0)" for i in range(WINDOWS)) + "]"


# the six arrays of an item from its rows `h` of (window w, the window's six sums)
_ITEM_ARRAYS = ", ".join(_per_window(f"h.{c}", "sum({e}) FILTER (WHERE w = {i})") if c != "hours"
                         else _per_window("h.hours", "(sum({e}) FILTER (WHERE w = {i}))::int") for c in SUMS)


_RETURNING = "RETURNING league, item_key, " + ", ".join(f"{c}::float8[]" if c != "hours" else c for c in SUMS)


def _into_changed(sql: str) -> str:
    """`sql` (INSERT … RETURNING the windows) with its rows kept in market_changed."""
    return f"WITH w AS ({sql}) INSERT INTO market_changed SELECT * FROM w"

# The windows of every (league, item) in full, summed as numeric (exact)
FULL_WINDOWS_SQL = f"""
WITH d AS (  -- per item and window first, then one row of arrays per item (as the step)
    SELECT league, item_key, floor(extract(epoch FROM %(hour)s::timestamptz - observed_hour) / 86400)::int AS w,
           count(*) AS hours, {', '.join(f"sum({c}::numeric) AS {c}" for c in SUMS if c != "hours")}
    FROM warehouse.market_hourly
    WHERE realm = %(realm)s AND observed_hour > %(hour)s::timestamptz - interval '192 hours'
      AND observed_hour <= %(hour)s
    GROUP BY 1, 2, 3)
INSERT INTO warehouse.market_windows AS m (realm, league, item_key, {', '.join(SUMS)})
SELECT %(realm)s, h.league, h.item_key, {_ITEM_ARRAYS}
FROM d AS h
GROUP BY h.league, h.item_key
{_RETURNING}
"""

# One step from the windows of hour `old` to those of `new` (0 < new − old <= 24 h). An hourly row at t moves
# from window k − 1 to window k exactly when old − 24k h < t <= new − 24k h (k = 0: it enters W0; k = 8: it
# leaves W7), so only those nine slices of hours are read. With s_k an item's sum over slice k, window w gains
# slice w and loses slice w + 1: its change is s_w − s_(w+1), one aggregate pass over the slices' rows.
def _slice_sum(column: str, k: int) -> str:
    """An item's sum of `column` over slice k (numeric, as a rebuild sums it)."""
    total = "count(*)" if column == "hours" else f"sum(h.{column}::numeric)"
    return f"coalesce({total} FILTER (WHERE k = {k}), 0)"


def _step_windows_sql() -> str:
    arrays = ", ".join("ARRAY[" + ", ".join(f"{_slice_sum(c, w)} - {_slice_sum(c, w + 1)}"
                                           for w in range(WINDOWS)) + "]" + ("::int[]" if c == "hours" else "")
                       for c in SUMS)
    return f"""
INSERT INTO warehouse.market_windows AS m (realm, league, item_key, {', '.join(SUMS)})
SELECT %(realm)s, h.league, h.item_key, {arrays}
FROM generate_series(0, 8) AS k
CROSS JOIN LATERAL (  -- OFFSET 0: each slice an index range scan (joined, the planner scans every hour)
    SELECT * FROM warehouse.market_hourly h WHERE h.realm = %(realm)s
       AND h.observed_hour > %(old)s::timestamptz - k * interval '24 hours'
       AND h.observed_hour <= %(new)s::timestamptz - k * interval '24 hours' OFFSET 0) h
GROUP BY h.league, h.item_key
ON CONFLICT (realm, league, item_key) DO UPDATE SET
{(',' + chr(10)).join(f"    {c} = ARRAY[" + ", ".join(f"m.{c}[{i}] + EXCLUDED.{c}[{i}]" for i in range(1, WINDOWS + 1)) + "]"
                      for c in SUMS)}
{_RETURNING}
"""


STEP_WINDOWS_SQL = _step_windows_sql()

# The windows a run changed, as it returned them (float8, as the figures read them), kept for the statements
# below: one row per (league, item) stepped or rebuilt
CHANGED_TABLE_SQL = """
CREATE TEMPORARY TABLE market_changed (league text, item_key bigint, volume float8[], hours int[],
    chaos_units float8[], chaos_value float8[], divine_units float8[], divine_value float8[]) ON COMMIT DROP
"""

# an item whose hours all left W7 holds exact zeros: not kept (a full rebuild has no such row)
EMPTY_WINDOWS_SQL = """
DELETE FROM warehouse.market_windows m USING market_changed a
WHERE m.realm = %(realm)s AND m.league = a.league AND m.item_key = a.item_key AND a.hours = '{0,0,0,0,0,0,0,0}'
"""


def _price(unit: str, i: int) -> str:
    """price(W[i − 1]) in `unit` of a market_changed row `a` (WindowSums.price: value / units, null without both)."""
    return f"CASE WHEN a.{unit}_units[{i}] > 0 AND a.{unit}_value[{i}] > 0 THEN a.{unit}_value[{i}] / a.{unit}_units[{i}] END"


def _unit_figures(unit: str) -> str:
    """price, change24h, change7d, value24h and sparkline in `unit` (windows.figures, in SQL: the same float8 math)."""
    p = [_price(unit, i) for i in range(1, WINDOWS + 1)]
    return (f"{p[0]}, ({p[0]}) / ({p[1]}) - 1.0, ({p[0]}) / ({p[7]}) - 1.0, "
            f"CASE WHEN a.{unit}_units[1] > 0 THEN a.{unit}_value[1] END, "
            f"ARRAY[{', '.join(p[i] for i in range(SPARKLINE - 1, -1, -1))}]::float8[]")


# a row of the overview: traded within W0 … W6
_TRADED = "(" + " OR ".join(f"a.volume[{i}] > 0" for i in range(1, WINDOWS)) + ")"

# the latest rows of the changed windows that are rows of the overview, figures computed as windows.figures does
LATEST_SELECT = f"""
SELECT %(realm)s, a.league, a.item_key, a.volume[1], a.hours[1],
       coalesce({_price("chaos", 1)}, {_price("divine", 1)}) IS NULL OR a.hours[1] < {MIN_HOURS}
           OR a.volume[1] < {MIN_UNITS!r},
       {_unit_figures("chaos")}, {_unit_figures("divine")}
FROM market_changed a WHERE {_TRADED}
ORDER BY a.league, a.item_key
"""

LATEST_COLUMNS = ("realm, league, item_key, volume24h, hours24h, low_confidence, chaos_price, chaos_change24h, "
                  "chaos_change7d, chaos_value24h, chaos_sparkline, divine_price, divine_change24h, divine_change7d, "
                  "divine_value24h, divine_sparkline")

# a step updates its rows in place (HOT, fillfactor 50, migration 0018), so a league's rows stay on the pages a
# rebuild wrote them to and `market` reads a few pages, not one per row
UPSERT_LATEST_SQL = f"""
INSERT INTO warehouse.market_latest AS m ({LATEST_COLUMNS}) {LATEST_SELECT}
ON CONFLICT (realm, league, item_key) DO UPDATE SET
{", ".join(f"{c} = EXCLUDED.{c}" for c in LATEST_COLUMNS.split(", ") if c not in ("realm", "league", "item_key"))}
"""
# rows whose item now traded in W7 only, or not at all
DELETE_SOME_LATEST_SQL = f"""
DELETE FROM warehouse.market_latest m USING market_changed a
WHERE m.realm = %(realm)s AND m.league = a.league AND m.item_key = a.item_key AND NOT {_TRADED}
"""
# per league: rows written, of them low-confidence (the asset's metadata)
WRITTEN_SQL = f"""
SELECT a.league, count(*), count(*) FILTER (WHERE coalesce({_price("chaos", 1)}, {_price("divine", 1)}) IS NULL
                                            OR a.hours[1] < {MIN_HOURS} OR a.volume[1] < {MIN_UNITS!r})
FROM market_changed a WHERE {_TRADED} GROUP BY a.league
"""

# A step is worth it while it reads fewer hours than a rebuild (9 slices of the gap against 192 hours).
MAX_STEP = WINDOW


@dataclass
class HourlyReport:
    realm: str
    start: datetime
    end: datetime
    rows: int = 0
    deleted: int = 0
    pairs: str = ""  # the per-market totals: "added" (the window's hours were not counted yet) or "rebuilt"


@dataclass
class LatestReport:
    realm: str
    hour: datetime | None = None
    rows: int = 0  # rows of the latest table after the run
    mode: str = "none"  # "rebuild", "step" (windows stepped from the previous hour) or "current" (nothing to do)
    changed: int = 0  # (league, item) whose windows were recomputed or stepped
    leagues: dict[str, int] = field(default_factory=dict)  # rows written, per league
    low_confidence: int = 0  # of the rows written


def compute_market_hourly(pool: ConnectionPool, realm: str, start: datetime, end: datetime) -> HourlyReport:
    """Replace [start, end) of the realm's hourly market rollup atomically."""
    if not start < end:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    report = HourlyReport(realm, start, end)
    params = {"realm": realm, "start": start, "end": end, "chaos": CHAOS_KEY, "divine": DIVINE_KEY}
    with pool.connection() as conn, conn.transaction():
        # rows of the rollup (item, league, hour), as the view market_hourly shows them: a packed row holds many
        report.deleted = sum(n for (n,) in conn.execute(
            "DELETE FROM warehouse.market_hours WHERE realm = %(realm)s AND observed_hour >= %(start)s "
            "AND observed_hour < %(end)s RETURNING cardinality(item_keys)", params))
        report.rows = sum(n for (n,) in conn.execute(HOURLY_SQL + " RETURNING cardinality(item_keys)", params))
        conn.execute(LEAGUES_SQL, params)
        conn.execute(INVALIDATE_SQL, params)
        report.pairs = _update_pairs(conn, params)
    return report


def _update_pairs(conn, params: dict) -> str:
    """Count the window's exchange-price rows in the realm's per-market totals: "added" or "rebuilt".

    The totals count exactly the rows of the hours in `market_pairs_hours`. A window none of whose hours
    is counted yet adds its rows (the newest hour; an hour whose document was stored late). A window with
    a counted hour rewrote rows already summed, and the old ones are gone: the realm's counted hours are
    summed anew (a re-run or a backfill of stored hours: rare, one statement)."""
    # one writer at a time per realm
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('tradewatch market_pairs ' || %(realm)s))", params)
    counted = conn.execute("DELETE FROM warehouse.market_pairs_hours WHERE realm = %(realm)s "
                           "AND observed_hour >= %(start)s AND observed_hour < %(end)s", params).rowcount
    conn.execute(PAIRS_HOURS_SQL, params)
    if not counted:
        conn.execute(PAIRS_ADD_SQL, params)
        return "added"
    conn.execute("DELETE FROM warehouse.market_pairs WHERE realm = %(realm)s", params)
    conn.execute("SET LOCAL work_mem = '64MB'")
    conn.execute(PAIRS_REBUILD_SQL, params)
    return "rebuilt"


def compute_market_latest(pool: ConnectionPool, realm: str, hour: datetime | None = None) -> LatestReport:
    """Bring the realm's latest market to `hour` (default: the newest stored hour) atomically.

    The rows are the items that traded in a league within W0 … W6. When the windows are valid for an
    hour at most 24 hours before, they are stepped (`STEP_WINDOWS_SQL`) and only the items whose sums
    changed get new rows; else the windows and the table are rebuilt from the hourly rollup. Both end
    in the same rows (the windows' sums are exact). Everything stays in PostgreSQL: the changed windows
    go to a temporary table and the figures are computed from them (`LATEST_SELECT`)."""
    report = LatestReport(realm)
    with pool.connection() as conn, conn.transaction():
        # one writer at a time per realm; an hourly rollup that invalidates the windows waits for us, or we for it
        state = conn.execute("SELECT hour, rows, windows_valid FROM warehouse.market_state WHERE realm = %s "
                             "FOR UPDATE", (realm,)).fetchone()
        if hour is None:
            hour = conn.execute(NEWEST_SQL, {"realm": realm}).fetchone()[0]
        report.hour = hour
        if hour is None:
            conn.execute("DELETE FROM warehouse.market_latest WHERE realm = %s", (realm,))
            conn.execute("DELETE FROM warehouse.market_windows WHERE realm = %s", (realm,))
            conn.execute("DELETE FROM warehouse.market_state WHERE realm = %s", (realm,))
            return report
        params = {"realm": realm, "hour": hour}
        if state is not None and state[2] and state[0] == hour:
            report.mode, report.rows = "current", state[1]
            return report
        # a few thousand rows: the planner's estimates (and JIT for them) cost more than the work; a rebuild
        # hashes ~200k hourly rows into ~60k groups in memory rather than sorting them through temp files
        conn.execute("SET LOCAL jit = off")
        conn.execute("SET LOCAL work_mem = '64MB'")
        conn.execute(CHANGED_TABLE_SQL)
        if state is not None and state[2] and timedelta(0) < hour - state[0] <= MAX_STEP:
            report.mode = "step"
            report.changed = conn.execute(_into_changed(STEP_WINDOWS_SQL),
                                          {**params, "old": state[0], "new": hour}).rowcount
            conn.execute(EMPTY_WINDOWS_SQL, params)
            removed = conn.execute(DELETE_SOME_LATEST_SQL, params).rowcount
            # rows inserted (not updated) are the new ones
            added = sum(r[0] for r in conn.execute(UPSERT_LATEST_SQL + " RETURNING (m.xmax = 0)", params))
            count = state[1] - removed + added
        else:
            report.mode = "rebuild"
            conn.execute("DELETE FROM warehouse.market_latest WHERE realm = %s", (realm,))
            conn.execute("DELETE FROM warehouse.market_windows WHERE realm = %s", (realm,))
            report.changed = conn.execute(_into_changed(FULL_WINDOWS_SQL), params).rowcount
            count = conn.execute(UPSERT_LATEST_SQL, params).rowcount
        for league, written, low in conn.execute(WRITTEN_SQL, params):
            report.leagues[league] = written
            report.low_confidence += low
        conn.execute(
            "INSERT INTO warehouse.market_state (realm, hour, rows, windows_valid, computed_at) "
            "VALUES (%s, %s, %s, true, now()) ON CONFLICT (realm) DO UPDATE SET hour = EXCLUDED.hour, "
            "rows = EXCLUDED.rows, windows_valid = true, computed_at = now()", (realm, hour, count))
        report.rows = count
    return report


__all__ = ["CHAOS_KEY", "HourlyReport", "LatestReport", "compute_market_hourly", "compute_market_latest"]
