"""The dashboard in headless Chromium against the real API and simulated history: it
draws what the GraphQL API answers, follows the controls, shows the API's errors, and
never reaches past 127.0.0.1."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

WAIT_MS = 10_000

SERIES = """query($items: [ID!], $from: DateTime, $to: DateTime, $bucket: Bucket!) {
  priceSeries(items: $items, from: $from, to: $to, bucket: $bucket) {
    item { id } time close robustClose avgPrice executedPrice executedVolume }
}"""
PROFIT = """query($strategy: String, $from: DateTime, $to: DateTime, $after: String) {
  profitability(strategy: $strategy, from: $from, to: $to, first: 500, after: $after) {
    nodes { hour policy expectedProfitPerUnit } pageInfo { hasNextPage endCursor } }
}"""
CHART = """id => { const c = document.getElementById(id);
  return {traces: c.data.map(t => ({x: t.x, y: t.y, meta: t.meta, text: t.text,
                                    color: t.line ? t.line.color : (t.marker ? t.marker.color : null)})),
          from: c.dataset.from, to: c.dataset.to, bucket: c.dataset.bucket}; }"""
MEASURES = ("close", "robustClose", "avgPrice")


def plot_time(iso: str) -> str:
    """What the page hands plotly for an API time: UTC as "YYYY-MM-DD HH:MM:SS"."""
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def wait_for_load(page, after: int = 0) -> None:
    """Until the page finished load number `after` + 1 (drawn, whatever the outcome)."""
    page.wait_for_function("n => Number(document.body.dataset.loads) > n", arg=after, timeout=WAIT_MS)


def loads(page) -> int:
    return int(page.evaluate("() => Number(document.body.dataset.loads)"))


def assert_clean(watched) -> None:
    """No console errors, no failed requests, nothing off 127.0.0.1, and data only from /graphql: the
    dashboard's own queries as persisted-query GETs (known to the server), anything else POSTed."""
    assert watched.console_errors == []
    assert watched.page_errors == []
    assert watched.blocked == []
    assert watched.failed == []
    for method, path, body in watched.requests:
        assert (method, path) == ("POST", "/graphql") or (method == "GET" and path.startswith("/dashboard")) \
            or ((method, path) == ("GET", "/graphql") and body and body["query"]), (method, path, body)


def line_traces(chart: dict) -> list[dict]:
    """The price lines (not the alert markers)."""
    return [t for t in chart["traces"] if "measure" in t["meta"]]


def assert_matches_price_series(api, chart: dict) -> int:
    """Every line holds exactly what priceSeries answers for the page's range (the minimum, the
    robust minimum and the depth average of each item); returns the point count."""
    traces = line_traces(chart)
    items = list(dict.fromkeys(t["meta"]["item"] for t in traces))
    assert items, "the price chart has no traces"
    answer = api.data(SERIES, {"items": items, "from": chart["from"], "to": chart["to"], "bucket": chart["bucket"]})
    series = {s["item"]["id"]: s for s in answer["priceSeries"]}
    for trace in traces:
        expected = series[trace["meta"]["item"]]
        assert trace["x"] == [plot_time(t) for t in expected["time"]]
        assert trace["y"] == expected[trace["meta"]["measure"]]
    measures = {(t["meta"]["item"], t["meta"]["measure"]) for t in traces}
    # the executed price and volume are drawn for the items that traded on the Currency Exchange
    executed = {(item, m) for item in items for m in ("executedPrice", "executedVolume")
                if any(v is not None for v in series[item][m])}
    assert measures == {(item, m) for item in items for m in MEASURES} | executed
    return sum(len(t["x"]) for t in traces)


