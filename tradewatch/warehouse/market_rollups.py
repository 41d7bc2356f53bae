"""The market overview's stored parts, from exchange prices: the hourly rollup, the per-market totals, the hour.

`compute_market_hourly` replaces a window of hours of a realm's hourly rollup in one
transaction (INSERT … SELECT from `warehouse.exchange_prices` and the league-hours' chaos/divine
rates, replacing the window's rows in place): readers see the old hours or the new ones. The
rollup is stored packed, one row of arrays per hour and league (`warehouse.market_hours`,
migration 0021), and read per item through the view `warehouse.market_hourly`. A second
transaction, when there is something to count, keeps the per-market totals
(`warehouse.market_pairs`) counting exactly the stored hours before the realm's
`market_pairs_state.counted_before`, which it moves forward a whole UTC week at a time (one
statement a week instead of ~1,450 row updates an hour); `marketItem` adds the item's rows after it.

`compute_market_latest` publishes the realm's newest stored hour (`warehouse.market_state`): the
hour the overview shows. The overview itself is computed when it is read, from the league's 192
packed hours (`tradewatch.market_overview.overview`, migration 0022 says why); the view
`warehouse.market_latest` gives the same figures in SQL. A rewrite of an hour inside the
overview's windows bumps `market_state.computed_at`, so a reader's copy of the overview is
replaced.

Neither reads a raw document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from psycopg_pool import ConnectionPool

from tradewatch.currency_exchange.catalog import item_storage_key
from tradewatch.currency_exchange.catalogue import game_of_realm
from tradewatch.market.exchange import CHAOS_PATH, DIVINE_PATH
from tradewatch.market_overview.windows import WINDOW, WINDOWS

CHAOS_KEY = item_storage_key(CHAOS_PATH)  # the chaos orb is the unit, not an item of the overview
DIVINE_KEY = item_storage_key(DIVINE_PATH)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
# before any Currency Exchange hour (the feed starts in 2024): "every hour" for the totals' first count
BEGINNING = datetime(2000, 1, 1, tzinfo=timezone.utc)

# the per-market totals' count (where it stops) and the realm's newest stored hour, as two columns
PAIRS_STATE = """(SELECT counted_before FROM warehouse.market_pairs_state WHERE realm = %(realm)s),
       (SELECT max(observed_hour) FROM warehouse.exchange_prices WHERE realm = %(realm)s)"""

# A market counts in a unit's value when it traded (a price) and is in that unit or its
# league-hour has a rate. The rate is the one of analytics.exchange_divine_price (what
# `divinePrice` and every conversion read): the exchange's divine|chaos market of the hour
# where it has a row, else the order book's. The exchange's is among the hour's own rows (a
# window over the league-hour, its rows in key order: the one sort of the ~1,450 rows, which the
# grouping and the packing reuse); the book's is probed by primary key only for a league-hour
# without it. The packed arrays are built from rows already in key order (one sort, not one per
# array); `a` is read once, so the planner keeps that order. A league's
# first and last traded hour (warehouse.market_leagues) only ever widen: a re-run never narrows them.
HOURLY_SQL = f"""
WITH old AS (
    SELECT cardinality(item_keys) AS items FROM warehouse.market_hours
    WHERE realm = %(realm)s AND observed_hour >= %(start)s AND observed_hour < %(end)s),
p AS (
    SELECT league, observed_hour, item_key, quote_currency, vwap_price, volume, quote_volume,
           bool_or(item_key = %(divine)s AND quote_currency = 'chaos') OVER w AS found,
           max(vwap_price) FILTER (WHERE item_key = %(divine)s AND quote_currency = 'chaos') OVER w AS exchange_rate
    FROM warehouse.exchange_prices
    WHERE realm = %(realm)s AND observed_hour >= %(start)s AND observed_hour < %(end)s AND item_key <> %(chaos)s
    WINDOW w AS (PARTITION BY league, observed_hour ORDER BY item_key
                 ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)),
a AS (
    SELECT p.league, p.observed_hour, p.item_key, sum(p.volume) AS volume,
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
    FROM p CROSS JOIN LATERAL (
        SELECT CASE WHEN p.found THEN p.exchange_rate
                    ELSE (SELECT b.chaos_per_divine FROM warehouse.book_divine_prices b
                          WHERE b.game = %(game)s AND b.league = p.league AND b.observed_hour = p.observed_hour) END
               AS rate) r
    GROUP BY p.league, p.observed_hour, p.item_key
    HAVING sum(p.volume) > 0
    ORDER BY p.league, p.observed_hour, p.item_key),
