"""League names: refusing one the trade site does not list, and suggesting the closest spelling."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from tradewatch.errors import ConfigError

__all__ = ["check_league", "closest"]


def closest(name: str, known: Sequence[str]) -> str | None:
    """The known name nearest in spelling to `name` (case-insensitive), if any is near enough."""
    by_lower = {k.lower(): k for k in known}
    found = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[found[0]] if found else None


def check_league(league: str, listed: Sequence[str]) -> None:
    """Raise ConfigError naming the valid leagues (and the closest) unless the trade site lists `league`."""
    if league in listed:
        return
    hint = closest(league, listed)
    raise ConfigError(f"league {league[:100]!r} is not one the trade site lists"
                      f"{f' (did you mean {hint!r}?)' if hint else ''}; valid leagues: {', '.join(listed)}. "
                      "Fix TRADEWATCH_LEAGUE or the watchlist's `league`")