def test_the_executed_price_and_volume_are_drawn_beside_the_book_price(open_dashboard, api, history, watchlist):
    import psycopg

    from helpers.databases import insert_exchange_price

    item = watchlist.items[-1]  # not among the default view's items: the other tests' charts stay as they are
    hours = [history.end - timedelta(hours=h) for h in (6, 5, 4)]
    with psycopg.connect(history.url, autocommit=True) as conn:
        for index, hour in enumerate(hours):
            insert_exchange_price(conn, "Standard", hour, item, f"Metadata/Test/{item}", "divine", 0.5 + index, 10)
    watched = open_dashboard(f"#items={item}&range=24h")
    page = watched.page
    wait_for_load(page)
    chart = page.evaluate(CHART, "price-chart")
    assert_matches_price_series(api, chart)
    traces = {t["meta"]["measure"]: t for t in line_traces(chart)}
    assert set(traces) == {*MEASURES, "executedPrice", "executedVolume"}
    drawn = {x: (p, v) for x, p, v in zip(traces["executedPrice"]["x"], traces["executedPrice"]["y"],
                                          traces["executedVolume"]["y"]) if p is not None}
    assert drawn == {plot_time(h.isoformat()): (0.5 + i, 10) for i, h in enumerate(hours)}
    styles = page.evaluate("""() => { const c = document.getElementById('price-chart');
      return {types: c.data.map(t => [t.meta.measure, t.type, t.line ? t.line.dash : null, t.yaxis || 'y']),
              volumeAxis: Boolean(c.layout.yaxis2)}; }""")
    assert ["executedPrice", "scatter", "dashdot", "y"] in styles["types"]
    assert ["executedVolume", "bar", None, "y2"] in styles["types"] and styles["volumeAxis"]
    assert_clean(watched)


def profitability_rows(api, strategy: str, start: str, end: str) -> list[dict]:
    rows, after = [], None
    for _ in range(20):
        page = api.data(PROFIT, {"strategy": strategy, "from": start, "to": end, "after": after})["profitability"]
        rows += page["nodes"]
        if not page["pageInfo"]["hasNextPage"]:
            return rows
        after = page["pageInfo"]["endCursor"]
    raise AssertionError("more profitability pages than a 7-day range can have")


def test_dashboard_draws_what_the_api_answers(open_dashboard, api, watchlist):
    watched = open_dashboard()
    page = watched.page
    wait_for_load(page)
    assert page.evaluate("() => document.body.dataset.state") == "ready"

    prices = page.evaluate(CHART, "price-chart")
    assert prices["bucket"] == "HOUR"
    points = assert_matches_price_series(api, prices)
    assert points > 3 * 3 * 100  # three items, three measures, a week of hours (less the newest)

    profit = page.evaluate(CHART, "profit-chart")
    policies = {t["meta"]["policy"]: t for t in profit["traces"]}
    assert set(policies) == {"TOP_K", "OPTIMAL"}
    strategy = watchlist.strategies[0].name
    assert page.input_value("#strategy") == strategy
    expected = profitability_rows(api, strategy, profit["from"], profit["to"])
    # a week is more than one page: the page followed the cursor to the end
    pages = watched.graphql("DashboardProfit")
    assert len(pages) >= 2 and pages[0]["variables"]["after"] is None and pages[1]["variables"]["after"]
    for policy, trace in policies.items():
        rows = [r for r in expected if r["policy"] == policy]
        assert len(rows) > 100
        assert trace["x"] == [plot_time(r["hour"]) for r in rows]
        assert trace["y"] == [r["expectedProfitPerUnit"] for r in rows]

    watched_items = [item for item in api.data("{ items { id watched } }")["items"] if item["watched"]]
    rows = page.locator("#latest tbody tr[data-item]")
    assert rows.count() == len(watched_items) == len(watchlist.items)
    assert page.locator("#latest tbody td.empty").count() == 0  # every item has a snapshot
    assert page.locator("#errors").is_hidden()
    assert_clean(watched)


def test_daily_bucket_redraws_with_fewer_points(open_dashboard, api):
    watched = open_dashboard()
    page = watched.page
    wait_for_load(page)
    hourly = page.evaluate(CHART, "price-chart")
    hourly_profit = sum(len(t["x"]) for t in page.evaluate(CHART, "profit-chart")["traces"])

    before = loads(page)
    page.click("#buckets button[data-bucket=DAY]")
    wait_for_load(page, before)
    daily = page.evaluate(CHART, "price-chart")
    assert daily["bucket"] == "DAY"
    assert 0 < assert_matches_price_series(api, daily) < assert_matches_price_series(api, hourly) / 10
    daily_profit = page.evaluate(CHART, "profit-chart")["traces"]
    assert 0 < sum(len(t["x"]) for t in daily_profit) < hourly_profit / 10
    assert "bucket=DAY" in page.url  # the view is kept in the fragment
    assert_clean(watched)


