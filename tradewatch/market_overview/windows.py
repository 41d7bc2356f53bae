"""From an item's per-window sums to the figures of the market overview (pure; no I/O).

`hour` is the newest stored hour of a realm. W0 is the 24 complete hours ending with it
(hour − 23 h … hour), W1 the 24 before those, and so on back to W7. For each window and each
unit (chaos, divine) the rollup gives Σ value (each market's quote volume converted with its
league-hour's chaos/divine rate; a market already in the unit needs none, one in an hour
without a rate is left out) and Σ units of the markets counted in that value; the price of a
window is their quotient. Item units traded (`volume`) count every market, rate or not.

The confidence rule (documented in the README and the API): a price is **low-confidence**
when the item traded in fewer than `MIN_HOURS` (6) of W0's 24 hours, or fewer than
`MIN_UNITS` (10) units changed hands in W0, or W0 has no price at all. Thin markets are
where one odd trade moves the volume-weighted price; both thresholds are what a trader
would call "a handful".
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

WINDOWS = 8  # W0 … W7
WINDOW = timedelta(hours=24)
SPARKLINE = 7  # W6 … W0
MIN_HOURS = 6
MIN_UNITS = 10.0
UNITS = ("chaos", "divine")


@dataclass(frozen=True)
class WindowSums:
    """One item's sums over one window (zeros where it did not trade)."""

    volume: float = 0.0  # item units traded, every market
    hours: int = 0  # hours of the window in which it traded
    chaos_units: float = 0.0  # units of the markets counted in chaos_value
    chaos_value: float = 0.0
    divine_units: float = 0.0
    divine_value: float = 0.0

    def price(self, unit: str) -> float | None:
        units, value = (self.chaos_units, self.chaos_value) if unit == "chaos" else (self.divine_units,
                                                                                       self.divine_value)
        return value / units if units > 0 and value > 0 else None

    def value(self, unit: str) -> float | None:
        units, value = (self.chaos_units, self.chaos_value) if unit == "chaos" else (self.divine_units,
                                                                                       self.divine_value)
        return value if units > 0 else None


@dataclass(frozen=True)
class Figures:
    """What the overview shows of an item in one unit."""

    price: float | None
    change24h: float | None
    change7d: float | None
    value24h: float | None
    sparkline: tuple[float | None, ...]  # price(W6) … price(W0)


@dataclass(frozen=True)
class MarketFigures:
    volume24h: float
    hours24h: int
    low_confidence: bool
    chaos: Figures
    divine: Figures


def window_of(hour: datetime, observed_hour: datetime) -> int | None:
    """The window (0 … 7) an observed hour falls in, relative to the newest hour; None outside."""
    if observed_hour > hour:
        return None
    index = int((hour - observed_hour) // WINDOW)
    return index if index < WINDOWS else None


def window_start(hour: datetime, index: int) -> datetime:
    """The first hour of window `index` (its last is 23 hours later)."""
    return hour - WINDOW * index - timedelta(hours=23)


def change(now: float | None, before: float | None) -> float | None:
    """now / before − 1, None when either is missing."""
    if now is None or before is None:
        return None
    return now / before - 1.0


def low_confidence(w0: WindowSums, price: float | None) -> bool:
    """The documented rule (module docstring)."""
    return price is None or w0.hours < MIN_HOURS or w0.volume < MIN_UNITS


def figures(windows: list[WindowSums]) -> MarketFigures:
    """The overview's figures of an item from its eight windows' sums (W0 first; shorter lists are padded)."""
    padded = list(windows[:WINDOWS]) + [WindowSums()] * (WINDOWS - len(windows))
    by_unit = {}
    for unit in UNITS:
        prices = [w.price(unit) for w in padded]
        by_unit[unit] = Figures(price=prices[0], change24h=change(prices[0], prices[1]),
                                change7d=change(prices[0], prices[7]), value24h=padded[0].value(unit),
                                sparkline=tuple(reversed(prices[:SPARKLINE])))
    w0 = padded[0]
    return MarketFigures(volume24h=w0.volume, hours24h=w0.hours,
                         low_confidence=low_confidence(w0, by_unit["chaos"].price if by_unit["chaos"].price is not None
                                                        else by_unit["divine"].price), **by_unit)


def trailing_low_confidence(units_by_hour: Mapping[datetime, float], hours: Iterable[datetime]) -> dict[datetime, bool]:
    """For each of `hours`: the confidence rule over the 24 hours ending with it, from the units the item traded
    in each hour (an hour with a price; alert rules read this before comparing an exchange price)."""
    out = {}
    for hour in hours:
        window = [units_by_hour.get(hour - timedelta(hours=h), 0.0) for h in range(24)]
        sums = WindowSums(volume=sum(window), hours=sum(1 for u in window if u > 0))
        out[hour] = sums.hours < MIN_HOURS or sums.volume < MIN_UNITS
    return out
