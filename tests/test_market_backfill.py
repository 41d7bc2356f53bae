"""`tradewatch exchange backfill --local` of a range for each realm against the simulator's feed (real HTTP,
the project's dagster.yaml, a real PostgreSQL), then `market` over real HTTP: it answers the overview's
definitions, computed here from the stored exchange-price rows and divine rates (not from the rollups).
An hour the feed answers stale fails the raw check and is named, and the other hours are still priced and
rolled up by the same command."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from helpers.databases import with_user
from tradewatch.currency_exchange.catalog import item_storage_key
from tradewatch.market.exchange import CHAOS_PATH
from tradewatch.market_overview.windows import MIN_HOURS, MIN_UNITS
from tradewatch.warehouse.db import psycopg2_url

ROOT = Path(__file__).resolve().parent.parent
HOUR = timedelta(hours=1)
PC_START = datetime(2025, 3, 1, tzinfo=timezone.utc)
PC_END = PC_START + 200 * HOUR  # W0 … W7 and a few hours more
POE2_START = datetime(2025, 3, 5, tzinfo=timezone.utc)
POE2_END = POE2_START + 30 * HOUR
STALE = PC_START + 150 * HOUR


def _env(database_url: str, sim, home: Path) -> dict:
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    return {**os.environ, "DAGSTER_HOME": str(home), "TRADEWATCH_DATABASE_URL": database_url,
            "TRADEWATCH_DAGSTER_PG_URL": psycopg2_url(database_url), "TRADEWATCH_CX_REALMS": "pc,poe2",
            "TRADEWATCH_CX_URL": sim.url + "/api/currency-exchange", "TRADEWATCH_CX_MAX_PER_MINUTE": "100000",
            "TRADEWATCH_CX_MAX_IN_FLIGHT": "4"}


def _backfill(env: dict, logs: Path, *args: str) -> tuple[subprocess.Popen, Path]:
    """The command in its own process, its output in files (a pipe left unread while the other
    command runs could fill and stall it)."""
    logs.mkdir()
    with open(logs / "stdout", "w") as out, open(logs / "stderr", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "tradewatch.cli", "exchange", "backfill", *args, "--local"],
                                cwd=ROOT, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL, text=True)
    return proc, logs


def _outcome(proc: subprocess.Popen, logs: Path) -> subprocess.CompletedProcess:
    proc.wait(timeout=900)
    return subprocess.CompletedProcess(proc.args, proc.returncode, (logs / "stdout").read_text(),
                                       (logs / "stderr").read_text())


@pytest.fixture(scope="module")
def backfilled(pg_server_url, _template_db, tmp_path_factory):
    """A database filled by the command for both realms (one stale PC hour), and the commands' outcomes."""
    from helpers.databases import create_database, drop_database
    from trade_sim import SimConfig, SimServer

    name, url = create_database(pg_server_url, "tw_market", template=_template_db)
    stale = int(STALE.timestamp())
    with SimServer(SimConfig(cx_markets_per_hour=160, time_scale=0.01, cx_stale_hours=frozenset({stale}))) as sim:
        env = _env(url, sim, tmp_path_factory.mktemp("dagster_home"))
        # both realms at once, as two operators would: each command its own process, one instance;
        # their process starts and the simulator's answers overlap instead of adding up
        home = tmp_path_factory.mktemp("backfills")
        running = [_backfill(env, home / "pc", "--realm", "pc", "--from", PC_START.strftime("%Y-%m-%dT%H:00"),
                             "--to", PC_END.strftime("%Y-%m-%dT%H:00")),
                   _backfill(env, home / "poe2", "--realm", "poe2", "--from", POE2_START.strftime("%Y-%m-%dT%H:00"),
                             "--to", POE2_END.strftime("%Y-%m-%dT%H:00"))]
        try:
            pc, poe2 = [_outcome(*started) for started in running]
        finally:
            for proc, _ in running:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
    try:
        yield url, pc, poe2
    finally:
        drop_database(pg_server_url, name)


