"""The market rollups on a real PostgreSQL: the hourly rollup and the latest table answer the
overview's definitions, computed here directly from the exchange-price rows the test inserts."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.rows import dict_row

from graphql_api.market_listing import HOURS_SQL
from tradewatch.market_overview.overview import LeagueOverview, PackedHour, from_array_send, league_overview
from tradewatch.currency_exchange.catalog import item_storage_key
from tradewatch.market.exchange import CHAOS_PATH, DIVINE_PATH
from tradewatch.market_overview.windows import MIN_HOURS, MIN_UNITS, figures, window_of, WindowSums
from tradewatch.warehouse.market_rollups import PAIRS_NOW_SQL, compute_market_hourly, compute_market_latest, count_target

HOUR = timedelta(hours=1)
NEWEST = datetime(2025, 3, 10, 12, tzinfo=timezone.utc)
FIRST = NEWEST - 200 * HOUR
EXALTED = "Metadata/Items/Currency/CurrencyAddModToRare"
THIN = "Metadata/Items/Currency/CurrencyProbeUnlisted1"
OLD = "Metadata/Items/Currency/CurrencyOnlyInW7"
PATHS = {CHAOS_PATH: "chaos", DIVINE_PATH: "divine", EXALTED: "exalted", THIN: THIN, OLD: OLD}
LEAGUES = ("Mercenaries", "Standard")


def _insert(url: str) -> list[tuple]:
    """Rows of exchange_prices: (league, path, quote, hour, vwap, volume, quote_volume)."""
    rng = random.Random(22)
    rows = []
    hour = FIRST
    while hour <= NEWEST:
        for league in LEAGUES:
            rate_hour = hour.hour % 7 != 3  # some league-hours have no divine trade: no rate
            if rate_hour:
                v = rng.uniform(5, 50)
                rows.append((league, DIVINE_PATH, "chaos", hour, None, v, v * rng.uniform(150, 210)))
            # chaos priced in divine: the unit itself, never a row of the overview
            v = rng.uniform(100, 900)
            rows.append((league, CHAOS_PATH, "divine", hour, None, v, v / 180))
            for quote in ("chaos", "divine"):
                v = rng.uniform(1, 40)
                q = v * (rng.uniform(10, 14) if quote == "chaos" else rng.uniform(0.05, 0.08))
                rows.append((league, EXALTED, quote, hour, None, v, q))
            if league == "Mercenaries" and hour.hour % 9 == 0:  # rarely traded
                rows.append((league, THIN, "divine", hour, None, 1.0, rng.uniform(1, 3)))
            if league == "Standard" and hour.hour % 5 == 0:  # a market that existed but nothing traded
                rows.append((league, THIN, "chaos", hour, None, 0.0, 0.0))
        if NEWEST - hour >= 7 * 24 * HOUR and hour.hour == 4:  # traded only in W7
            rows.append(("Standard", OLD, "chaos", hour, None, 3.0, 30.0))
        hour += HOUR
    rows = [(league, path, quote, hour, (q / v if v > 0 and q > 0 else None), v, q)
            for league, path, quote, hour, _, v, q in rows]
    with psycopg.connect(url) as conn:
        conn.execute("INSERT INTO warehouse.exchange_items (item_key, item_path, item_id, mapped) "
                     "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::boolean[])",
                     ([item_storage_key(p) for p in PATHS], list(PATHS), list(PATHS.values()), [True] * len(PATHS)))
        with conn.cursor().copy("COPY warehouse.exchange_prices (realm, league, item_key, quote_currency, observed_hour, "
                                "item_first, vwap_price, volume, quote_volume) FROM STDIN") as copy:
            for league, path, quote, hour, vwap, v, q in rows:
                copy.write_row(("pc", league, item_storage_key(path), quote, hour, True, vwap, v, q))
    return rows


def _expected(rows: list[tuple]) -> dict[tuple[str, str], dict]:
    """The overview's figures straight from the definitions (no rollup involved)."""
    rates = {(league, hour): q / v for league, path, quote, hour, vwap, v, q in rows
             if path == DIVINE_PATH and quote == "chaos" and vwap is not None}
    acc: dict = {}
    for league, path, quote, hour, vwap, v, q in rows:
        if path == CHAOS_PATH:
            continue
        w = int((NEWEST - hour) / timedelta(hours=24))
        if w > 7:
            continue
        a = acc.setdefault((league, path), {"volume": [0.0] * 8, "hours": [set() for _ in range(8)],
                                            **{u: [[0.0, 0.0] for _ in range(8)] for u in ("chaos", "divine")}})
        a["volume"][w] += v
        if v > 0:
            a["hours"][w].add(hour)
        if vwap is None:
            continue
        rate = rates.get((league, hour))
        for unit in ("chaos", "divine"):
            if quote == unit:
                value = q
            elif rate is None:
                continue
            else:
                value = q * rate if unit == "chaos" else q / rate
            a[unit][w][0] += value
            a[unit][w][1] += v
    out = {}
    for key, a in acc.items():
        if not any(a["volume"][w] > 0 for w in range(7)):
            continue
        e = {"volume24h": a["volume"][0]}
        for unit in ("chaos", "divine"):
            prices = [value / units if units > 0 else None for value, units in a[unit]]
            e[unit] = {
                "price": prices[0],
                "change24h": None if prices[0] is None or prices[1] is None else prices[0] / prices[1] - 1,
                "change7d": None if prices[0] is None or prices[7] is None else prices[0] / prices[7] - 1,
                "value24h": a[unit][0][0] if a[unit][0][1] > 0 else None,
                "sparkline": [prices[w] for w in range(6, -1, -1)]}
        e["low_confidence"] = (len(a["hours"][0]) < MIN_HOURS or a["volume"][0] < MIN_UNITS
                               or e["chaos"]["price"] is None and e["divine"]["price"] is None)
        out[key] = e
    return out


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is b
    return a == pytest.approx(b, rel=1e-9)


