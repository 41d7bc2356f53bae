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


def test_the_watchlists_league_and_a_stored_one_are_answered(api, watchlist):
    named = api.data(QUERY, {"league": "Standard"})["latestPrices"]
    # the stored league (also the watchlist's) answers a price of every watched item; no league = that one
    assert sorted(row["item"]["id"] for row in named) == sorted(watchlist.items)
    assert api.data(QUERY)["latestPrices"] == named


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


LEAGUES = "{ leagues { name source firstHour lastHour isDefault listed } }"


def test_leagues_adds_the_trade_sites_live_leagues_and_marks_the_stored_ones_listed(serve, start_sim, history):
    sim = start_sim(cx_leagues="Settlers,Standard,Mapping Crew (PL40712)")
    api = serve(trade_api_url=sim.url)
    rows = api.data(LEAGUES)["leagues"]
    assert [r for r in rows if r["source"] == "trade"] == [
        {"name": "Settlers", "source": "trade", "firstHour": None, "lastHour": None, "isDefault": False,
         "listed": True},
        {"name": "Standard", "source": "trade", "firstHour": None, "lastHour": None, "isDefault": True,
         "listed": True}]
    assert [(r["name"], r["listed"]) for r in rows if r["source"] == "book"] == [("Standard", True)]
    # cached: a second answer asks the trade site nothing
    assert api.data(LEAGUES)["leagues"] == rows
    assert [path for *_, path in sim.app.state.request_log] == ["/api/trade/data/leagues"]


def test_leagues_answers_the_stored_ones_when_the_trade_site_cannot_be_reached(api):
    # the session's app reads the live leagues from a port where nothing listens
    body = api.gql(LEAGUES)
    assert "errors" not in body
    rows = body["data"]["leagues"]
    assert rows and all(r["listed"] is None for r in rows)  # unavailable, said on every entry
    assert {r["source"] for r in rows} <= {"book", "exchange"}  # and no live entry


def test_live_leagues_are_read_again_after_the_cache_time_and_a_failure_is_retried_sooner(start_sim):
    import asyncio

    from graphql_api.leagues import LIVE_CACHE_SECONDS, LIVE_RETRY_SECONDS, LiveLeagues

    sim = start_sim()
    now = [0.0]
    live = LiveLeagues(sim.url, "poe1", "TradeWatch tests", clock=lambda: now[0])
    requests = lambda: sum(1 for *_, path in sim.app.state.request_log if path.endswith("/data/leagues"))  # noqa: E731
    assert "Settlers" in asyncio.run(live.get()) and requests() == 1
    now[0] = LIVE_CACHE_SECONDS - 1
    asyncio.run(live.get())
    assert requests() == 1
    now[0] = LIVE_CACHE_SECONDS + 1
    asyncio.run(live.get())
    assert requests() == 2
    sim.stop()
    now[0] = 2 * LIVE_CACHE_SECONDS + 2
    assert asyncio.run(live.get()) is None  # unreachable now: no live list, no exception
    now[0] += LIVE_RETRY_SECONDS + 1
    assert asyncio.run(live.get()) is None
