"""Each root field over real HTTP against a direct SQL computation of the same answer."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from tradewatch.bulk_exchange.catalog import item_name
from helpers.raw_rows import select_raw

GREED = "deafening-essence-of-greed"


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def test_items_lists_the_watched_items_with_names_and_searches_case_insensitively(api, watchlist):
    items = api.data("{ items { id name category watched } }")["items"]
    assert [i["id"] for i in items] == list(watchlist.items)
    assert all(i["name"] == item_name(i["id"]) and i["watched"] for i in items)
    by_name = api.data('{ items(search: "ESSENCE OF GREED") { id } }')["items"]
    assert by_name == [{"id": GREED}]
    by_id = api.data('{ items(search: "primal-LIFE") { id } }')["items"]
    assert by_id == [{"id": "primal-lifeforce"}]
    currency = api.data('{ items(category: "currency") { id } }')["items"]
    assert currency == [{"id": "primal-lifeforce"}]


def test_latest_prices_are_the_newest_snapshots_with_changes(api, db, watchlist):
    got = api.data("{ latestPrices { item { id } hour minPrice robustMinPrice listingCount change24h change7d "
                   "lowConfidence } }")["latestPrices"]
    assert len(got) == len(watchlist.items)
    for row in got:
        item = row["item"]["id"]
        newest, robust, price, listings = db.execute(
            "SELECT observed_hour, robust_min_price, min_price, listing_count FROM warehouse.price_snapshots "
            "WHERE item_id = %s ORDER BY observed_hour DESC LIMIT 1", (item,)).fetchone()
        assert datetime.fromisoformat(row["hour"]) == newest
        assert row["minPrice"] == price and row["robustMinPrice"] == robust
        for field, back in (("change24h", timedelta(hours=24)), ("change7d", timedelta(days=7))):
            then = db.execute(
                "SELECT robust_min_price FROM warehouse.price_snapshots WHERE item_id = %s AND observed_hour <= %s "
                "AND observed_hour > %s AND robust_min_price IS NOT NULL ORDER BY observed_hour DESC LIMIT 1",
                (item, newest - back, newest - 2 * back)).fetchone()
            then = then[0] if then else None
            assert row[field] == (pytest.approx((robust - then) / then) if then and robust is not None else None)
        assert row["lowConfidence"] == (listings < 5 or robust is None)


def test_a_change_skips_an_hour_without_robust_price_for_the_nearest_priced_one(api, db):
    # the hour exactly 24 h before the newest one had no robust price (say, only baits were listed)
    newest, now = db.execute("SELECT observed_hour, robust_min_price FROM warehouse.price_snapshots "
                             "WHERE item_id = %s ORDER BY observed_hour DESC LIMIT 1", (GREED,)).fetchone()
    exact, earlier = newest - timedelta(hours=24), newest - timedelta(hours=25)
    kept = db.execute("SELECT robust_min_price FROM warehouse.price_snapshots WHERE item_id = %s AND "
                      "observed_hour = %s", (GREED, exact)).fetchone()[0]
    then = db.execute("SELECT robust_min_price FROM warehouse.price_snapshots WHERE item_id = %s AND "
                      "observed_hour = %s", (GREED, earlier)).fetchone()[0]
    assert kept is not None and then is not None and now is not None
    db.execute("UPDATE warehouse.price_snapshots SET robust_min_price = NULL WHERE item_id = %s "
               "AND observed_hour = %s", (GREED, exact))
    try:
        got = api.data('{ latestPrices(items: ["%s"]) { change24h } }' % GREED)["latestPrices"][0]
    finally:
        db.execute("UPDATE warehouse.price_snapshots SET robust_min_price = %s WHERE item_id = %s "
                   "AND observed_hour = %s", (kept, GREED, exact))
    assert got["change24h"] == pytest.approx((now - then) / then)


def test_snapshots_page_matches_sql(api, db, history):
    start = history.start + timedelta(hours=5)
    got = api.data(
        "query($f: DateTime, $t: DateTime) { snapshots(from: $f, to: $t, items: [\"%s\"], first: 10) "
        "{ nodes { item { id name } hour listingCount totalStock minPrice robustMinPrice bought spent avgPrice "
        "simulated book } } }" % GREED, {"f": _iso(start), "t": _iso(start + timedelta(hours=10))})["snapshots"]
    rows = db.execute(
        "SELECT observed_hour, listing_count, total_stock, min_price, robust_min_price, bought, spent, avg_price, "
        "simulated, book FROM warehouse.price_snapshots WHERE item_id = %s AND observed_hour >= %s "
        "AND observed_hour < %s ORDER BY observed_hour", (GREED, start, start + timedelta(hours=10))).fetchall()
    assert len(got["nodes"]) == len(rows) == 10
    for node, row in zip(got["nodes"], rows):
        assert node["item"] == {"id": GREED, "name": "Deafening Essence of Greed"}
        assert (datetime.fromisoformat(node["hour"]), node["listingCount"], node["totalStock"], node["minPrice"],
                node["robustMinPrice"], node["bought"], node["spent"], node["avgPrice"], node["simulated"],
                node["book"]) == tuple(row)


@pytest.mark.parametrize("bucket,unit", [("HOUR", "hour"), ("DAY", "day"), ("WEEK", "week")])
def test_price_series_buckets_match_sql_aggregates(api, db, history, bucket, unit):
    items = [GREED, "primal-lifeforce"]
    span = {"f": _iso(history.start), "t": _iso(history.end)}
    got = api.data("query($f: DateTime, $t: DateTime) { priceSeries(items: %s, from: $f, to: $t, bucket: %s) "
                   "{ item { id } bucket points time open high low close robustClose avgPrice stock listingCount "
                   "hours } }" % (json.dumps(items), bucket), span)["priceSeries"]
    assert [s["item"]["id"] for s in got] == items
    for series in got:
        # open/close: the first/last hour of the bucket that has a price (schema: PriceSeries.close)
        rows = db.execute(
            """SELECT date_trunc(%s, observed_hour) AS t,
                      (array_agg(min_price ORDER BY observed_hour) FILTER (WHERE min_price IS NOT NULL))[1],
                      max(min_price), min(min_price),
                      (array_agg(min_price ORDER BY observed_hour DESC) FILTER (WHERE min_price IS NOT NULL))[1],
                      (array_agg(robust_min_price ORDER BY observed_hour DESC)
                          FILTER (WHERE robust_min_price IS NOT NULL))[1],
                      sum(spent) / nullif(sum(bought), 0),
                      (array_agg(total_stock ORDER BY observed_hour DESC))[1],
                      (array_agg(listing_count ORDER BY observed_hour DESC))[1], count(*)
               FROM warehouse.price_snapshots WHERE item_id = %s AND observed_hour >= %s AND observed_hour < %s
               GROUP BY 1 ORDER BY 1""", (unit, series["item"]["id"], history.start, history.end)).fetchall()
        assert series["points"] == len(rows) == len(series["time"])
        columns = ["time", "open", "high", "low", "close", "robustClose", "avgPrice", "stock", "listingCount", "hours"]
        for i, row in enumerate(rows):
            assert datetime.fromisoformat(series["time"][i]) == row[0]
            for name, expected in zip(columns[1:], row[1:]):
                assert series[name][i] == pytest.approx(expected), (name, i)


def test_a_bucket_whose_last_hour_has_an_empty_book_closes_at_the_last_priced_hour(api, db, history):
    # the first whole day of the history; its last hour's book is emptied for the test
    day = (history.start + timedelta(days=1)).replace(hour=0)
    last, before = day + timedelta(hours=23), day + timedelta(hours=22)
    (kept_min, kept_robust), = db.execute("SELECT min_price, robust_min_price FROM warehouse.price_snapshots "
                                          "WHERE item_id = %s AND observed_hour = %s", (GREED, last)).fetchall()
    (price, robust), = db.execute("SELECT min_price, robust_min_price FROM warehouse.price_snapshots "
                                  "WHERE item_id = %s AND observed_hour = %s", (GREED, before)).fetchall()
    assert None not in (kept_min, kept_robust, price, robust)
    span = {"f": _iso(day), "t": _iso(day + timedelta(days=1))}
    query = ("query($f: DateTime, $t: DateTime) { priceSeries(item: \"%s\", from: $f, to: $t, bucket: DAY) "
             "{ points close robustClose hours } }" % GREED)
    db.execute("UPDATE warehouse.price_snapshots SET min_price = NULL, robust_min_price = NULL "
               "WHERE item_id = %s AND observed_hour = %s", (GREED, last))
    try:
        emptied = api.data(query, span)["priceSeries"][0]
        nothing_priced = db.execute("SELECT count(*) FROM warehouse.price_snapshots WHERE item_id = %s "
                                    "AND observed_hour >= %s AND observed_hour < %s AND min_price IS NULL",
                                    (GREED, day, day + timedelta(days=1))).fetchone()[0]
    finally:
        db.execute("UPDATE warehouse.price_snapshots SET min_price = %s, robust_min_price = %s "
                   "WHERE item_id = %s AND observed_hour = %s", (kept_min, kept_robust, GREED, last))
    assert nothing_priced == 1
    assert emptied == {"points": 1, "close": [price], "robustClose": [robust], "hours": [24]}
    assert api.data(query, span)["priceSeries"][0]["close"] == [kept_min]


def test_price_series_of_an_item_without_data_is_empty(api, history):
    got = api.data('{ priceSeries(item: "deafening-essence-of-greed", from: "2001-01-01", to: "2001-01-02") '
                   "{ points time open } }")["priceSeries"]
    assert got == [{"points": 0, "time": [], "open": []}]


def test_profitability_matches_sql_and_filters(api, db, history):
    span = {"f": _iso(history.start), "t": _iso(history.start + timedelta(hours=6))}
    got = api.data("query($f: DateTime, $t: DateTime) { profitability(from: $f, to: $t, policy: TOP_K, "
                   "strategy: \"deafening-top5\") { nodes { strategy policy hour inputItem { id } inputUnitCost "
                   "expectedRerolls expectedProfitPerUnit expectedProfitTotal roi breakEvenRerollCost stopSet } } }",
                   span)["profitability"]["nodes"]
    rows = db.execute(
        "SELECT observed_hour, input_item_id, input_unit_cost, expected_rerolls, expected_profit_per_unit, "
        "expected_profit_total, roi, break_even_reroll_cost, stop_set FROM warehouse.reroll_profitability "
        "WHERE policy = 'top_k' AND observed_hour >= %s AND observed_hour < %s ORDER BY observed_hour",
        (history.start, history.start + timedelta(hours=6))).fetchall()
    assert len(got) == len(rows) == 6
    for node, row in zip(got, rows):
        assert node["strategy"] == "deafening-top5" and node["policy"] == "TOP_K"
        assert (datetime.fromisoformat(node["hour"]), node["inputItem"]["id"], node["inputUnitCost"],
                node["expectedRerolls"], node["expectedProfitPerUnit"], node["expectedProfitTotal"], node["roi"],
                node["breakEvenRerollCost"], node["stopSet"]) == tuple(row)


def test_strategies_are_the_configured_ones(api, watchlist):
    got = api.data("{ strategies { name topK buyQuantity rerollCostAmount rerollCostItem { id } family { id } } }")
    spec = watchlist.strategies[0]
    assert got["strategies"] == [{"name": spec.name, "topK": spec.top_k, "buyQuantity": spec.buy_quantity,
                                  "rerollCostAmount": spec.reroll_cost_amount,
                                  "rerollCostItem": {"id": spec.reroll_cost_item},
                                  "family": [{"id": m} for m in spec.family]}]


def test_evaluate_strategy_with_the_stored_parameters_reproduces_stored_profitability(api, db, history):
    start = history.start + timedelta(hours=3)
    span = {"f": _iso(start), "t": _iso(start + timedelta(hours=4))}
    got = api.data("query($f: DateTime, $t: DateTime) { evaluateStrategy(from: $f, to: $t) { hours { hour "
                   "topK { expectedProfitPerUnit stopSet } optimal { expectedProfitPerUnit breakEvenRerollCost } } "
                   "summary { hours hoursEvaluated } } }", span)["evaluateStrategy"]
    assert got["summary"] == {"hours": 4, "hoursEvaluated": 4}
    for hour in got["hours"]:
        stored = dict(db.execute(
            "SELECT policy, expected_profit_per_unit FROM warehouse.reroll_profitability WHERE observed_hour = %s",
            (datetime.fromisoformat(hour["hour"]),)).fetchall())
        assert hour["topK"]["expectedProfitPerUnit"] == pytest.approx(stored["top_k"])
        assert hour["optimal"]["expectedProfitPerUnit"] == pytest.approx(stored["optimal"])


def test_evaluate_strategy_what_if_changes_the_outcome_and_reports_missing_hours(api, history):
    # three hours before the empty one: a simulated hour's thin book may leave one unpriceable
    span = {"f": _iso(history.empty_hour - timedelta(hours=3)), "t": _iso(history.empty_hour + timedelta(hours=1))}
    query = ("query($f: DateTime, $t: DateTime, $cost: Float, $k: Int) { evaluateStrategy(from: $f, to: $t, "
             "rerollCostAmount: $cost, topK: $k, weights: [{item: \"deafening-essence-of-misery\", weight: 3}]) "
             "{ strategy { topK rerollCostAmount weights { item { id } weight } } hours { unavailableReason "
             "topK { expectedRerolls stopSet } } } }")
    cheap = api.data(query, {**span, "cost": 1.0, "k": 2})["evaluateStrategy"]
    assert cheap["strategy"]["topK"] == 2 and cheap["strategy"]["rerollCostAmount"] == 1.0
    assert cheap["strategy"]["weights"] == [{"item": {"id": "deafening-essence-of-misery"}, "weight": 3.0}]
    *before, missing = cheap["hours"]
    priced = [h for h in before if h["topK"] is not None]
    assert priced and all(len(h["topK"]["stopSet"]) == 2 for h in priced)
    assert all(h["unavailableReason"] for h in before if h["topK"] is None)
    assert missing["topK"] is None and "no snapshots" in missing["unavailableReason"]


def test_coverage_reports_stored_missing_and_simulated_hours(api, db, history):
    span = {"f": _iso(history.start), "t": _iso(history.end)}
    got = api.data("query($f: DateTime, $t: DateTime) { coverage(from: $f, to: $t) { hoursTotal hoursComplete "
                   "hoursPartial hoursEmpty simulatedHours hours { hour stored snapshots missing simulated "
                   "complete } } }", span)["coverage"]
    hours = int((history.end - history.start).total_seconds() // 3600)
    assert got["hoursTotal"] == hours == len(got["hours"])
    assert (got["hoursPartial"], got["hoursEmpty"], got["hoursComplete"]) == (1, 1, hours - 2)
    assert got["simulatedHours"] == hours - 1
    by_hour = {datetime.fromisoformat(h["hour"]): h for h in got["hours"]}
    assert by_hour[history.gap_item_hour]["missing"] == ["deafening-essence-of-woe"]
    assert by_hour[history.empty_hour]["stored"] == 0 and not by_hour[history.empty_hour]["complete"]
    stored = db.execute("SELECT count(*) FROM warehouse.raw_trade_responses").fetchone()[0]
    assert sum(h["stored"] for h in got["hours"]) == stored
    snapshots = db.execute("SELECT count(*) FROM warehouse.price_snapshots").fetchone()[0]
    assert sum(h["snapshots"] for h in got["hours"]) == snapshots


def test_raw_responses_are_served_verbatim(api, db, history):
    hour = history.start + timedelta(hours=2)
    got = api.data("query($f: DateTime, $t: DateTime) { rawResponses(item: \"%s\", from: $f, to: $t) { nodes { id "
                   "hour statusCode requestPath requestBody responseBody rateLimitHeaders attempt responseBytes "
                   "simulated } } }" % GREED, {"f": _iso(hour), "t": _iso(hour + timedelta(hours=1))})
    [node] = got["rawResponses"]["nodes"]
    [row] = select_raw(db, "id, status_code, request_path, request_body, response_body, rate_limit_headers, attempt, "
                           "response_bytes, simulated", "WHERE item_id = %s AND observed_hour = %s", (GREED, hour))
    assert (int(node["id"]), node["statusCode"], node["requestPath"], node["requestBody"], node["responseBody"],
            node["rateLimitHeaders"], node["attempt"], node["responseBytes"], node["simulated"]) == tuple(row)
