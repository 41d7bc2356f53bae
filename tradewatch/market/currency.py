"""Chaos and divine: converting a price between the two with a league-hour's divine price in chaos.

The rate (`chaos_per_divine`) is the Currency Exchange's executed `chaos|divine` vwap of that
league and hour (else the order book of divine paid in chaos). Pure: a missing, zero, negative or
non-finite rate gives no value (None), never a guess.

Its SQL twin is `analytics.convert_price` (migration 0015), which the views, the API's
`currency` argument and `tradewatch.frames` use; `tests/test_price_conversion.py` holds the two
equal. They differ only for a currency other than chaos or divine: SQL answers null (a view cannot
refuse a row), this raises ValueError.
"""

from __future__ import annotations

import math

__all__ = ["CURRENCIES", "REALM_OF_GAME", "convert"]

CURRENCIES = ("chaos", "divine")
# The Currency Exchange realm whose documents price a game's trade-site leagues.
REALM_OF_GAME = {"poe1": "pc", "poe2": "poe2"}


def convert(value: float | None, from_currency: str, to_currency: str, chaos_per_divine: float | None) -> float | None:
    """`value` in `from_currency` expressed in `to_currency` (both chaos or divine)."""
    if value is None or from_currency == to_currency:
        return value
    if chaos_per_divine is None or not math.isfinite(chaos_per_divine) or chaos_per_divine <= 0:
        return None
    if (from_currency, to_currency) == ("divine", "chaos"):
        return value * chaos_per_divine
    if (from_currency, to_currency) == ("chaos", "divine"):
        return value / chaos_per_divine
    raise ValueError(f"cannot convert {from_currency} to {to_currency}: only chaos and divine convert")
