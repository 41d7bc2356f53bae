"""Executed prices from one Currency Exchange market (pure; no I/O).

A market is a pair `[a, b]` of metadata paths, written in no particular order (chaos is
`a` in some pairs and `b` in others). For the hour it gives `volume_traded` (units of a
exchanged for units of b: one flow, never summed), the `lowest_ratio`/`highest_ratio`
of the executed trades expressed as `ratio[a]:ratio[b]`, i.e. "a per b" — "first per
second" — and the resting stock sampled on each side.

Prices here are always "quote per item", quote being chaos or divine:
* `vwap` = quote volume / item volume (null when nothing traded: never 0 or infinity);
* the extremes read in the pair's own order: when the item is `b` (quote first) the price
  is a per b, so lowest ratio → lowest price; when the item is `a` (item first) the price is
  b per a = 1 / (a per b), so the LOWEST ratio gives the HIGHEST price.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple

CHAOS_PATH = "Metadata/Items/Currency/CurrencyRerollRare"
DIVINE_PATH = "Metadata/Items/Currency/CurrencyModValues"
QUOTES = {CHAOS_PATH: "chaos", DIVINE_PATH: "divine"}


class MalformedMarket(ValueError):
    """A market object without the fields of the feed's shape."""


class ExchangePrice(NamedTuple):
    """One row: an item's executed prices in one quote currency, for one league and hour."""

    league: str
    market_id: str
    item_path: str
    quote_currency: str  # 'chaos' | 'divine'
    vwap_price: float | None
    min_price: float | None
    max_price: float | None
    volume: float  # item units traded in the hour
    quote_volume: float  # quote units paid for them
    item_lowest_stock: float | None
    item_highest_stock: float | None
    quote_lowest_stock: float | None
    quote_highest_stock: float | None


def _numbers(stats: Any, a: str, b: str) -> tuple[float | None, float | None]:
    """The values of both sides of a stats object: ints and finite floats, else None."""
    if stats.__class__ is not dict:
        return None, None
    va, vb = stats.get(a), stats.get(b)
    # exact class tests: bool is an int subclass and is excluded; `v - v` is nan for inf and nan
    if va.__class__ is not int and (va.__class__ is not float or va - va != 0.0):
        va = None
    if vb.__class__ is not int and (vb.__class__ is not float or vb - vb != 0.0):
        vb = None
    return va, vb


def per_unit(item_amount: float | None, quote_amount: float | None) -> float | None:
    """Quote units per item unit (a volume-weighted price, or a price at a ratio); None when either
    side is 0, negative or missing (no trade), or the quotient is not a finite positive number."""
    if not item_amount or not quote_amount or item_amount <= 0 or quote_amount <= 0:
        return None
    price = quote_amount / item_amount
    return price if math.isfinite(price) and price > 0 else None


def market_prices(market: Mapping[str, Any]) -> list[ExchangePrice]:
    """The rows a market gives: one per side whose other side is chaos or divine (0, 1 or 2).

    Runs for every market of every stored hour (~1,500 an hour, thousands of hours in a
    backfill): each stats object is read once for both sides, ratios only when something traded.
    """
    try:
        league, pair = market["league"], market["market_pair"]
        a, b = pair
    except (KeyError, TypeError, ValueError):
        raise MalformedMarket("a market without league or a two-path market_pair") from None
    quote_a = QUOTES.get(a)
    if quote_a is None and b not in QUOTES:
        return []
    if league.__class__ is not str or a.__class__ is not str or b.__class__ is not str:
        raise MalformedMarket("a market whose league or market_pair is not text")
    quote_b = QUOTES.get(b)
    market_id = market.get("market_id") or f"{a}|{b}"
    volume = _numbers(market.get("volume_traded"), a, b)
    low_stock = _numbers(market.get("lowest_stock"), a, b)
    high_stock = _numbers(market.get("highest_stock"), a, b)
    lowest = highest = None
    rows = []
    # side i is the item, side j the quote: (a priced in b) when b is a quote, (b priced in a) when a is
    for i, item, currency in ((0, a, quote_b), (1, b, quote_a)):
        if currency is None:
            continue
        j = 1 - i
        item_volume, quote_volume = volume[i] or 0, volume[j] or 0
        price = per_unit(item_volume, quote_volume)
        if price is None:
            low = high = None  # nothing traded: no executed price at all
        else:
            if lowest is None:
                lowest = _numbers(market.get("lowest_ratio"), a, b)
                highest = _numbers(market.get("highest_ratio"), a, b)
            at_lowest, at_highest = per_unit(lowest[i], lowest[j]), per_unit(highest[i], highest[j])
            # item first: the price is 1 / (a per b), so the ratio's extremes swap
            low, high = (at_highest, at_lowest) if i == 0 else (at_lowest, at_highest)
        rows.append(ExchangePrice(
            league, market_id, item, currency, price, low, high, item_volume, quote_volume,
            low_stock[i], high_stock[i], low_stock[j], high_stock[j],
        ))
    return rows