packed AS (
    INSERT INTO warehouse.market_hours (realm, observed_hour, league, item_keys, volume, chaos_units, chaos_value,
                                        divine_units, divine_value, markets)
    SELECT %(realm)s, observed_hour, league, array_agg(item_key), array_agg(volume), array_agg(chaos_units),
           array_agg(chaos_value), array_agg(divine_units), array_agg(divine_value), array_agg(markets)
    FROM a
    GROUP BY league, observed_hour
    ON CONFLICT (realm, observed_hour, league) DO UPDATE SET
        item_keys = EXCLUDED.item_keys, volume = EXCLUDED.volume, chaos_units = EXCLUDED.chaos_units,
        chaos_value = EXCLUDED.chaos_value, divine_units = EXCLUDED.divine_units,
        divine_value = EXCLUDED.divine_value, markets = EXCLUDED.markets
    RETURNING league, observed_hour, cardinality(item_keys) AS items),
stale AS (  -- a league-hour of the window that no longer has an item (the others were replaced in place)
    DELETE FROM warehouse.market_hours h
    WHERE h.realm = %(realm)s AND h.observed_hour >= %(start)s AND h.observed_hour < %(end)s
      AND NOT EXISTS (SELECT 1 FROM packed WHERE packed.league = h.league AND packed.observed_hour = h.observed_hour)),
leagues AS (
    INSERT INTO warehouse.market_leagues AS l (realm, league, first_hour, last_hour)
    SELECT %(realm)s, league, min(observed_hour), max(observed_hour) FROM packed GROUP BY league
    ON CONFLICT (realm, league) DO UPDATE SET first_hour = least(l.first_hour, EXCLUDED.first_hour),
                                              last_hour = greatest(l.last_hour, EXCLUDED.last_hour)),
touched AS (  -- hours inside the windows of the published hour rewritten: readers' copies are stale
    UPDATE warehouse.market_state SET computed_at = clock_timestamp()
    WHERE realm = %(realm)s AND %(start)s <= hour AND %(end)s > hour - interval '{WINDOWS * WINDOW // HOUR} hours')
SELECT (SELECT coalesce(sum(items), 0) FROM packed), (SELECT coalesce(sum(items), 0) FROM old), {PAIRS_STATE}
"""

# a window's hours are packed a few days at a time: each statement sorts in memory, whatever the window's length
CHUNK = timedelta(hours=72)

# the per-market totals' count (where it stops) and the realm's newest stored hour
PAIRS_STATE_SQL = "SELECT " + PAIRS_STATE

# The per-market totals of item pages (warehouse.market_pairs, migration 0020): the exchange-price rows of the
# hours `hours` (an array, or one window [start, end)) summed per market. Summed as float8 (a week's ~240k rows
# summed as numeric took 0.5 s), stored and added as numeric: a total is exact to float8's precision.
PAIRS_SELECT = """
SELECT realm, item_key, league, quote_currency, count(*) AS hours, sum(volume) AS volume,
       sum(quote_volume) AS quote_volume, min(observed_hour) AS first_hour, max(observed_hour) AS last_hour,
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
# the hours of the window with rows, now counted: one probe of the hour index per hour (from the realm's first
# stored hour), not a read of the window's every row (a week's 240k rows took 67 ms)
PAIRS_HOURS_SQL = """
INSERT INTO warehouse.market_pairs_hours (realm, observed_hour)
SELECT %(realm)s, h.hour
FROM generate_series(greatest(%(start)s::timestamptz,
                              (SELECT min(observed_hour) FROM warehouse.exchange_prices WHERE realm = %(realm)s)),
                     %(end)s::timestamptz - interval '1 hour', interval '1 hour') AS h(hour)
WHERE EXISTS (SELECT 1 FROM warehouse.exchange_prices p
              WHERE p.observed_hour = h.hour AND p.realm = %(realm)s AND p.item_key <> %(chaos)s)
"""
# every counted hour summed anew (a semi-join: each hour read through the exchange prices' hour index)
PAIRS_REBUILD_SQL = "INSERT INTO warehouse.market_pairs " + PAIRS_SELECT.replace(
    "{hours}", "observed_hour IN (SELECT observed_hour FROM warehouse.market_pairs_hours WHERE realm = %(realm)s)")