@pytest.fixture(scope="module")
def api(backfilled):
    from graphql_api.app import create_app
    from graphql_api.config import ApiSettings
    from helpers.servers import ServedApp
    from pydantic import SecretStr as Secret
    from tradewatch.warehouse.roles import API_ROLE, apply_api_password
    from tradewatch.watchlist import load_watchlist

    url = backfilled[0]
    apply_api_password(url, Secret("api-test-pw"))
    served = ServedApp(create_app(with_user(url, API_ROLE, "api-test-pw"), settings=ApiSettings(),
                                  watchlist=load_watchlist()))
    yield served
    served.stop()


def _data(api, query: str, variables: dict) -> dict:
    body = api.client.post("/graphql", json={"query": query, "variables": variables}).json()
    assert "errors" not in body, body
    return body["data"]


def _expected(url: str, realm: str, league: str, unit: str) -> tuple[datetime, dict[str, dict]]:
    """item id → the row's figures from the definitions, straight from warehouse.exchange_prices."""
    with psycopg.connect(url) as conn:
        hour = conn.execute("SELECT max(observed_hour) FROM warehouse.exchange_prices WHERE realm = %s",
                            (realm,)).fetchone()[0]
        rates = dict(((r[0]), r[1]) for r in conn.execute(
            "SELECT observed_hour, chaos_per_divine FROM analytics.exchange_divine_price WHERE realm = %s "
            "AND league = %s AND chaos_per_divine IS NOT NULL", (realm, league)))
        rows = conn.execute(
            "SELECT c.id, c.name, p.quote_currency, p.observed_hour, p.vwap_price, p.volume, p.quote_volume "
            "FROM warehouse.exchange_prices p JOIN warehouse.exchange_catalogue c "
            "ON c.game = warehouse.realm_game(p.realm) AND c.item_key = p.item_key "
            "WHERE p.realm = %s AND p.league = %s AND p.observed_hour > %s AND p.item_key <> %s",
            (realm, league, hour - 192 * HOUR, item_storage_key(CHAOS_PATH))).fetchall()
    acc: dict[str, dict] = {}
    for item, name, quote, observed, vwap, volume, quote_volume in rows:
        w = (hour - observed) // timedelta(hours=24)
        a = acc.setdefault(item, {"name": name, "volume": [0.0] * 8, "hours": set(),
                                  "value": [0.0] * 8, "units": [0.0] * 8})
        a["volume"][w] += volume
        if w == 0 and volume > 0:
            a["hours"].add(observed)
        if vwap is None:
            continue
        rate = rates.get(observed)
        if quote == unit:
            value = quote_volume
        elif rate is None:
            continue
        else:
            value = quote_volume * rate if unit == "chaos" else quote_volume / rate
        a["value"][w] += value
        a["units"][w] += volume
    out = {}
    for item, a in acc.items():
        if not any(v > 0 for v in a["volume"][:7]):
            continue
        prices = [v / u if u > 0 else None for v, u in zip(a["value"], a["units"])]
        out[item] = {"name": a["name"], "price": prices[0], "volume24h": a["volume"][0],
                     "value24h": a["value"][0] if a["units"][0] > 0 else None,
                     "change24h": None if None in (prices[0], prices[1]) else prices[0] / prices[1] - 1,
                     "change7d": None if None in (prices[0], prices[7]) else prices[0] / prices[7] - 1,
                     "sparkline": prices[6::-1],
                     "lowConfidence": len(a["hours"]) < MIN_HOURS or a["volume"][0] < MIN_UNITS or prices[0] is None}
    return hour, out


MARKET = """query($realm: Realm!, $league: String!, $currency: Currency!, $after: String, $search: String,
                  $category: String, $order: MarketOrder!) {
  market(realm: $realm, league: $league, currency: $currency, first: 500, after: $after, search: $search,
         category: $category, orderBy: $order) {
    totalCount hour pageInfo { hasNextPage endCursor }
    nodes { item { id name category metadataPath named } price change24h change7d volume24h value24h
            lowConfidence sparkline } } }"""


def _all_rows(api, **variables) -> tuple[dict, list[dict]]:
    variables = {"currency": "CHAOS", "order": "VALUE_DESC", "after": None, "search": None, "category": None,
                 **variables}
    rows, page = [], None
    for _ in range(50):
        page = _data(api, MARKET, variables)["market"]
        rows += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        variables["after"] = page["pageInfo"]["endCursor"]
    return page, rows


def _close(a, b) -> bool:
    return a is b if a is None or b is None else a == pytest.approx(b, rel=1e-9)