def test_invalid_range_shows_the_api_error(open_dashboard, api):
    watched = open_dashboard()
    page = watched.page
    wait_for_load(page)

    before = loads(page)
    page.fill("#from", "2026-03-10T12:00")
    page.fill("#to", "2026-03-05T12:00")
    page.dispatch_event("#to", "change")
    wait_for_load(page, before)

    body = api.client.post("/graphql", json={"query": SERIES, "variables": {
        "items": ["deafening-essence-of-greed"], "from": "2026-03-10T12:00:00Z", "to": "2026-03-05T12:00:00Z",
        "bucket": "HOUR"}}).json()
    message = body["errors"][0]["message"]
    assert "earlier than `to`" in message
    errors = page.locator("#errors")
    errors.wait_for(state="visible", timeout=WAIT_MS)
    assert message in errors.inner_text()
    assert "BAD_USER_INPUT" in errors.inner_text()
    assert page.evaluate("() => document.body.dataset.state") == "error"
    assert_clean(watched)


def test_a_league_without_data_is_not_found_naming_the_stored_leagues_and_the_closest(open_dashboard):
    watched = open_dashboard("#league=Standrd&range=24h")
    page = watched.page
    wait_for_load(page)
    assert page.input_value("#league") == "Standrd"
    errors = page.locator("#errors")
    errors.wait_for(state="visible", timeout=WAIT_MS)
    assert "NOT_FOUND" in errors.inner_text()
    assert "no data is stored for league 'Standrd' (did you mean 'Standard'?)" in errors.inner_text()
    assert_clean(watched)


def test_typed_api_key_is_sent_with_every_query(browser, keyed_api):
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    try:
        page = context.new_page()
        sent: list[str | None] = []

        def proxy(route) -> None:
            # a proxy that lets the page itself through but not the API
            request = route.request
            if "/graphql" in request.url:
                sent.append(request.headers.get("x-api-key"))
                route.continue_()
            else:
                route.continue_(headers={**request.headers, "x-api-key": "k-123"})

        page.route(f"{keyed_api.base}/**", proxy)
        page.goto(f"{keyed_api.base}/dashboard", timeout=15_000)
        page.locator("#errors").wait_for(state="visible", timeout=WAIT_MS)
        assert "UNAUTHENTICATED" in page.locator("#errors").inner_text()

        page.fill("#api-key", "k-123")
        with page.expect_navigation(timeout=WAIT_MS):
            page.dispatch_event("#api-key", "change")
        wait_for_load(page)
        assert page.evaluate("() => document.body.dataset.state") == "ready"
        assert page.evaluate("() => sessionStorage.getItem('tradewatch.apiKey')") == "k-123"
        assert sent[0] is None and sent[-3:] == ["k-123"] * 3
        assert page.evaluate("() => document.getElementById('price-chart').data.length") == 3 * len(MEASURES)
    finally:
        context.close()


def test_the_unit_switch_asks_for_chaos_and_the_league_list_has_the_stored_leagues(open_dashboard):
    watched = open_dashboard("#currency=CHAOS&range=24h")
    page = watched.page
    wait_for_load(page)
    assert page.input_value("#currency") == "CHAOS"
    assert page.locator("#latest-info").inner_text().startswith("in chaos")
    assert page.evaluate("() => [...document.querySelectorAll('#league-list option')].map(o => o.value)") == ["Standard"]
    before = page.evaluate("() => document.body.dataset.loads")
    page.select_option("#currency", "DIVINE")
    wait_for_load(page, before)
    assert page.locator("#latest-info").inner_text().startswith("in divine")
    assert "currency=DIVINE" in page.url
    assert_clean(watched)


def _lab(color: str) -> tuple[float, float, float]:
    """CIELAB (D65) of "#rrggbb": distances there follow what the eye tells apart."""
    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(int(color[i:i + 2], 16) / 255) for i in (1, 3, 5))
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
    f = [v ** (1 / 3) if v > 0.008856 else 7.787 * v + 16 / 116 for v in (x, y, z)]
    return 116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])