def _league_overviews(url: str, hour: datetime) -> dict[str, LeagueOverview]:
    """Each league's overview as the API computes it: its packed hours fetched in the binary array format."""
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row, binary=True) as cur:
        leagues = [r["league"] for r in cur.execute("SELECT DISTINCT league FROM warehouse.market_hours")]
        out = {}
        for league in leagues:
            rows = cur.execute(HOURS_SQL, {"realm": "pc", "league": league, "hour": hour}).fetchall()
            out[league] = league_overview(hour, [PackedHour(r["observed_hour"], *(from_array_send(r[c]) for c in (
                "item_keys", "volume", "chaos_units", "chaos_value", "divine_units", "divine_value"))) for r in rows])
    return out


def _nan_none(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


def test_the_overview_answers_the_definitions_from_the_exchange_rows(database_url, pool):
    rows = _insert(database_url)
    hourly = compute_market_hourly(pool, "pc", FIRST, NEWEST + HOUR)
    assert hourly.rows > 0 and hourly.deleted == 0
    latest = compute_market_latest(pool, "pc")
    assert (latest.hour, latest.mode) == (NEWEST, "published")
    expected = _expected(rows)
    keys = {item_storage_key(p): p for p in PATHS}
    # the chaos orb and the item seen only in W7 are not rows; the thin item is, flagged
    assert (("Standard", OLD) not in expected and ("Mercenaries", CHAOS_PATH) not in expected
            and ("Mercenaries", THIN) in expected)
    thin = expected[("Mercenaries", THIN)]
    assert thin["low_confidence"] and not expected[("Mercenaries", EXALTED)]["low_confidence"]
    # the API's computation (numpy over the packed hours) and the SQL view for Tableau: both the definitions
    overviews = _league_overviews(database_url, NEWEST)
    computed = []
    for league, o in overviews.items():
        for i, key in enumerate(o.item_keys):
            computed.append((league, int(key), float(o.volume24h[i]), bool(o.low_confidence[i]),
                             *(f(x) for u in (o.chaos, o.divine) for f, x in (
                                 (_nan_none, u.price[i]), (_nan_none, u.change24h[i]), (_nan_none, u.change7d[i]),
                                 (_nan_none, u.value24h[i]), (lambda s: [_nan_none(v) for v in s], u.sparkline[i])))))
    with psycopg.connect(database_url) as conn:
        viewed = conn.execute("SELECT league, item_key, volume24h, low_confidence, chaos_price, chaos_change24h, "
                              "chaos_change7d, chaos_value24h, chaos_sparkline, divine_price, divine_change24h, "
                              "divine_change7d, divine_value24h, divine_sparkline FROM warehouse.market_latest "
                              "WHERE realm = 'pc'").fetchall()
    for got in (computed, viewed):
        assert {(r[0], keys[r[1]]) for r in got} == set(expected)
        for r in got:
            e = expected[(r[0], keys[r[1]])]
            assert _close(r[2], e["volume24h"]) and r[3] == e["low_confidence"]
            for unit, (price, c24, c7, value, spark) in (("chaos", r[4:9]), ("divine", r[9:14])):
                x = e[unit]
                assert _close(price, x["price"]) and _close(c24, x["change24h"]) and _close(c7, x["change7d"])
                assert _close(value, x["value24h"])
                assert len(spark) == 7 and all(_close(a, b) for a, b in zip(spark, x["sparkline"]))
                assert _close(spark[-1], price)


def test_the_overview_is_the_pure_figures_of_its_window_sums(database_url, pool):
    _insert(database_url)
    compute_market_hourly(pool, "pc", FIRST, NEWEST + HOUR)
    hour = NEWEST - 5 * HOUR  # the overview of an earlier hour reads only its own 192 hours
    acc: dict = {}
    with psycopg.connect(database_url) as conn:
        for league, key, observed, *figures_ in conn.execute(
                "SELECT league, item_key, observed_hour, volume, chaos_units, chaos_value, divine_units, divine_value "
                "FROM warehouse.market_hourly WHERE realm = 'pc' ORDER BY observed_hour, league, item_key"):
            w = window_of(hour, observed)
            if w is None:
                continue
            sums = acc.setdefault((league, key), [[0.0, 0, 0.0, 0.0, 0.0, 0.0] for _ in range(8)])[w]
            volume, cu, cv, du, dv = figures_
            sums[:] = [sums[0] + volume, sums[1] + (volume > 0), sums[2] + cu, sums[3] + cv, sums[4] + du,
                       sums[5] + dv]
    overviews = _league_overviews(database_url, hour)
    listed = {(league, int(k)) for league, o in overviews.items() for k in o.item_keys}
    # the rows: what traded within W0 … W6 (an item traded in W7 only has sums and no row)
    assert listed == {k for k, w in acc.items() if any(w[i][0] > 0 for i in range(7))} and len(listed) < len(acc)
    for league, o in overviews.items():
        for i, key in enumerate(o.item_keys):
            f = figures([WindowSums(*w) for w in acc[(league, int(key))]])
            assert _close(float(o.volume24h[i]), f.volume24h)
            assert (int(o.hours24h[i]), bool(o.low_confidence[i])) == (f.hours24h, f.low_confidence)
            for unit, mine in (("chaos", o.chaos), ("divine", o.divine)):
                pure = getattr(f, unit)
                for name in ("price", "change24h", "change7d", "value24h"):
                    assert _close(_nan_none(getattr(mine, name)[i]), getattr(pure, name)), (league, key, unit, name)
                assert all(_close(_nan_none(a), b) for a, b in zip(mine.sparkline[i], pure.sparkline))


def test_rerun_of_a_window_replaces_it_atomically_with_the_same_rows(database_url, pool):
    _insert(database_url)
    compute_market_hourly(pool, "pc", FIRST, NEWEST + HOUR)
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT * FROM warehouse.market_hourly ORDER BY 1, 2, 3, 4").fetchall()
    again = compute_market_hourly(pool, "pc", NEWEST - 10 * HOUR, NEWEST + HOUR)
    assert again.deleted == again.rows > 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT * FROM warehouse.market_hourly ORDER BY 1, 2, 3, 4").fetchall() == before
        # a league-hour whose items all went (its exchange rows deleted): its packed row goes, the others stay
        gone = NEWEST - 3 * HOUR
        conn.execute("DELETE FROM warehouse.exchange_prices WHERE league = 'Standard' AND observed_hour = %s", (gone,))
    lost = [r for r in before if r[2] == "Standard" and r[3] == gone]
    rerun = compute_market_hourly(pool, "pc", NEWEST - 10 * HOUR, NEWEST + HOUR)
    assert lost and rerun.deleted == again.rows and rerun.rows == again.rows - len(lost)
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT * FROM warehouse.market_hourly ORDER BY 1, 2, 3, 4").fetchall() == [
            r for r in before if r not in lost]