def test_a_stale_hour_fails_the_raw_check_but_the_rest_is_priced_and_rolled_up(backfilled):
    url, pc, poe2 = backfilled
    assert pc.returncode == 1, pc.stdout + pc.stderr
    assert STALE.strftime("%Y-%m-%d-%H:00") in pc.stdout + pc.stderr and "stale" in pc.stdout + pc.stderr
    assert poe2.returncode == 0, poe2.stdout[-3000:] + poe2.stderr[-3000:]
    with psycopg.connect(url) as conn:
        hours = {r[0]: r[1] for r in conn.execute(
            "SELECT realm, count(DISTINCT observed_hour) FROM warehouse.exchange_prices GROUP BY realm")}
        rolled = {r[0]: r[1] for r in conn.execute(
            "SELECT realm, count(DISTINCT observed_hour) FROM warehouse.market_hourly GROUP BY realm")}
        state = dict(conn.execute("SELECT realm, hour FROM warehouse.market_state").fetchall())
    assert hours == {"pc": 199, "poe2": 30} and rolled == hours
    assert state == {"pc": PC_END - HOUR, "poe2": POE2_END - HOUR}


@pytest.mark.parametrize("realm,league,currency", [("PC", "Settlers", "CHAOS"), ("PC", "Settlers", "DIVINE"),
                                                   ("PC", "Standard", "CHAOS"), ("POE2", "Runes of Aldur", "CHAOS")])
def test_market_answers_the_definitions(backfilled, api, realm, league, currency):
    hour, expected = _expected(backfilled[0], realm.lower(), league, currency.lower())
    page, rows = _all_rows(api, realm=realm, league=league, currency=currency)
    assert datetime.fromisoformat(page["hour"]) == hour
    assert page["totalCount"] == len(rows) == len(expected) > 5
    assert {r["item"]["id"] for r in rows} == set(expected)
    for r in rows:
        e = expected[r["item"]["id"]]
        assert r["item"]["name"] == e["name"] and not r["item"]["name"].startswith("Metadata/")
        for f in ("price", "change24h", "change7d", "value24h"):
            assert _close(r[f], e[f]), (r["item"]["id"], f, r[f], e[f])
        assert _close(r["volume24h"], e["volume24h"]) and r["lowConfidence"] == e["lowConfidence"]
        assert len(r["sparkline"]) == 7 and all(_close(a, b) for a, b in zip(r["sparkline"], e["sparkline"]))
    values = [r["value24h"] for r in rows]
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=True) and values[:len(present)] == present  # nulls last
    assert any(r["lowConfidence"] for r in rows) and not all(r["lowConfidence"] for r in rows)