# The item's markets as they stand (marketItem): the kept totals of the hours before `counted_before`, plus the
# item's exchange-price rows from it on (one to eight days of hours; one primary-key range per league that traded
# since, the leagues from warehouse.market_leagues, and quote). The chaos orb has none (the totals leave out the
# unit, as the overview). `pairs_now_sql(key)`: CTEs `s`, `recent` and `pairs` (one row per league and quote) for
# the item whose key is the SQL expression `key`; PAIRS_NOW_SQL takes it as the parameter %(key)s. Also %(realm)s.
def pairs_now_sql(key: str = "%(key)s::bigint") -> str:
    return f"""
s AS (SELECT coalesce((SELECT counted_before FROM warehouse.market_pairs_state WHERE realm = %(realm)s),
                      '-infinity'::timestamptz) AS cut),
recent AS (
    SELECT p.league, p.quote_currency, count(*) AS hours, sum(p.volume)::numeric AS volume,
           sum(p.quote_volume)::numeric AS quote_volume, min(p.observed_hour) AS first_hour,
           max(p.observed_hour) AS last_hour, min(p.observed_hour) FILTER (WHERE p.volume > 0) AS traded_first,
           max(p.observed_hour) FILTER (WHERE p.volume > 0) AS traded_last
    FROM s CROSS JOIN warehouse.market_leagues l CROSS JOIN (VALUES ('chaos'), ('divine')) q(quote)
    CROSS JOIN LATERAL (  -- a range of the primary key per league and quote: only the rows from the cut on
        SELECT * FROM warehouse.exchange_prices p
        WHERE p.realm = %(realm)s AND p.league = l.league AND p.item_key = {key} AND p.quote_currency = q.quote
          AND p.observed_hour >= s.cut OFFSET 0) p
    WHERE l.realm = %(realm)s AND l.last_hour >= s.cut AND {key} <> {CHAOS_KEY}
    GROUP BY p.league, p.quote_currency),
pairs AS (
    SELECT league, quote_currency, sum(hours)::int AS hours, sum(volume) AS volume, sum(quote_volume) AS quote_volume,
           min(first_hour) AS first_hour, max(last_hour) AS last_hour, min(traded_first) AS traded_first,
           max(traded_last) AS traded_last
    FROM (SELECT league, quote_currency, hours, volume, quote_volume, first_hour, last_hour, traded_first,
                 traded_last FROM warehouse.market_pairs WHERE realm = %(realm)s AND item_key = {key}
          UNION ALL SELECT * FROM recent) t
    GROUP BY league, quote_currency)
"""


PAIRS_NOW_SQL = "WITH " + pairs_now_sql()


@dataclass
class HourlyReport:
    realm: str
    start: datetime
    end: datetime
    rows: int = 0
    deleted: int = 0
    # the per-market totals: "added" (hours of the window before the count's end, not counted yet), "rebuilt"
    # (such hours had been counted: summed anew), then "counted to <hour>" when the count moved forward
    pairs: str = ""


@dataclass
class LatestReport:
    realm: str
    hour: datetime | None = None
    mode: str = "none"  # "published" (another hour), "current" (already the one published) or "none" (no hour)


def compute_market_hourly(pool: ConnectionPool, realm: str, start: datetime, end: datetime) -> HourlyReport:
    """Replace [start, end) of the realm's hourly market rollup atomically, and keep the totals' count."""
    if not start < end:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    report = HourlyReport(realm, start, end)
    params = {"realm": realm, "start": start, "end": end, "chaos": CHAOS_KEY, "divine": DIVINE_KEY,
              "game": game_of_realm(realm)}
    with pool.connection() as conn:
        if end - start > DAY:
            _analyze_prices(conn)
        with conn.transaction():
            if end - start > HOUR:
                # a range's estimate (the book probes) crosses the JIT threshold: compiling took 0.8 s a chunk, more
                # than the work; and a chunk's ~100k rows sort in memory, not in temporary files
                conn.execute("SET LOCAL jit = off; SET LOCAL work_mem = '64MB'")
            # rows of the rollup (item, league, hour), as the view market_hourly shows them: a packed row holds many
            chunk = start
            while chunk < end:
                written, replaced, cut, newest = conn.execute(
                    HOURLY_SQL, {**params, "start": chunk, "end": min(chunk + CHUNK, end)}).fetchone()
                report.rows, report.deleted = report.rows + written, report.deleted + replaced
                chunk += CHUNK
        if _count_due(cut, newest, params):
            with conn.transaction():  # one writer at a time per realm, from the state the last one left
                conn.execute("SELECT pg_advisory_xact_lock(hashtext('tradewatch market_pairs ' || %(realm)s))",
                             params)
                # a week's ~240k rows (a rebuild's every counted row) hashed in memory, not sorted on disk
                conn.execute("SET LOCAL work_mem = '64MB'")
                report.pairs = _count(conn, *conn.execute(PAIRS_STATE_SQL, params).fetchone(), params)
    return report


