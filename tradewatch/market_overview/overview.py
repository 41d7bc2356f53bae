"""A league's market overview from its packed hourly rows, for every item at once (pure; numpy, no I/O).

The input is what `warehouse.market_hours` holds for one realm and league over the 192 hours
ending with the overview's hour: per hour, the items that traded (keys) and at the same positions
their units, and the chaos and divine units and values counted in the prices. Each hour falls in
one window (W0 … W7, `windows.window_of`); the window sums of every item are one weighted
`bincount` per figure, and the figures follow `windows.figures` exactly, with NaN where it has
None. The rows are the items that traded within W0 … W6.

The packed arrays come from PostgreSQL in its binary array format (`array_send`), read in place
by `from_array_send`: no Python float per value.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime
from collections.abc import Sequence

import numpy as np

from tradewatch.market_overview.windows import MIN_HOURS, MIN_UNITS, SPARKLINE, WINDOW, WINDOWS

UNITS = ("chaos", "divine")
_HEADER = struct.Struct(">iii")
_DIMENSION = struct.Struct(">ii")
# element types of PostgreSQL's binary array format: int8 and float8, each value after its length (4 bytes)
_ELEMENTS = {20: np.dtype([("length", ">i4"), ("value", ">i8")]), 701: np.dtype([("length", ">i4"), ("value", ">f8")])}


def from_array_send(data: bytes | memoryview) -> np.ndarray:
    """A one-dimensional bigint[] or float8[] without nulls, from PostgreSQL's binary format (`array_send`)."""
    dims, has_nulls, element = _HEADER.unpack_from(data, 0)
    if dims == 0:
        return np.empty(0, dtype=np.float64 if element == 701 else np.int64)
    if dims != 1 or has_nulls or element not in _ELEMENTS:
        raise ValueError(f"not a one-dimensional bigint[] or float8[] without nulls (dims {dims}, nulls "
                         f"{has_nulls}, element type {element})")
    size, _ = _DIMENSION.unpack_from(data, _HEADER.size)
    pairs = np.frombuffer(data, dtype=_ELEMENTS[element], count=size, offset=_HEADER.size + _DIMENSION.size)
    return pairs["value"].astype(np.float64 if element == 701 else np.int64)


@dataclass(frozen=True)
class PackedHour:
    """One league-hour of the packed rollup: the items' keys and their figures at the same positions."""

    observed_hour: datetime
    item_keys: np.ndarray
    volume: np.ndarray
    chaos_units: np.ndarray
    chaos_value: np.ndarray
    divine_units: np.ndarray
    divine_value: np.ndarray


@dataclass(frozen=True)
class UnitFigures:
    """One unit's figures of every row (NaN where the definitions give none)."""

    price: np.ndarray
    change24h: np.ndarray
    change7d: np.ndarray
    value24h: np.ndarray
    sparkline: np.ndarray  # rows × 7: price(W6) … price(W0)


@dataclass(frozen=True)
class LeagueOverview:
    """The overview of one league at `hour`: one entry per row, rows sorted by item key."""

    hour: datetime
    item_keys: np.ndarray
    volume24h: np.ndarray
    hours24h: np.ndarray
    low_confidence: np.ndarray
    chaos: UnitFigures
    divine: UnitFigures

    def __len__(self) -> int:
        return len(self.item_keys)

    def unit(self, unit: str) -> UnitFigures:
        return self.chaos if unit == "chaos" else self.divine


def _prices(units: np.ndarray, value: np.ndarray) -> np.ndarray:
    """value / units per window and item where both are positive (WindowSums.price), else NaN."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((units > 0) & (value > 0), value / units, np.nan)


def league_overview(hour: datetime, hours: Sequence[PackedHour]) -> LeagueOverview:
    """The overview at `hour` from a league's packed hours (those outside W0 … W7 are ignored)."""
    windows, parts = [], []
    for h in hours:
        if h.observed_hour > hour or len(h.item_keys) == 0:
            continue
        w = int((hour - h.observed_hour) // WINDOW)
        if w < WINDOWS:
            windows.append(np.full(len(h.item_keys), w, dtype=np.int64))
            parts.append(h)
    if not parts:
        keys = np.empty(0, dtype=np.int64)
        empty = np.empty(0)
        figures = UnitFigures(empty, empty, empty, empty, np.empty((0, SPARKLINE)))
        return LeagueOverview(hour, keys, empty, np.empty(0, dtype=np.int64), np.empty(0, dtype=bool), figures,
                              figures)
    keys, slot = np.unique(np.concatenate([h.item_keys for h in parts]), return_inverse=True)
    n = len(keys)
    index = np.concatenate(windows) * n + slot

    def sums(column: str) -> np.ndarray:
        weights = np.concatenate([getattr(h, column) for h in parts])
        return np.bincount(index, weights=weights, minlength=WINDOWS * n).reshape(WINDOWS, n)

    volume = sums("volume")
    traded = np.concatenate([h.volume for h in parts]) > 0
    hours_traded = np.bincount(index[traded], minlength=WINDOWS * n).reshape(WINDOWS, n)
    rows = (volume[:SPARKLINE] > 0).any(axis=0)
    by_unit = {}
    for unit in UNITS:
        units, value = sums(f"{unit}_units")[:, rows], sums(f"{unit}_value")[:, rows]
        prices = _prices(units, value)
        by_unit[unit] = UnitFigures(
            price=prices[0], change24h=prices[0] / prices[1] - 1.0, change7d=prices[0] / prices[7] - 1.0,
            value24h=np.where(units[0] > 0, value[0], np.nan), sparkline=prices[SPARKLINE - 1::-1].T.copy())
    volume24h, hours24h = volume[0, rows], hours_traded[0, rows]
    no_price = np.isnan(by_unit["chaos"].price) & np.isnan(by_unit["divine"].price)
    return LeagueOverview(hour=hour, item_keys=keys[rows], volume24h=volume24h, hours24h=hours24h,
                          low_confidence=no_price | (hours24h < MIN_HOURS) | (volume24h < MIN_UNITS), **by_unit)