def _state(url: str) -> tuple | None:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT hour, computed_at FROM warehouse.market_state WHERE realm = 'pc'").fetchone()


def test_the_published_hour_and_rewrites_inside_its_windows_renew_the_state(database_url, pool):
    _insert(database_url)
    compute_market_hourly(pool, "pc", FIRST, NEWEST + HOUR)
    assert compute_market_latest(pool, "pc", NEWEST - 30 * HOUR).mode == "published"
    assert compute_market_latest(pool, "pc").mode == "published"  # the newest stored hour
    first = _state(database_url)
    assert first[0] == NEWEST and compute_market_latest(pool, "pc").mode == "current"
    assert _state(database_url) == first
    # an hour older than the eight windows: readers' copies of the overview stay valid
    compute_market_hourly(pool, "pc", FIRST, FIRST + HOUR)
    assert _state(database_url) == first
    # an hour inside them: the state is renewed (same hour, later stamp), so readers recompute
    compute_market_hourly(pool, "pc", NEWEST - 100 * HOUR, NEWEST - 99 * HOUR)
    renewed = _state(database_url)
    assert renewed[0] == NEWEST and renewed[1] > first[1]
    assert compute_market_latest(pool, "pc", NEWEST - 2 * HOUR).mode == "published"  # an earlier hour, on demand
    assert _state(database_url)[0] == NEWEST - 2 * HOUR