def test_search_category_and_orders(backfilled, api):
    _, everything = _all_rows(api, realm="PC", league="Settlers")
    some = everything[len(everything) // 2]["item"]
    needle = some["name"][1:5].upper()
    _, found = _all_rows(api, realm="PC", league="Settlers", search=needle)
    assert {r["item"]["id"] for r in found} == {r["item"]["id"] for r in everything
                                               if needle.lower() in r["item"]["name"].lower()}
    _, in_category = _all_rows(api, realm="PC", league="Settlers", category=some["category"])
    assert in_category and {r["item"]["category"] for r in in_category} == {some["category"]}
    for order, key, reverse in (("NAME_ASC", lambda r: r["item"]["name"].lower(), False),
                                ("PRICE_ASC", lambda r: r["price"], False),
                                ("VOLUME_DESC", lambda r: r["volume24h"], True),
                                ("CHANGE_24H_DESC", lambda r: r["change24h"], True)):
        page = _data(api, MARKET.replace("first: 500", "first: 7"),
                     {"realm": "PC", "league": "Settlers", "currency": "CHAOS", "order": order, "after": None,
                      "search": None, "category": None})["market"]
        _, rows = _all_rows(api, realm="PC", league="Settlers", order=order)
        assert [r["item"]["id"] for r in rows[:7]] == [r["item"]["id"] for r in page["nodes"]]
        keyed = [key(r) for r in rows if key(r) is not None]
        assert keyed == sorted(keyed, reverse=reverse) and len(rows) == len(everything)
    assert CHAOS_PATH not in {r["item"]["metadataPath"] for r in everything}


@pytest.mark.parametrize("order", ["VALUE_DESC", "NAME_ASC", "PRICE_ASC", "PRICE_DESC", "VOLUME_DESC",
                                   "CHANGE_24H_DESC", "CHANGE_24H_ASC"])
def test_small_pages_walk_the_same_rows_as_one_page(backfilled, api, order):
    # a page is chosen among the rows tied on the sort value before the names break the ties: pages of 4
    # cross runs of equal values (no value, NAME_ASC's single run) and must still give every row once, in order
    whole, rows = _all_rows(api, realm="PC", league="Standard", order=order)
    assert not whole["pageInfo"]["hasNextPage"] and len(rows) > 8
    walked, variables = [], {"realm": "PC", "league": "Standard", "currency": "CHAOS", "order": order,
                             "after": None, "search": None, "category": None}
    for _ in range(len(rows)):
        page = _data(api, MARKET.replace("first: 500", "first: 4"), variables)["market"]
        assert page["totalCount"] == len(rows)
        walked += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        variables["after"] = page["pageInfo"]["endCursor"]
    assert [r["item"]["id"] for r in walked] == [r["item"]["id"] for r in rows]


def test_market_item_and_categories(backfilled, api):
    _, rows = _all_rows(api, realm="PC", league="Settlers")
    top = rows[0]["item"]
    query = """query($id: ID!) { marketItem(id: $id) { item { id name } realm
        leagues { league firstHour lastHour price priceDivine volume lowConfidence volumeTotal }
        markets { league quoteCurrency hours volume } } categories }"""
    by_name = _data(api, query, {"id": top["name"]})
    by_path = _data(api, query, {"id": top["metadataPath"]})
    assert by_name == by_path and by_name["marketItem"]["item"]["id"] == top["id"]
    leagues = {l["league"]: l for l in by_name["marketItem"]["leagues"]}
    assert "Settlers" in leagues and _close(leagues["Settlers"]["price"], rows[0]["price"])
    assert {m["league"] for m in by_name["marketItem"]["markets"]} == set(leagues)
    assert top["category"] in by_name["categories"]
    body = api.client.post("/graphql", json={"query": query, "variables": {"id": top["name"][:-1] + "x"}}).json()
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND" and "did you mean" in body["errors"][0]["message"]


def test_bad_market_arguments_are_clear_errors(api):
    for variables, needle in (({"after": "garbage"}, "cursor"), ({"league": "Setlers"}, "Settlers")):
        body = api.client.post("/graphql", json={"query": MARKET, "variables": {
            "realm": "PC", "league": "Settlers", "currency": "CHAOS", "order": "VALUE_DESC", "search": None,
            "category": None, "after": None, **variables}}).json()
        assert "errors" in body and needle in body["errors"][0]["message"], body


# ---- the dashboard's market and item pages, in headless Chromium --------------------------------

@pytest.fixture(scope="module")
def browser_page():
    chromium = os.environ.get("TRADEWATCH_CHROMIUM", "/usr/bin/chromium")
    if not os.path.exists(chromium):
        pytest.fail(f"{chromium} is missing: run `make system-deps` (or set TRADEWATCH_CHROMIUM)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox"], timeout=30_000)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.set_default_timeout(15_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        yield page, errors
        browser.close()


def test_the_market_page_shows_the_items_by_name_and_links_to_item_pages(backfilled, api, browser_page):
    page, errors = browser_page
    _, rows = _all_rows(api, realm="PC", league="Settlers")
    page.goto(f"{api.base}/dashboard/market?realm=PC&league=Settlers", wait_until="load")
    page.wait_for_selector("body[data-state=ready]")
    names = page.locator("#market tbody a.item-name").all_inner_texts()
    assert names == [r["item"]["name"] for r in rows[:100]]  # value order, first page
    assert not any(n.startswith("Metadata/") for n in names)
    low = page.locator("#market tbody td.low-confidence").count()
    assert low == sum(r["lowConfidence"] for r in rows[:100])
    # search narrows the rows to the names containing the text
    needle = rows[0]["item"]["name"][:4]
    page.fill("#search", needle)
    page.wait_for_function("n => [...document.querySelectorAll('#market tbody a.item-name')]"
                           ".every(a => a.textContent.toLowerCase().includes(n.toLowerCase()))", arg=needle)
    assert "search=" in page.url
    # the first row's name opens its item page, which names it and draws its chart
    page.locator("#market tbody a.item-name").first.click()
    page.wait_for_selector("body[data-state=ready]")
    assert page.locator("#item-name").inner_text() == rows[0]["item"]["name"] or needle.lower() in \
        page.locator("#item-name").inner_text().lower()
    page.wait_for_selector("#price-chart .main-svg")
    assert page.locator("#leagues tbody tr").count() >= 1
    assert page.locator("#market-link").get_attribute("href").startswith("/dashboard/market")
    assert not errors, errors


def test_the_watchlist_dashboard_links_to_the_market_page(api):
    html = api.client.get("/dashboard").text
    assert 'href="/dashboard/market"' in html
    assert api.client.get("/dashboard/item/Metadata/Items/Currency/CurrencyAddModToRare").status_code == 200


def test_the_range_is_checked_before_anything_runs():
    from tradewatch.cli.exchange_backfill import exchange_range
    from tradewatch.errors import TradeWatchError

    now = datetime(2026, 12, 7, 10, 30, tzinfo=timezone.utc)
    r = exchange_range("poe2", "2025-01-01", "2025-01-02T06", False, now=now)
    assert (r.first_key, r.last_key, r.hours) == ("2025-01-01-00:00", "2025-01-02-05:00", 30)
    everything = exchange_range("pc", None, None, True, now=now)
    assert everything.first_key == "2024-07-26-20:00" and everything.end == datetime(2026, 12, 7, 10, tzinfo=timezone.utc)
    for args, needle in ((("pc", "2020-01-01", "2025-01-01", False), "first published hour 2024-07-26-20:00"),
                         (("poe2", "2024-12-01", "2025-01-01", False), "2024-12-06-19:00"),
                         (("pc", "2026-12-01", "2026-12-08", False), "at the latest"),
                         (("pc", "2025-01-02", "2025-01-01", False), "must be before"),
                         (("pc", "2025-01-01", None, False), "give --from and --to"),
                         (("pc", "2025-01-01", "2025-01-02", True), "either --all or --from/--to"),
                         (("pc", "2025-01-01T10:30", "2025-01-02", False), "whole hour")):
        with pytest.raises(TradeWatchError, match=needle):
            exchange_range(*args, now=now)


def test_exchange_prices_by_league_day_count_buckets_from_the_league_start(backfilled, api):
    url = backfilled[0]
    _, rows = _all_rows(api, realm="PC", league="Settlers")
    item = rows[0]["item"]
    query = """query($item: ID!, $align: ExchangeAlign!) { exchangePrices(league: "Settlers", items: [$item],
        from: "2025-03-01T00:00Z", to: "2025-03-10T00:00Z", bucket: DAY, alignBy: $align) {
        points time volume leagueStart age } }"""
    (by_age,) = _data(api, query, {"item": item["metadataPath"], "align": "LEAGUE_DAY"})["exchangePrices"]
    with psycopg.connect(url) as conn:
        start = conn.execute("SELECT min(observed_hour) FROM warehouse.exchange_prices WHERE realm = 'pc' "
                             "AND league = 'Settlers'").fetchone()[0]
        units = conn.execute(
            "SELECT floor(extract(epoch FROM p.observed_hour - %s) / 86400)::int, sum(p.volume) "
            "FROM warehouse.exchange_prices p JOIN warehouse.exchange_catalogue c ON c.game = 'poe1' "
            "AND c.item_key = p.item_key WHERE p.realm = 'pc' AND p.league = 'Settlers' AND c.id = %s "
            "AND p.quote_currency = 'chaos' GROUP BY 1 ORDER BY 1", (start, item["id"])).fetchall()
    assert datetime.fromisoformat(by_age["leagueStart"]) == start
    assert by_age["age"] == [a for a, _ in units]
    assert all(_close(a, b) for a, (_, b) in zip(by_age["volume"], units))
    assert [datetime.fromisoformat(t) for t in by_age["time"]] == [start + a * timedelta(days=1) for a in by_age["age"]]
    (by_date,) = _data(api, query, {"item": item["metadataPath"], "align": "DATE"})["exchangePrices"]
    assert by_date["age"] is None and by_date["leagueStart"] is None
