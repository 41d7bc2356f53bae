"""The market rollups on a real PostgreSQL: the hourly rollup and the latest table answer the
overview's definitions, computed here directly from the exchange-price rows the test inserts."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from tradewatch.currency_exchange.catalog import item_storage_key
from tradewatch.market.exchange import CHAOS_PATH, DIVINE_PATH
from tradewatch.market_overview.windows import MIN_HOURS, MIN_UNITS, figures, window_of, WindowSums
from tradewatch.warehouse.market_rollups import compute_market_hourly, compute_market_latest

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


def test_latest_market_answers_the_definitions_from_the_exchange_rows(database_url, pool):
    rows = _insert(database_url)
    hourly = compute_market_hourly(pool, "pc", FIRST, NEWEST + HOUR)
    assert hourly.rows > 0 and hourly.deleted == 0
    latest = compute_market_latest(pool, "pc")
    assert latest.hour == NEWEST
    expected = _expected(rows)
    keys = {item_storage_key(p): p for p in PATHS}
    with psycopg.connect(database_url) as conn:
        got = conn.execute("SELECT league, item_key, volume24h, low_confidence, chaos_price, chaos_change24h, "
                           "chaos_change7d, chaos_value24h, chaos_sparkline, divine_price, divine_change24h, "
                           "divine_change7d, divine_value24h, divine_sparkline FROM warehouse.market_latest"
                           ).fetchall()
        state = conn.execute("SELECT hour, rows FROM warehouse.market_state WHERE realm = 'pc'").fetchone()
    assert state == (NEWEST, len(expected))
    assert {(r[0], keys[r[1]]) for r in got} == set(expected)
    # the chaos orb and the item seen only in W7 are not rows; the thin item is, flagged
    assert (("Standard", OLD) not in expected and ("Mercenaries", CHAOS_PATH) not in expected
            and ("Mercenaries", THIN) in expected)
    for r in got:
        e = expected[(r[0], keys[r[1]])]
        assert _close(r[2], e["volume24h"]) and r[3] == e["low_confidence"]
        for unit, (price, c24, c7, value, spark) in (("chaos", r[4:9]), ("divine", r[9:14])):
            x = e[unit]
            assert _close(price, x["price"]) and _close(c24, x["change24h"]) and _close(c7, x["change7d"])
            assert _close(value, x["value24h"])
            assert len(spark) == 7 and all(_close(a, b) for a, b in zip(spark, x["sparkline"]))
            assert _close(spark[-1], price)
    thin = expected[("Mercenaries", THIN)]
    assert thin["low_confidence"] and not expected[("Mercenaries", EXALTED)]["low_confidence"]


def test_latest_rows_are_the_pure_figures_of_their_window_sums(database_url, pool):
    _insert(database_url)
    compute_market_hourly(pool, "pc", FIRST, NEWEST + HOUR)
    compute_market_latest(pool, "pc", NEWEST - HOUR)
    compute_market_latest(pool, "pc")  # a step
    with psycopg.connect(database_url) as conn:
        sums = {(r[0], r[1]): [WindowSums(*w) for w in zip(*r[2:])] for r in conn.execute(
            "SELECT league, item_key, volume::float8[], hours, chaos_units::float8[], chaos_value::float8[], "
            "divine_units::float8[], divine_value::float8[] FROM warehouse.market_windows")}
        latest = conn.execute("SELECT league, item_key, volume24h, hours24h, low_confidence, chaos_price, "
                              "chaos_change24h, chaos_change7d, chaos_value24h, chaos_sparkline, divine_price, "
                              "divine_change24h, divine_change7d, divine_value24h, divine_sparkline "
                              "FROM warehouse.market_latest").fetchall()
    assert latest and len(latest) < len(sums)  # the item traded in W7 only has windows and no row
    for r in latest:
        f = figures(sums[(r[0], r[1])])
        c, d = f.chaos, f.divine
        assert tuple(r[2:]) == (f.volume24h, f.hours24h, f.low_confidence, c.price, c.change24h, c.change7d,
                                c.value24h, list(c.sparkline), d.price, d.change24h, d.change7d, d.value24h,
                                list(d.sparkline))  # exactly: the same float8 operations


def test_rerun_of_a_window_replaces_it_atomically_with_the_same_rows(database_url, pool):
    _insert(database_url)
    compute_market_hourly(pool, "pc", FIRST, NEWEST + HOUR)
    with psycopg.connect(database_url) as conn:
        before = conn.execute("SELECT * FROM warehouse.market_hourly ORDER BY 1, 2, 3, 4").fetchall()
    again = compute_market_hourly(pool, "pc", NEWEST - 10 * HOUR, NEWEST + HOUR)
    assert again.deleted == again.rows > 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT * FROM warehouse.market_hourly ORDER BY 1, 2, 3, 4").fetchall() == before


ONCE = "Metadata/Items/Currency/CurrencyTradedOnce"


def _tables(url: str) -> tuple[list, list, tuple]:
    with psycopg.connect(url) as conn:
        return (conn.execute("SELECT * FROM warehouse.market_latest ORDER BY realm, league, item_key").fetchall(),
                conn.execute("SELECT * FROM warehouse.market_windows ORDER BY realm, league, item_key").fetchall(),
                conn.execute("SELECT hour, rows, windows_valid FROM warehouse.market_state").fetchone())


def test_hourly_steps_end_in_exactly_the_rows_of_a_rebuild(database_url, pool):
    _insert(database_url)
    with psycopg.connect(database_url) as conn:  # one trade at FIRST: a row in W6, then W7 only, then gone
        conn.execute("INSERT INTO warehouse.exchange_prices (realm, league, item_key, quote_currency, observed_hour, "
                     "item_first, vwap_price, volume, quote_volume) VALUES ('pc', 'Standard', %s, 'chaos', %s, true, "
                     "7.0, 3.0, 21.0)", (item_storage_key(ONCE), FIRST))
    once = ("Standard", item_storage_key(ONCE))
    hour = NEWEST - 50 * HOUR
    compute_market_hourly(pool, "pc", FIRST, hour + HOUR)
    # the exchange rows run to NEWEST; the latest table is brought to each hour as if it were the newest
    assert compute_market_latest(pool, "pc", hour).mode == "rebuild"
    latest, windows, state = _tables(database_url)
    assert state == (hour, len(latest), True) and once in {(r[1], r[2]) for r in latest}
    # as the automation runs it: the new hours' rollup, then the latest table, by 1 to 24 hours
    for step in (1, 1, 1, 1, 1, 1, 24, 5, 15):
        compute_market_hourly(pool, "pc", hour + HOUR, hour + (step + 1) * HOUR)
        hour += step * HOUR
        report = compute_market_latest(pool, "pc", hour)
        assert (report.mode, report.hour) == ("step", hour) and 0 < report.changed
        latest, windows, state = _tables(database_url)
        assert state == (hour, len(latest), True) and report.rows == len(latest)
        if hour == NEWEST - 20 * HOUR:  # traded in W7 only: windows kept, no row
            assert once not in {(r[1], r[2]) for r in latest} and once in {(r[1], r[2]) for r in windows}
    assert hour == NEWEST
    assert once not in {(r[1], r[2]) for r in windows}  # its one hour left W7: no zero-sum window is kept
    assert compute_market_latest(pool, "pc").mode == "current"
    # a rewrite of an hour the windows counted invalidates them; the next run rebuilds: the same rows exactly
    compute_market_hourly(pool, "pc", NEWEST - 100 * HOUR, NEWEST - 99 * HOUR)
    assert _tables(database_url)[2] == (NEWEST, len(latest), False)
    assert compute_market_latest(pool, "pc").mode == "rebuild"
    assert _tables(database_url) == (latest, windows, (NEWEST, len(latest), True))


def test_a_step_of_more_than_a_day_or_backwards_rebuilds(database_url, pool):
    _insert(database_url)
    compute_market_hourly(pool, "pc", FIRST, NEWEST + HOUR)
    compute_market_latest(pool, "pc", NEWEST - 30 * HOUR)
    assert compute_market_latest(pool, "pc", NEWEST - 5 * HOUR).mode == "rebuild"  # 25 hours
    rebuilt = _tables(database_url)
    assert compute_market_latest(pool, "pc", NEWEST - 6 * HOUR).mode == "rebuild"
    assert compute_market_latest(pool, "pc", NEWEST - 5 * HOUR).mode == "step"
    assert _tables(database_url) == rebuilt


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


def _pairs(url: str) -> tuple[dict[tuple, tuple], set[datetime]]:
    keys = {item_storage_key(p): p for p in PATHS}
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT item_key, league, quote_currency, hours, volume::float8, quote_volume::float8, "
                            "first_hour, last_hour, traded_first, traded_last FROM warehouse.market_pairs "
                            "WHERE realm = 'pc'").fetchall()
        counted = {r[0] for r in conn.execute("SELECT observed_hour FROM warehouse.market_pairs_hours "
                                               "WHERE realm = 'pc'")}
    return {(keys[r[0]], r[1], r[2]): tuple(r[3:]) for r in rows}, counted


def _same_pairs(got: dict, expected: dict) -> None:
    assert set(got) == set(expected)
    for key, e in expected.items():
        g = got[key]
        assert g[0] == e[0] and _close(g[1], e[1]) and _close(g[2], e[2]) and g[3:] == e[3:], key


def _hours(start: datetime, end: datetime) -> set[datetime]:
    return {start + i * HOUR for i in range(int((end - start) / HOUR))}


def test_market_totals_equal_the_exchange_rows_after_hourly_steps_late_hours_and_rewrites(database_url, pool):
    rows = _insert(database_url)
    hour = NEWEST - 30 * HOUR
    assert compute_market_hourly(pool, "pc", FIRST, hour).pairs == "added"  # nothing counted yet
    got, counted = _pairs(database_url)
    assert counted == _hours(FIRST, hour) and got
    _same_pairs(got, _pairs_from_scratch(rows, counted))
    for step in (1, 1, 3, 20):  # hour by hour as the automation runs, then most of a day at once
        assert compute_market_hourly(pool, "pc", hour, hour + step * HOUR).pairs == "added"
        hour += step * HOUR
        got, counted = _pairs(database_url)
        assert counted == _hours(FIRST, hour)
        _same_pairs(got, _pairs_from_scratch(rows, counted))
    # the market that existed but never traded keeps its hours, and no traded hour
    assert got[(THIN, "Standard", "chaos")][0] > 0 and got[(THIN, "Standard", "chaos")][5:] == (None, None)
    # a window after two hours not rolled up yet counts its own hours; those two, rolled up late, are added
    assert compute_market_hourly(pool, "pc", hour + 2 * HOUR, NEWEST + HOUR).pairs == "added"
    got, counted = _pairs(database_url)
    assert counted == _hours(FIRST, NEWEST + HOUR) - {hour, hour + HOUR}
    _same_pairs(got, _pairs_from_scratch(rows, counted))
    assert compute_market_hourly(pool, "pc", hour, hour + 2 * HOUR).pairs == "added"
    got, counted = _pairs(database_url)
    assert counted == _hours(FIRST, NEWEST + HOUR)
    _same_pairs(got, _pairs_from_scratch(rows, counted))
    stepped = got
    # a rewrite of an hour already counted sums the counted hours anew: the same totals exactly
    rewritten = NEWEST - 40 * HOUR
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM warehouse.exchange_prices WHERE observed_hour = %s AND item_key = %s",
                     (rewritten, item_storage_key(EXALTED)))
    assert compute_market_hourly(pool, "pc", rewritten, rewritten + HOUR).pairs == "rebuilt"
    got, counted = _pairs(database_url)
    assert counted == _hours(FIRST, NEWEST + HOUR)
    _same_pairs(got, _pairs_from_scratch([r for r in rows if not (r[3] == rewritten and r[1] == EXALTED)], counted))
    assert got[(EXALTED, "Standard", "chaos")][0] == stepped[(EXALTED, "Standard", "chaos")][0] - 1


def test_an_empty_realm_has_no_latest_market(pool):
    report = compute_market_latest(pool, "poe2")
    assert report.hour is None and report.rows == 0


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
    got, counted = _pairs(empty_database_url)
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