def _pairs_from_scratch(rows: list[tuple], hours) -> dict[tuple, tuple]:
    """Each market's totals over the exchange rows of `hours`, from the definitions (chaos orb excluded)."""
    out: dict = {}
    for league, path, quote, hour, vwap, v, q in rows:
        if path == CHAOS_PATH or hour not in hours:
            continue
        count, volume, quote_volume, first, last, traded = out.get((path, league, quote), (0, 0.0, 0.0, hour, hour, []))
        out[(path, league, quote)] = (count + 1, volume + v, quote_volume + q, min(first, hour), max(last, hour),
                                      traded + [hour] if v > 0 else traded)
    return {k: (h, vol, qv, first, last, min(traded, default=None), max(traded, default=None))
            for k, (h, vol, qv, first, last, traded) in out.items()}


def _pairs(url: str) -> tuple[dict[tuple, tuple], set[datetime], datetime | None]:
    """Each market's totals as `marketItem` reads them (the kept ones and the rows after their count), the hours
    the kept ones count, and where their count stops."""
    keys = {item_storage_key(p): p for p in PATHS}
    out = {}
    with psycopg.connect(url) as conn:
        for key, path in keys.items():
            for r in conn.execute(PAIRS_NOW_SQL + "SELECT league, quote_currency, hours, volume::float8, "
                                  "quote_volume::float8, first_hour, last_hour, traded_first, traded_last FROM pairs",
                                  {"realm": "pc", "key": key}):
                out[(path, r[0], r[1])] = tuple(r[2:])
        counted = {r[0] for r in conn.execute("SELECT observed_hour FROM warehouse.market_pairs_hours "
                                               "WHERE realm = 'pc'")}
        cut = conn.execute("SELECT counted_before FROM warehouse.market_pairs_state WHERE realm = 'pc'").fetchone()
    return out, counted, cut[0] if cut else None