CHIP_COLOURS = ("() => Object.fromEntries([...document.querySelectorAll('#items .chip')]"
                ".map(c => [c.dataset.item, c.dataset.color]))")


def test_every_watched_item_gets_its_own_clearly_distinct_colour_kept_across_reloads(open_dashboard, watchlist):
    items = list(watchlist.items)
    assert len(items) >= 21
    watched = open_dashboard(f"#items={','.join(items)}&range=24h")
    page = watched.page
    wait_for_load(page)
    colours = page.evaluate(CHIP_COLOURS)
    assert list(colours) == items  # a chip per item, in watchlist order
    assert len(set(colours.values())) == len(items)
    closest = min(math.dist(_lab(a), _lab(b)) for a, b in itertools.combinations(colours.values(), 2))
    assert closest > 30, f"two item colours are only ΔE {closest:.1f} apart"
    # every line of an item is drawn in the colour of its chip
    lines = line_traces(page.evaluate(CHART, "price-chart"))
    assert {t["meta"]["item"] for t in lines} == set(items)
    assert all(t["color"] == colours[t["meta"]["item"]] for t in lines)

    # the colour follows the watchlist position, not what is charted or when the page loaded
    page.goto(f"{page.url.split('#')[0]}#items={items[-1]}&range=24h")
    page.reload(wait_until="load")
    wait_for_load(page)
    assert page.evaluate(CHIP_COLOURS) == colours
    only = line_traces(page.evaluate(CHART, "price-chart"))
    assert {t["color"] for t in only} == {colours[items[-1]]}
    assert_clean(watched)


def test_the_robust_minimum_is_drawn_dashed_beside_the_minimum_and_the_legend_says_so(open_dashboard):
    watched = open_dashboard("#range=24h")
    page = watched.page
    wait_for_load(page)
    styles = page.evaluate("""() => document.getElementById('price-chart').data
        .filter(t => t.meta.measure).map(t => [t.meta.measure, t.line.dash || 'solid', t.hovertemplate])""")
    by_measure = {measure: (dash, hover) for measure, dash, hover in styles}
    assert by_measure["close"][0] == "solid"
    assert by_measure["robustClose"][0] == "dash" and "robust min" in by_measure["robustClose"][1]
    assert by_measure["avgPrice"][0] == "dot"
    legend = page.locator("#price-legend").inner_text()
    assert "Solid: the cheapest offer" in legend and "Dashed: the robust minimum" in legend
    assert "Dotted: the depth-aware average" in legend
    assert_clean(watched)


GREED = "deafening-essence-of-greed"


