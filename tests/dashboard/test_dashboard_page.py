"""The dashboard in headless Chromium against the real API and simulated history: it
draws what the GraphQL API answers, follows the controls, shows the API's errors, and
never reaches past 127.0.0.1."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

WAIT_MS = 10_000

SERIES = """query($items: [ID!], $from: DateTime, $to: DateTime, $bucket: Bucket!) {
  priceSeries(items: $items, from: $from, to: $to, bucket: $bucket) {
    item { id } time close avgPrice executedPrice executedVolume }
}"""
PROFIT = """query($strategy: String, $from: DateTime, $to: DateTime, $after: String) {
  profitability(strategy: $strategy, from: $from, to: $to, first: 500, after: $after) {
    nodes { hour policy expectedProfitPerUnit } pageInfo { hasNextPage endCursor } }
}"""
CHART = """id => { const c = document.getElementById(id);
  return {traces: c.data.map(t => ({x: t.x, y: t.y, meta: t.meta})), from: c.dataset.from, to: c.dataset.to,
          bucket: c.dataset.bucket}; }"""


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
    """No console errors, no failed requests, nothing off 127.0.0.1, and data only from POST /graphql."""
    assert watched.console_errors == []
    assert watched.page_errors == []
    assert watched.blocked == []
    assert watched.failed == []
    for method, path, _ in watched.requests:
        assert (method, path) == ("POST", "/graphql") or (method == "GET" and path.startswith("/dashboard")), path


def assert_matches_price_series(api, chart: dict) -> int:
    """Every trace holds exactly what priceSeries answers for the page's range; returns the point count."""
    items = list(dict.fromkeys(t["meta"]["item"] for t in chart["traces"]))
    assert items, "the price chart has no traces"
    answer = api.data(SERIES, {"items": items, "from": chart["from"], "to": chart["to"], "bucket": chart["bucket"]})
    series = {s["item"]["id"]: s for s in answer["priceSeries"]}
    for trace in chart["traces"]:
        expected = series[trace["meta"]["item"]]
        assert trace["x"] == [plot_time(t) for t in expected["time"]]
        assert trace["y"] == expected[trace["meta"]["measure"]]
    measures = {(t["meta"]["item"], t["meta"]["measure"]) for t in chart["traces"]}
    # the executed price and volume are drawn for the items that traded on the Currency Exchange
    executed = {(item, m) for item in items for m in ("executedPrice", "executedVolume")
                if any(v is not None for v in series[item][m])}
    assert measures == {(item, m) for item in items for m in ("close", "avgPrice")} | executed
    return sum(len(t["x"]) for t in chart["traces"])


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
    traces = {t["meta"]["measure"]: t for t in chart["traces"]}
    assert set(traces) == {"close", "avgPrice", "executedPrice", "executedVolume"}
    drawn = {x: (p, v) for x, p, v in zip(traces["executedPrice"]["x"], traces["executedPrice"]["y"],
                                          traces["executedVolume"]["y"]) if p is not None}
    assert drawn == {plot_time(h.isoformat()): (0.5 + i, 10) for i, h in enumerate(hours)}
    styles = page.evaluate("""() => { const c = document.getElementById('price-chart');
      return {types: c.data.map(t => [t.meta.measure, t.type, t.line ? t.line.dash : null, t.yaxis || 'y']),
              volumeAxis: Boolean(c.layout.yaxis2)}; }""")
    assert ["executedPrice", "scatter", "dash", "y"] in styles["types"]
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
    assert points > 2 * 3 * 100  # three items, two measures, a week of hours (less the newest)

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
        assert page.evaluate("() => document.getElementById('price-chart').data.length") == 6
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