def _same_pairs(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, e in expected.items():
        g = got[key]
        assert g[0] == e[0] and _close(g[1], e[1]) and _close(g[2], e[2]) and g[3:] == e[3:], key


def _hours(start: datetime, end: datetime) -> set[datetime]:
    return {start + i * HOUR for i in range(int((end - start) / HOUR))}


def test_count_target_is_the_week_of_the_day_before_the_newest_hour():
    monday = datetime(2025, 3, 3, tzinfo=timezone.utc)
    assert count_target(monday + 24 * HOUR) == monday  # Tuesday 00:00: Monday is the day before
    assert count_target(monday + 23 * HOUR) == monday - 7 * 24 * HOUR  # Monday 23:00: the day before is Sunday
    assert count_target(monday + 8 * 24 * HOUR - HOUR) == monday + 7 * 24 * HOUR - 7 * 24 * HOUR


def test_market_totals_equal_the_exchange_rows_as_hours_arrive_late_and_are_rewritten(database_url, pool):
    rows = _insert(database_url)
    late = FIRST + 5 * HOUR
    start = datetime(2025, 3, 3, 10, tzinfo=timezone.utc)  # a Monday: the count stops at the Monday before
    with psycopg.connect(database_url) as conn:  # the hours after `start`, and one late hour, arrive later
        held = conn.execute("DELETE FROM warehouse.exchange_prices WHERE observed_hour > %s OR observed_hour = %s "
                            "RETURNING *", (start, late)).fetchall()
        columns = [d.name for d in conn.execute("SELECT * FROM warehouse.exchange_prices LIMIT 0").description]

    def arrive(first: datetime, end: datetime) -> None:
        with psycopg.connect(database_url) as conn, conn.cursor().copy(
                f"COPY warehouse.exchange_prices ({', '.join(columns)}) FROM STDIN") as copy:
            for r in held:
                if first <= r[columns.index("observed_hour")] < end:
                    copy.write_row(r)

    def stored() -> list[tuple]:
        with psycopg.connect(database_url) as conn:
            hours = {r[0] for r in conn.execute("SELECT DISTINCT observed_hour FROM warehouse.exchange_prices")}
        return [r for r in rows if r[3] in hours]

    def check(expected_cut: datetime) -> None:
        got, counted, cut = _pairs(database_url)
        assert cut == expected_cut
        current = stored()
        # the kept totals count exactly the stored hours before the cut; with the rows after it, every hour
        assert counted == {r[3] for r in current if r[3] < cut and r[1] != CHAOS_PATH}
        _same_pairs(got, _pairs_from_scratch(current, {r[3] for r in current}))

    monday_before = datetime(2025, 2, 24, tzinfo=timezone.utc)
    assert compute_market_hourly(pool, "pc", FIRST, start + HOUR).pairs == "counted to 2025-02-24 00:00"
    check(monday_before)  # before every stored hour: marketItem reads them all
    hour, cut = start + HOUR, monday_before
    for step in (1, 1, 3, 20):  # hour by hour as the automation runs, then most of a day at once
        arrive(hour, hour + step * HOUR)
        report = compute_market_hourly(pool, "pc", hour, hour + step * HOUR)
        hour += step * HOUR
        moved, cut = count_target(hour - HOUR), cut
        assert report.pairs == ("" if moved == cut else f"counted to {moved:%Y-%m-%d %H:00}")
        cut = moved
        check(cut)
    assert cut == datetime(2025, 3, 3, tzinfo=timezone.utc)  # the week moved on once the Monday was complete
    # the market that existed but never traded keeps its hours, and no traded hour
    got, _, _ = _pairs(database_url)
    assert got[(THIN, "Standard", "chaos")][0] > 0 and got[(THIN, "Standard", "chaos")][5:] == (None, None)
    arrive(hour, NEWEST + HOUR)
    assert compute_market_hourly(pool, "pc", hour, NEWEST + HOUR).pairs == ""  # the same week: nothing to count
    check(cut)
    # an hour before the cut stored late: its rows are added
    arrive(late, late + HOUR)
    assert compute_market_hourly(pool, "pc", late, late + HOUR).pairs == "added"
    check(cut)
    before = _pairs(database_url)[0]
    # a rewrite of an hour already counted sums the counted hours anew; one after the cut needs nothing
    for rewritten, pairs in ((cut - 10 * HOUR, "rebuilt"), (NEWEST - 3 * HOUR, "")):
        with psycopg.connect(database_url) as conn:
            conn.execute("DELETE FROM warehouse.exchange_prices WHERE observed_hour = %s AND item_key = %s",
                         (rewritten, item_storage_key(EXALTED)))
        rows = [r for r in rows if not (r[3] == rewritten and r[1] == EXALTED)]
        assert compute_market_hourly(pool, "pc", rewritten, rewritten + HOUR).pairs == pairs
        check(cut)
    assert _pairs(database_url)[0][(EXALTED, "Standard", "chaos")][0] == before[(EXALTED, "Standard", "chaos")][0] - 2


def test_an_empty_realm_publishes_no_hour(pool):
    report = compute_market_latest(pool, "poe2")
    assert report.hour is None and report.mode == "none"


def test_windows_count_back_from_the_newest_hour():
    assert window_of(NEWEST, NEWEST) == 0
    assert window_of(NEWEST, NEWEST - 23 * HOUR) == 0
    assert window_of(NEWEST, NEWEST - 24 * HOUR) == 1
    assert window_of(NEWEST, NEWEST - 191 * HOUR) == 7
    assert window_of(NEWEST, NEWEST - 192 * HOUR) is None and window_of(NEWEST, NEWEST + HOUR) is None
    f = figures([WindowSums(20, 10, 20, 200, 20, 1), WindowSums(10, 8, 10, 50, 10, 0.5)])
    assert f.chaos.price == 10 and f.chaos.change24h == 1.0 and f.chaos.change7d is None
    assert f.chaos.sparkline == (None,) * 5 + (5.0, 10.0) and not f.low_confidence


def test_migration_0020_fills_the_market_totals_from_the_hours_already_rolled_up(empty_database_url):
    from alembic import command

    from helpers.databases import migrate
    from tradewatch.warehouse.migrate import _config

    command.upgrade(_config(empty_database_url), "0018")
    rows = _insert(empty_database_url)
    with psycopg.connect(empty_database_url) as conn:  # the hourly rollup held hours up to NEWEST − 10 h
        conn.execute("INSERT INTO warehouse.market_hourly VALUES ('pc', 1, 'Standard', %s, 1, 0, 0, 0, 0, 1)",
                     (NEWEST - 10 * HOUR,))
    migrate(empty_database_url)
    got, counted, _ = _pairs(empty_database_url)
    assert counted == _hours(FIRST, NEWEST - 9 * HOUR)
    _same_pairs(got, _pairs_from_scratch(rows, counted))
    command.downgrade(_config(empty_database_url), "0018")
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT to_regclass('warehouse.market_pairs')").fetchone()[0] is None


def test_migration_0021_packs_the_hourly_rollup_and_its_view_and_downgrade_give_the_same_rows(empty_database_url):
    from alembic import command

    from helpers.databases import migrate
    from tradewatch.warehouse.migrate import _config

    command.upgrade(_config(empty_database_url), "0020")
    _insert(empty_database_url)
    order = "ORDER BY realm, item_key, league, observed_hour"
    with psycopg.connect(empty_database_url) as conn:  # the hourly rollup as a table of rows, as 0017 made it
        conn.execute("INSERT INTO warehouse.market_hourly SELECT realm, item_key, league, observed_hour, sum(volume), "
                     "sum(volume) / 2, sum(quote_volume), sum(volume) / 3, sum(quote_volume) / 7, count(*) "
                     "FROM warehouse.exchange_prices GROUP BY 1, 2, 3, 4")
        before = conn.execute(f"SELECT * FROM warehouse.market_hourly {order}").fetchall()
    assert len(before) > 400
    migrate(empty_database_url)
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute(f"SELECT * FROM warehouse.market_hourly {order}").fetchall() == before
        # one packed row per realm, hour and league, its items sorted
        packed, keys_sorted = conn.execute(
            "SELECT count(*), bool_and(item_keys = (SELECT array_agg(k ORDER BY k) FROM unnest(item_keys) k)) "
            "FROM warehouse.market_hours").fetchone()
        assert packed == len({(r[0], r[2], r[3]) for r in before}) and keys_sorted
        assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'warehouse.market_hourly'::regclass"
                            ).fetchone()[0] == "v"
    command.downgrade(_config(empty_database_url), "0020")
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute(f"SELECT * FROM warehouse.market_hourly {order}").fetchall() == before
        assert conn.execute("SELECT to_regclass('warehouse.market_hours')").fetchone()[0] is None


