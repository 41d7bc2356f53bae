"""A league the trade site does not list is refused at the start of `tradewatch demo` / `tradewatch run`
and of the raw asset's run, with the valid leagues and the closest spelling; nothing is started."""

from __future__ import annotations

import pytest

from helpers.servers import free_port
from tradewatch.cli.main import main


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("TRADEWATCH_HOME", str(home))
    monkeypatch.setenv("TRADEWATCH_LEAGUE", "Setlers")
    return home


def _ports() -> list[str]:
    return [str(free_port()) for _ in range(3)]


def test_a_demo_in_a_mistyped_league_exits_at_once_naming_the_closest_and_the_valid_ones(home, capsys):
    ports = _ports()
    code = main(["demo", "--dagster-port", ports[0], "--api-port", ports[1], "--sim-port", ports[2]])
    err = capsys.readouterr().err
    assert code == 2
    assert "league 'Setlers' is not one the trade site lists (did you mean 'Settlers'?)" in err
    assert "valid leagues: Settlers, Hardcore Settlers" in err and "(PL" not in err
    assert not home.exists()  # no PostgreSQL, no logs, no stack record


def test_a_run_asks_the_trade_site_and_refuses_a_league_it_does_not_list(home, capsys, monkeypatch, start_sim):
    sim = start_sim()
    monkeypatch.setenv("TRADEWATCH_TRADE_API_URL", sim.url)
    ports = _ports()
    assert main(["run", "--dagster-port", ports[0], "--api-port", ports[1]]) == 2
    assert "(did you mean 'Settlers'?)" in capsys.readouterr().err
    assert [path for _, _, path in sim.app.state.request_log] == ["/api/trade/data/leagues"]
    assert not home.exists()


def test_an_unreachable_trade_site_only_warns(monkeypatch):
    from tradewatch.cli.league_check import refuse_unlisted_league
    from tradewatch.settings import load_settings
    from tradewatch.watchlist import watchlist_from_settings

    monkeypatch.setenv("TRADEWATCH_TRADE_API_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    settings = load_settings(env_file=None)
    said: list[str] = []
    refuse_unlisted_league(settings, watchlist_from_settings(settings), False, said.append)
    assert len(said) == 1 and "could not be read" in said[0] and "without checking the league" in said[0]


def test_the_raw_asset_refuses_a_league_the_trade_site_does_not_list(database_url, start_sim, tmp_path):
    from dagster import materialize

    from tradewatch.hours import partition_key, utc_now
    from tradewatch_assets.resources import TradeApiResource, WarehouseResource, WatchlistResource
    from tradewatch_assets.trade_api.assets import raw_trade_responses

    sim = start_sim(time_scale=0.01)
    watchlist = tmp_path / "wl.yaml"
    watchlist.write_text("league: Setlers\npaid_with: divine\nitems: [deafening-essence-of-greed]\n")
    result = materialize([raw_trade_responses], partition_key=partition_key(utc_now()), raise_on_error=False,
                         resources={"warehouse": WarehouseResource(database_url=database_url),
                                    "watchlist": WatchlistResource(path=str(watchlist)),
                                    "trade_api": TradeApiResource(base_url=sim.url)})
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert "(did you mean 'Settlers'?)" in failure and "valid leagues: Settlers" in failure
    assert not any("/exchange/" in path for _, _, path in sim.app.state.request_log)  # nothing was fetched
