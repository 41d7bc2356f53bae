"""A mistyped item id or league is NOT_FOUND naming the closest spelling, on every field (and the
CSV export) that takes one; an id nothing resembles gets no guess."""

from __future__ import annotations

import pytest

TYPO = "deafening-essence-of-gred"
HINT = "(did you mean 'deafening-essence-of-greed'?)"

ITEM_FIELDS = [
    ('{ priceSeries(item: "%s") { points } }', "item"),
    ('{ priceSeries(items: ["primal-lifeforce", "%s"]) { points } }', "items[1]"),
    ('{ latestPrices(items: ["%s"]) { hour } }', "items[0]"),
    ('{ snapshots(items: ["%s"]) { nodes { hour } } }', "items[0]"),
    ('{ exchangePrices(items: ["%s"]) { points } }', "items[0]"),
    ('{ rawResponses(item: "%s") { nodes { id } } }', "item"),
]


@pytest.mark.parametrize("query,argument", ITEM_FIELDS)
def test_a_mistyped_item_id_names_the_closest_watched_id(api, query, argument):
    error = api.gql(query % TYPO)["errors"][0]
    assert error["extensions"] == {"code": "NOT_FOUND", "argument": argument}
    assert error["message"] == (f"argument `{argument}`: unknown item id {TYPO!r} {HINT}; the `items` field lists "
                                "the watched ids, e.g. deafening-essence-of-greed")


def test_an_unwatched_id_is_suggested_from_the_trade_sites_catalogue(api):
    # "chaos" is no watched item but the trade site knows it
    error = api.gql('{ latestPrices(items: ["chaoss"]) { hour } }')["errors"][0]
    assert "unknown item id 'chaoss' (did you mean 'chaos'?)" in error["message"]


def test_an_id_like_nothing_gets_no_guess(api):
    error = api.gql('{ priceSeries(item: "zzzzqqqq") { points } }')["errors"][0]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "did you mean" not in error["message"] and "unknown item id 'zzzzqqqq'" in error["message"]


def test_the_csv_export_names_the_closest_item_id(api):
    response = api.client.get("/export/price-series.csv", params={"item": TYPO})
    assert response.status_code == 404
    assert f"unknown item id {TYPO!r} {HINT}" in response.text


LEAGUE_FIELDS = [
    '{ latestPrices(league: "Standrd") { hour } }',
    '{ snapshots(league: "Standrd") { nodes { hour } } }',
    '{ priceSeries(league: "Standrd", item: "primal-lifeforce") { points } }',
    '{ divinePrice(league: "Standrd") { points } }',
    '{ exchangePrices(league: "Standrd") { points } }',
    '{ profitability(league: "Standrd") { nodes { hour } } }',
    '{ evaluateStrategy(league: "Standrd") { summary { hours } } }',
    '{ coverage(league: "Standrd") { hoursTotal } }',
    '{ rawResponses(league: "Standrd") { nodes { id } } }',
    '{ alerts(league: "Standrd") { rule } }',
]


@pytest.mark.parametrize("query", LEAGUE_FIELDS)
def test_a_mistyped_league_names_the_closest_stored_league_on_every_field(api, query):
    error = api.gql(query)["errors"][0]
    assert error["extensions"] == {"code": "NOT_FOUND", "argument": "league"}
    assert "no data is stored for league 'Standrd' (did you mean 'Standard'?)" in error["message"]


def test_the_csv_export_names_the_closest_league(api):
    response = api.client.get("/export/price-series.csv", params={"item": "primal-lifeforce", "league": "standart"})
    assert response.status_code == 404
    assert "no data is stored for league 'standart' (did you mean 'Standard'?)" in response.text


def test_the_watchlists_league_is_suggested_before_anything_is_stored(serve, database_url):
    # an empty warehouse: no stored league to compare with, the watchlist's own is the guess
    served = serve(url=database_url)
    try:
        error = served.gql('{ latestPrices(league: "Standrd") { hour } }')["errors"][0]
        assert error["message"] == ("argument `league`: no data is stored for league 'Standrd' (did you mean "
                                    "'Standard'?); stored leagues: none yet")
    finally:
        served.stop()  # before its database is dropped


@pytest.mark.parametrize("query", ['{ profitability(strategy: "deafening-top4") { nodes { hour } } }',
                                   '{ evaluateStrategy(strategy: "deafening-top4") { summary { hours } } }'])
def test_a_mistyped_strategy_names_the_closest_configured_one(api, query):
    error = api.gql(query)["errors"][0]
    assert error["extensions"] == {"code": "NOT_FOUND", "argument": "strategy"}
    assert error["message"] == ("argument `strategy`: unknown strategy 'deafening-top4' (did you mean "
                                "'deafening-top5'?); configured: ['deafening-top5']")