def test_migration_0022_sets_where_the_totals_count_stops_and_its_downgrade_brings_the_tables_back(
        empty_database_url):
    from alembic import command

    from helpers.databases import migrate
    from tradewatch.warehouse.migrate import _config

    command.upgrade(_config(empty_database_url), "0021")
    rows = _insert(empty_database_url)
    counted_to = NEWEST - 20 * HOUR
    with psycopg.connect(empty_database_url) as conn:  # the totals counted the hours up to NEWEST − 20 h but one
        conn.execute("INSERT INTO warehouse.market_pairs_hours SELECT DISTINCT 'pc', observed_hour "
                     "FROM warehouse.exchange_prices WHERE observed_hour <= %s AND observed_hour <> %s",
                     (counted_to, FIRST + HOUR))
        conn.execute("INSERT INTO warehouse.market_pairs SELECT realm, item_key, league, quote_currency, count(*), "
                     "sum(volume::numeric), sum(quote_volume::numeric), min(observed_hour), max(observed_hour), "
                     "min(observed_hour) FILTER (WHERE volume > 0), max(observed_hour) FILTER (WHERE volume > 0) "
                     "FROM warehouse.exchange_prices WHERE observed_hour <= %s AND observed_hour <> %s "
                     "AND item_key <> %s GROUP BY 1, 2, 3, 4", (counted_to, FIRST + HOUR, item_storage_key(CHAOS_PATH)))
        conn.execute("INSERT INTO warehouse.market_leagues SELECT 'pc', league, min(observed_hour), max(observed_hour) "
                     "FROM warehouse.exchange_prices GROUP BY league")  # as the hourly rollup keeps them
    migrate(empty_database_url)
    got, counted, cut = _pairs(empty_database_url)
    # the count stops after the last counted hour; the one hour it had missed below that is added
    assert cut == counted_to + HOUR and counted == _hours(FIRST, cut)
    _same_pairs(got, _pairs_from_scratch(rows, {r[3] for r in rows}))
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'warehouse.market_latest'::regclass"
                            ).fetchone()[0] == "v"
        assert conn.execute("SELECT to_regclass('warehouse.market_windows')").fetchone()[0] is None
    command.downgrade(_config(empty_database_url), "0021")
    with psycopg.connect(empty_database_url) as conn:
        assert conn.execute("SELECT relkind FROM pg_class WHERE oid = 'warehouse.market_latest'::regclass"
                            ).fetchone()[0] == "r"
        assert conn.execute("SELECT to_regclass('warehouse.market_pairs_state')").fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM warehouse.market_windows").fetchone()[0] == 0
