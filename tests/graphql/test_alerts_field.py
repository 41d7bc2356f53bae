"""`alerts(from, to, rule)`: the stored crossings, read as the API's read-only role."""

from __future__ import annotations

from dataclasses import replace

import pytest

from helpers.databases import with_user
from tradewatch.warehouse.alerts import compute_alerts
from tradewatch.warehouse.db import get_pool
from tradewatch.watchlist import AlertRule

QUERY = """query($from: DateTime, $to: DateTime, $rule: String) {
  alerts(from: $from, to: $to, rule: $rule) { rule hour league kind item { id name } strategy policy source
                                              comparison threshold value currency } }"""


@pytest.fixture(scope="module")
def alerting(history, watchlist, api):
    from graphql_api.app import create_app
    from graphql_api.config import ApiSettings
    from tradewatch.warehouse.roles import API_ROLE

    # levels in the middle of the simulated history's range, so that the rules cross more than once
    with get_pool(history.url).connection() as conn:
        median = conn.execute("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY robust_min_price) FROM "
                              "warehouse.price_snapshots WHERE item_id = 'deafening-essence-of-greed'").fetchone()[0]
    wl = replace(watchlist, alerts=(
        AlertRule(name="cheap-greed", item="deafening-essence-of-greed", below=median),
        AlertRule(name="reroll-pays", strategy="deafening-top5", profit_per_unit_above=0.0)))
    compute_alerts(get_pool(history.url), wl, history.start, history.end)
    # this folder's Served, from the api fixture: a bare `from conftest import` may find another folder's
    served = type(api)(create_app(with_user(history.url, API_ROLE, "api-test-pw"), settings=ApiSettings(), watchlist=wl))
    yield served, wl
    served.stop()


def test_alerts_returns_the_stored_crossings_of_a_range_and_a_rule(alerting, history, db):
    served, _ = alerting
    span = {"from": history.start.isoformat(), "to": history.end.isoformat()}
    everything = served.data(QUERY, span)["alerts"]
    expected = db.execute("SELECT rule, observed_hour, value FROM warehouse.alerts WHERE observed_hour >= %s AND "
                          "observed_hour < %s ORDER BY observed_hour, rule", (history.start, history.end)).fetchall()
    assert len(expected) >= 2
    assert [(a["rule"], a["hour"], a["value"]) for a in everything] == [
        (r, h.isoformat(), v) for r, h, v in expected]
    cheap = served.data(QUERY, {**span, "rule": "cheap-greed"})["alerts"]
    assert cheap and {a["rule"] for a in cheap} == {"cheap-greed"}
    first = cheap[0]
    assert first["item"] == {"id": "deafening-essence-of-greed", "name": "Deafening Essence of Greed"}
    assert (first["kind"], first["source"], first["comparison"], first["currency"]) == ("price", "book", "below",
                                                                                         "divine")
    assert first["value"] < first["threshold"]


def test_an_unknown_rule_is_not_found_naming_the_configured_ones(alerting):
    served, _ = alerting
    body = served.gql(QUERY, {"rule": "cheap-gred"})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["message"] == ("argument `rule`: no alert rule named 'cheap-gred' (did you mean 'cheap-greed'?); "
                                "the watchlist has cheap-greed, reroll-pays")
