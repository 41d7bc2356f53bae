"""Refusing at the start of `tradewatch run` / `tradewatch demo` a league the trade site does not list.

A mistyped league (`Setlers`) would otherwise start the whole stack and fetch empty books
every hour. `run` asks the trade site (`GET /api/trade[2]/data/leagues`, one request outside
the exchange limiter); when it cannot be reached the start goes on with a warning, since the
hourly raw asset checks again. `demo` knows the simulator's list without starting it.
"""

from __future__ import annotations

from typing import Callable

from tradewatch.bulk_exchange.client import TradeApiError, list_leagues
from tradewatch.bulk_exchange.leagues import check_league
from tradewatch.settings import Settings
from tradewatch.watchlist import Watchlist

__all__ = ["refuse_unlisted_league"]

LIST_TIMEOUT_SECONDS = 10.0


def listed_leagues(settings: Settings, watchlist: Watchlist, with_simulator: bool) -> list[str]:
    """The leagues the trade site (or the demo's simulator) lists; raises TradeApiError when unreadable."""
    if with_simulator:
        from trade_sim import SimConfig
        from trade_sim.app import public_leagues

        return public_leagues(SimConfig.from_env(), watchlist.game)
    secret = lambda s: s.get_secret_value() if s is not None else None  # noqa: E731
    return list_leagues(settings.trade_api_url, watchlist.game, settings.user_agent,
                        poesessid=secret(settings.poesessid), cf_clearance=secret(settings.cf_clearance),
                        timeout=LIST_TIMEOUT_SECONDS)


def refuse_unlisted_league(settings: Settings, watchlist: Watchlist, with_simulator: bool,
                           say: Callable[[str], None] = print) -> None:
    """Raise ConfigError (valid leagues and the closest spelling) unless the trade site lists the league."""
    try:
        listed = listed_leagues(settings, watchlist, with_simulator)
    except TradeApiError as exc:
        say(f"warning: {exc}; starting without checking the league {watchlist.league[:100]!r} "
            "(the hourly fetch checks it again)")
        return
    check_league(watchlist.league, listed)