def _analyze_prices(conn) -> None:
    """Statistics for the exchange prices before a range is rolled up. A backfill writes millions of rows the
    planner has no statistics for (autovacuum has not come by yet), and without them it reads each chunk's hours
    through the primary key's realm prefix, the whole table every time (80 s instead of 25 at 5,000 hours).
    ANALYZE samples ~30,000 rows: a second or two, once per range (a role that does not own the table gets
    PostgreSQL's warning and goes on without)."""
    with conn.transaction():
        conn.execute("ANALYZE warehouse.exchange_prices")


def count_target(newest: datetime) -> datetime:
    """Where the totals' count stops for a realm whose newest stored hour is `newest`: the start (Monday 00:00
    UTC) of the week of the hour 24 hours before it, so `marketItem` adds one to eight days of an item's rows."""
    day = (newest - DAY).astimezone(timezone.utc)
    return day.replace(hour=0, minute=0, second=0, microsecond=0) - day.weekday() * DAY


def _count_due(cut: datetime | None, newest: datetime | None, params: dict) -> bool:
    """Whether the per-market totals have something to count (see `_count`): most hours not."""
    below = cut is not None and params["start"] < cut
    return below or (newest is not None and (cut is None or count_target(newest) > cut))


def _count(conn, cut: datetime | None, newest: datetime | None, params: dict) -> str:
    """Keep warehouse.market_pairs counting exactly the stored hours before `counted_before` (see the module).

    Hours of the window before it: added when none of them was counted (a document stored late), else the
    totals are summed anew (a re-run or a backfill of counted hours: their old rows are gone; rare, one
    statement). Hours from it on are not counted: `marketItem` reads them. Then the count moves forward to
    `count_target` of the realm's newest hour, a whole week at a time. Returns what it did."""
    done = []
    if cut is not None and params["start"] < cut:
        below = {**params, "end": min(params["end"], cut)}
        counted = conn.execute("DELETE FROM warehouse.market_pairs_hours WHERE realm = %(realm)s "
                               "AND observed_hour >= %(start)s AND observed_hour < %(end)s", below).rowcount
        conn.execute(PAIRS_HOURS_SQL, below)
        if counted:
            conn.execute("DELETE FROM warehouse.market_pairs WHERE realm = %(realm)s", params)
            conn.execute(PAIRS_REBUILD_SQL, params)
            done.append("rebuilt")
        else:
            conn.execute(PAIRS_ADD_SQL, below)
            done.append("added")
    if newest is not None:
        target = count_target(newest)
        if cut is None or target > cut:
            forward = {**params, "start": cut or BEGINNING, "end": target}
            conn.execute(PAIRS_HOURS_SQL, forward)
            conn.execute(PAIRS_ADD_SQL, forward)
            conn.execute("INSERT INTO warehouse.market_pairs_state (realm, counted_before) VALUES (%(realm)s, %(end)s) "
                         "ON CONFLICT (realm) DO UPDATE SET counted_before = EXCLUDED.counted_before", forward)
            done.append(f"counted to {target.astimezone(timezone.utc):%Y-%m-%d %H:00}")
    return ", ".join(done)


# the hour published (or the realm's state removed when it has no hour): one statement, so it needs no lock
PUBLISH_SQL = """
WITH newest AS (
    SELECT coalesce(%(hour)s::timestamptz,
                    (SELECT max(observed_hour) FROM warehouse.exchange_prices WHERE realm = %(realm)s)) AS hour),
published AS (
    INSERT INTO warehouse.market_state AS s (realm, hour, computed_at)
    SELECT %(realm)s, hour, clock_timestamp() FROM newest WHERE hour IS NOT NULL
    ON CONFLICT (realm) DO UPDATE SET hour = EXCLUDED.hour, computed_at = EXCLUDED.computed_at
    WHERE s.hour IS DISTINCT FROM EXCLUDED.hour
    RETURNING 1),
removed AS (
    DELETE FROM warehouse.market_state WHERE realm = %(realm)s AND (SELECT hour FROM newest) IS NULL)
SELECT (SELECT hour FROM newest), (SELECT count(*) FROM published)
"""


def compute_market_latest(pool: ConnectionPool, realm: str, hour: datetime | None = None) -> LatestReport:
    """Publish `hour` (default: the realm's newest stored hour) as the hour the overview shows."""
    with pool.connection() as conn:
        hour, published = conn.execute(PUBLISH_SQL, {"realm": realm, "hour": hour}).fetchone()
    return LatestReport(realm, hour, "none" if hour is None else "published" if published else "current")


__all__ = ["CHAOS_KEY", "HourlyReport", "LatestReport", "PAIRS_NOW_SQL", "compute_market_hourly",
           "compute_market_latest", "count_target", "pairs_now_sql"]