@pytest.fixture
def stored_alerts(history, watchlist):
    """Two crossings stored as the price_alerts asset stores them, in the last week: a price rule
    on Greed and a profit rule on the first strategy; removed afterwards."""
    strategy = watchlist.strategies[0].name
    with psycopg.connect(history.url, autocommit=True) as conn:
        price_hour, robust = conn.execute(
            "SELECT observed_hour, robust_min_price FROM warehouse.price_snapshots WHERE item_id = %s "
            "AND robust_min_price IS NOT NULL AND observed_hour <= %s ORDER BY observed_hour DESC LIMIT 1",
            (GREED, history.end - timedelta(hours=30))).fetchone()
        profit_hour, profit = conn.execute(
            "SELECT observed_hour, expected_profit_per_unit FROM warehouse.reroll_profitability WHERE strategy = %s "
            "AND policy = 'optimal' AND observed_hour <= %s ORDER BY observed_hour DESC LIMIT 1",
            (strategy, history.end - timedelta(hours=50))).fetchone()
        rows = [("cheap-greed", price_hour, "price", GREED, None, None, "book", "below", robust * 1.25, robust),
                ("reroll-pays", profit_hour, "profit", None, strategy, "optimal", "profitability", "above",
                 profit - 1.0, profit)]
        for row in rows:
            conn.execute("INSERT INTO warehouse.alerts (game, league, rule, observed_hour, kind, item_id, strategy, "
                         "policy, source, comparison, threshold, value, currency) VALUES "
                         "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                         (watchlist.game, watchlist.league, *row, watchlist.paid_with))
        try:
            yield {r[0]: r for r in rows}
        finally:
            conn.execute("DELETE FROM warehouse.alerts WHERE rule IN ('cheap-greed', 'reroll-pays')")


def test_alert_crossings_are_marked_on_the_chart_of_their_item_and_on_the_profitability_chart(
        open_dashboard, stored_alerts, watchlist):
    watched = open_dashboard(f"#items={GREED}&range=7d")
    page = watched.page
    wait_for_load(page)
    assert page.evaluate("() => document.body.dataset.state") == "ready"
    unit = watchlist.paid_with

    _, hour, _, _, _, _, _, _, threshold, value = stored_alerts["cheap-greed"]
    prices = page.evaluate(CHART, "price-chart")
    markers = [t for t in prices["traces"] if t["meta"].get("alert")]
    assert len(markers) == 1 and markers[0]["meta"]["item"] == GREED
    assert markers[0]["x"] == [plot_time(hour.isoformat())]
    robust = next(t for t in line_traces(prices) if t["meta"]["measure"] == "robustClose")
    # on the robust line, at the hour of the crossing
    assert markers[0]["y"] == [robust["y"][robust["x"].index(markers[0]["x"][0])]] == [value]
    text = markers[0]["text"][0]
    assert text.startswith("alert cheap-greed: robust min ") and f" {unit}, below " in text
    assert f"{value:.3g}"[:4] in text and f"{threshold:.3g}"[:4] in text

    _, hour, _, _, strategy, _, _, _, threshold, value = stored_alerts["reroll-pays"]
    profit = page.evaluate(CHART, "profit-chart")
    marks = [t for t in profit["traces"] if t["meta"].get("alert")]
    assert len(marks) == 1 and marks[0]["meta"]["policy"] == "OPTIMAL"
    assert marks[0]["x"] == [plot_time(hour.isoformat())] and marks[0]["y"] == [value]
    assert marks[0]["text"][0].startswith(f"alert reroll-pays: {strategy} (optimal) profit per unit ")
    assert "Triangles: crossings of the strategy's alert rules" in page.locator("#profit-note").inner_text()

    # a crossing of an item that is not charted is drawn nowhere
    before = loads(page)
    page.click(f"#items .chip[data-item='{GREED}']")
    wait_for_load(page, before)
    assert not [t for t in page.evaluate(CHART, "price-chart")["traces"] if t["meta"].get("alert")]
    assert len(watched.graphql("DashboardAlerts")) == 2
    assert_clean(watched)


def test_the_24h_change_uses_the_nearest_older_priced_hour_when_the_exact_one_has_no_price(open_dashboard, history):
    with psycopg.connect(history.url, autocommit=True) as conn:
        newest, now = conn.execute("SELECT observed_hour, robust_min_price FROM warehouse.price_snapshots "
                                   "WHERE item_id = %s ORDER BY observed_hour DESC LIMIT 1", (GREED,)).fetchone()
        exact = newest - timedelta(hours=24)
        kept = conn.execute("SELECT robust_min_price FROM warehouse.price_snapshots WHERE item_id = %s "
                            "AND observed_hour = %s", (GREED, exact)).fetchone()[0]
        then = conn.execute("SELECT robust_min_price FROM warehouse.price_snapshots WHERE item_id = %s "
                            "AND observed_hour = %s", (GREED, exact - timedelta(hours=1))).fetchone()[0]
        assert None not in (now, kept, then)
        # the exact hour a day earlier had no robust price (an empty or all-bait book)
        conn.execute("UPDATE warehouse.price_snapshots SET robust_min_price = NULL WHERE item_id = %s "
                     "AND observed_hour = %s", (GREED, exact))
        try:
            watched = open_dashboard("#range=24h")
            wait_for_load(watched.page)
            cells = watched.page.locator(f"#latest tbody tr[data-item='{GREED}'] td.num")
            shown = cells.nth(3).inner_text()  # min, robust min, avg, then 24 h
        finally:
            conn.execute("UPDATE warehouse.price_snapshots SET robust_min_price = %s WHERE item_id = %s "
                         "AND observed_hour = %s", (kept, GREED, exact))
    change = (now - then) / then
    assert shown == f"{'+' if change > 0 else ''}{change * 100:.1f} %"
    assert_clean(watched)
