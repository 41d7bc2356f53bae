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


def _number(stats: Any, path: str) -> float | None:
    value = stats.get(path) if stats.__class__ is dict else None
    # ints and finite floats only (bool is an int subclass: excluded by the exact class test)
    if value.__class__ is int or (value.__class__ is float and math.isfinite(value)):
        return value
    return None


def price_from_ratio(ratio: Any, item: str, quote: str) -> float | None:
    """Quote units per item unit at a ratio dict; None when either side is 0 or missing (no trade)."""
    r_item, r_quote = _number(ratio, item), _number(ratio, quote)
    if not r_item or not r_quote or r_item <= 0 or r_quote <= 0:
        return None
    price = r_quote / r_item
    return price if math.isfinite(price) and price > 0 else None


def vwap(item_volume: float | None, quote_volume: float | None) -> float | None:
    if not item_volume or not quote_volume or item_volume <= 0 or quote_volume <= 0:
        return None
    price = quote_volume / item_volume
    return price if math.isfinite(price) and price > 0 else None


def market_prices(market: Mapping[str, Any]) -> list[ExchangePrice]:
    """The rows a market gives: one per side whose other side is chaos or divine (0, 1 or 2).

    Runs for every market of every stored hour (~1,500 an hour): kept lean on purpose.
    """
    try:
        league, pair = market["league"], market["market_pair"]
        a, b = pair
    except (KeyError, TypeError, ValueError):
        raise MalformedMarket("a market without league or a two-path market_pair") from None
    if a not in QUOTES and b not in QUOTES:
        return []
    if league.__class__ is not str or a.__class__ is not str or b.__class__ is not str:
        raise MalformedMarket("a market whose league or market_pair is not text")
    market_id = market.get("market_id") or f"{a}|{b}"
    volumes = market.get("volume_traded")
    lowest, highest = market.get("lowest_ratio"), market.get("highest_ratio")
    low_stock, high_stock = market.get("lowest_stock"), market.get("highest_stock")
    rows = []
    for item, quote, item_first in ((a, b, True), (b, a, False)):
        currency = QUOTES.get(quote)
        if currency is None:
            continue
        item_volume, quote_volume = _number(volumes, item) or 0, _number(volumes, quote) or 0
        price = vwap(item_volume, quote_volume)
        if price is None:
            low = high = None  # nothing traded: no executed price at all
        else:
            at_lowest, at_highest = price_from_ratio(lowest, item, quote), price_from_ratio(highest, item, quote)
            # item first: the price is 1 / (a per b), so the ratio's extremes swap
            low, high = (at_highest, at_lowest) if item_first else (at_lowest, at_highest)
        rows.append(ExchangePrice(
            league, market_id, item, currency, price, low, high, item_volume, quote_volume,
            _number(low_stock, item), _number(high_stock, item), _number(low_stock, quote), _number(high_stock, quote),
        ))
    return rows
