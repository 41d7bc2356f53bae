"""Leagues: a GraphQL or CSV request for a league without data is NOT_FOUND, naming the stored
leagues and the closest spelling; the simulator lists the trade site's leagues in the real shape."""

from __future__ import annotations

import pytest

from tradewatch.bulk_exchange.leagues import check_league, closest
from tradewatch.errors import ConfigError

QUERY = 'query($league: String) { latestPrices(league: $league) { item { id } } }'


def test_a_mistyped_league_is_not_found_with_the_stored_leagues_and_the_closest(api):
    body = api.gql(QUERY, {"league": "Standrd"})
    error = body["errors"][0]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["message"] == ("argument `league`: no data is stored for league 'Standrd' (did you mean "
                                "'Standard'?); stored leagues: Standard")


def test_the_watchlists_league_and_a_stored_one_are_answered(api):
    assert api.data(QUERY, {"league": "Standard"})["latestPrices"]
    assert api.data(QUERY)["latestPrices"]


def test_the_csv_export_says_not_found_for_a_league_without_data(api):
    response = api.client.get("/export/price-series.csv", params={"item": "deafening-essence-of-greed",
                                                                  "league": "Setlers"})
    assert response.status_code == 404
    assert "no data is stored for league 'Setlers'" in response.text and "stored leagues: Standard" in response.text


def test_a_league_the_trade_site_does_not_list_is_refused_with_the_valid_ones():
    listed = ["Settlers", "Hardcore Settlers", "Standard", "Hardcore"]
    check_league("Settlers", listed)
    with pytest.raises(ConfigError) as error:
        check_league("Setlers", listed)
    assert str(error.value) == ("league 'Setlers' is not one the trade site lists (did you mean 'Settlers'?); valid "
                                "leagues: Settlers, Hardcore Settlers, Standard, Hardcore. Fix TRADEWATCH_LEAGUE or "
                                "the watchlist's `league`")
    assert closest("zzzz", listed) is None


def test_the_simulator_lists_its_public_leagues_in_the_trade_sites_shape(start_sim):
    import httpx

    sim = start_sim()
    body = httpx.get(sim.url + "/api/trade/data/leagues").json()
    assert body["result"][0] == {"id": "Settlers", "realm": "pc", "text": "Settlers"}
    assert "Standard" in [e["id"] for e in body["result"]]
    assert not any("(PL" in e["id"] for e in body["result"])  # private leagues are not listed
    assert httpx.get(sim.url + "/api/trade2/data/leagues").json()["result"][0]["realm"] == "poe2"


def test_leagues_lists_the_stored_leagues_per_source_with_first_and_last_hour(api, history, db):
    rows = api.data("{ leagues { name source firstHour lastHour isDefault } }")["leagues"]
    book = [r for r in rows if r["source"] == "book"]
    first, last = db.execute("SELECT min(observed_hour), max(observed_hour) FROM warehouse.price_snapshots").fetchone()
    assert book == [{"name": "Standard", "source": "book", "firstHour": first.isoformat(),
                     "lastHour": last.isoformat(), "isDefault": True}]
