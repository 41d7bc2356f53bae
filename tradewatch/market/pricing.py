"""Order-book pricing from one raw bulk-exchange response.

The trade API answers a bulk-exchange query ("I pay with X, I want Y") with up to 100
listings. This module turns such a response into a sorted order book of `Offer`s and
prices it three ways:

* `min_price` — the naive cheapest unit price (what the old setup recorded);
* `robust_min_price` — the cheapest price that is not a price-fixing outlier;
* `depth_cost` — what buying N units really costs when walking the book from the
  cheapest offer, in whole trades, within each seller's stock.

Everything here is pure: plain data in, plain data out, no I/O.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

__all__ = [
    "BookSummary",
    "DepthCost",
    "Offer",
    "depth_cost",
    "ladder_depth_cost",
    "ladder",
    "offers_from_ladder",
    "offers_from_response",
    "robust_min_price",
    "summarize_book",
    "summarize_offers",
    "summarize_response",
]

# Defaults of the outlier rule of `robust_min_price` (see its docstring).
ROBUST_WINDOW = 5
ROBUST_FACTOR = 0.5
ROBUST_TINY_STOCK = 10

# Parsed JSON objects are dicts: checking `dict` first skips the slow ABC check (a backfill
# parses millions of offers); any other Mapping is still accepted.
_MAPPING = (dict, Mapping)

# What the pricing rules read of one offer: (unit_price, item_amount, pay_amount, stock). The
# rules below work on these tuples; `Offer`s are turned into them, and a backfill that only
# needs prices builds them straight from the parsed response (`summarize_response`), without
# the cost of an `Offer` per listing.
Terms = tuple[float, int, float, int]
_PRICE = itemgetter(0)


@dataclass(frozen=True)
class Offer:
    """One seller's offer of the wanted item for the paid currency.

    `unit_price` is in paid currency per item. One trade hands over `pay_amount` of the
    paid currency for `item_amount` items; the seller holds `stock` items.
    """

    listing_id: str
    unit_price: float
    item_amount: int
    pay_amount: float
    stock: int
    indexed: datetime | None = None
    account: str | None = None

    def __post_init__(self) -> None:
        if self.item_amount <= 0:
            raise ValueError(f"Offer.item_amount must be positive, got {self.item_amount}")
        if self.stock < 0:
            raise ValueError(f"Offer.stock must not be negative, got {self.stock}")
        if not (math.isfinite(self.unit_price) and self.unit_price > 0):
            raise ValueError(f"Offer.unit_price must be positive, got {self.unit_price}")
        if not (math.isfinite(self.pay_amount) and self.pay_amount > 0):
            raise ValueError(f"Offer.pay_amount must be positive, got {self.pay_amount}")

    @property
    def fillable_trades(self) -> int:
        """Whole trades the seller can honour (0 when stock < item_amount)."""
        return self.stock // self.item_amount

    @property
    def fillable_units(self) -> int:
        """Items that can actually be bought from this offer."""
        return self.fillable_trades * self.item_amount


@dataclass(frozen=True)
class DepthCost:
    """The outcome of buying a quantity from a book: units bought, currency spent."""

    bought: int
    spent: float
    avg_price: float | None


@dataclass(frozen=True)
class BookSummary:
    """One row of prices for one item in one response (also for an empty book)."""

    item_id: str
    paid_with: str
    listing_count: int
    total_stock: int
    min_price: float | None
    robust_min_price: float | None
    target_quantity: int
    bought: int
    spent: float
    avg_price: float | None


# --- parsing ---------------------------------------------------------------------------


def offers_from_response(body: Mapping[str, Any], item_id: str, paid_with: str, *,
                         details: bool = True) -> list[Offer]:
    """The order book of `item_id` priced in `paid_with`, cheapest first.

    Each listing contributes its first offer that sells `item_id` for `paid_with`;
    listings without such an offer, or with missing fields or non-positive amounts,
    are skipped (the market is full of odd data and one bad listing must not cost the
    hour). Equal prices keep the response's order, so the result is deterministic.

    An empty `result` list is read as an empty book. Raises `ValueError` when `body`
    is not a response at all (not a dict, an API error body, no `result` mapping).
    With `details=False` the listings' indexed time and account are not read (None):
    prices do not depend on them, and a backfill parses millions of offers.
    """
    listings = _result_listings(body)
    offers = []
    for key, entry in listings.items():
        offer = _offer_from_entry(key, entry, item_id, paid_with, details)
        if offer is not None:
            offers.append(offer)
    # sorted() is stable: ties stay in the server's order.
    return sorted(offers, key=lambda o: o.unit_price)


def _response_terms(body: Mapping[str, Any], item_id: str, paid_with: str) -> list[Terms]:
    """The `Terms` of the offers `offers_from_response` reads (same listings, same rules), cheapest first."""
    terms = []
    for entry in _result_listings(body).values():
        raw_offers = _listing_offers(entry)
        if raw_offers is not None:
            found = _first_terms(raw_offers, item_id, paid_with)
            if found is not None:
                terms.append(found)
    terms.sort(key=_PRICE)  # stable: ties stay in the server's order
    return terms


def _result_listings(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, _MAPPING):
        raise ValueError(
            f"not a bulk-exchange response: expected a JSON object, got {type(body).__name__}"
        )
    if "result" not in body:
        error = body.get("error")
        if isinstance(error, _MAPPING):
            raise ValueError(
                f"not a bulk-exchange response but an API error: "
                f"code {error.get('code')!r}, message {error.get('message')!r}"
            )
        raise ValueError(
            f"not a bulk-exchange response: no 'result' key (keys: {sorted(map(str, body))})"
        )
    result = body["result"]
    # Some JSON encoders write an empty object as []; that is an empty book, not an error.
    if isinstance(result, list) and not result:
        return {}
    if not isinstance(result, _MAPPING):
        raise ValueError(
            f"not a bulk-exchange response: 'result' should map listing ids to listings, "
            f"got {type(result).__name__}"
        )
    return result


def _listing_offers(entry: Any) -> list[Any] | None:
    """The `offers` array of one `result` entry, or None when the entry has none."""
    if not isinstance(entry, _MAPPING):
        return None
    listing = entry.get("listing")
    if not isinstance(listing, _MAPPING):
        return None
    offers = listing.get("offers")
    return offers if isinstance(offers, list) else None


def _offer_from_entry(key: Any, entry: Any, item_id: str, paid_with: str, details: bool = True) -> Offer | None:
    offers = _listing_offers(entry)
    if offers is None:
        return None
    listing = entry["listing"]
    listing_id = entry.get("id") if isinstance(entry.get("id"), str) else str(key)
    return _first_matching_offer(offers, listing_id, listing if details else {}, item_id, paid_with)


def _first_matching_offer(
    offers: list[Any], listing_id: str, listing: Mapping[str, Any], item_id: str, paid_with: str
) -> Offer | None:
    terms = _first_terms(offers, item_id, paid_with)
    if terms is None:
        return None
    unit_price, item_amount, pay_amount, stock = terms
    return Offer(
        listing_id=listing_id,
        unit_price=unit_price,
        item_amount=item_amount,
        pay_amount=pay_amount,
        stock=stock,
        indexed=_parse_time(listing.get("indexed")),
        account=_account_name(listing.get("account")),
    )


def _first_terms(offers: list[Any], item_id: str, paid_with: str) -> Terms | None:
    for raw in offers:
        terms = _matching_terms(raw, item_id, paid_with)
        if terms is not None:
            return terms
    return None


def _matching_terms(raw: Any, item_id: str, paid_with: str) -> Terms | None:
    """The terms of one raw offer when it sells `item_id` for `paid_with` with usable amounts."""
    if not isinstance(raw, _MAPPING):
        return None
    exchange, item = raw.get("exchange"), raw.get("item")
    if not isinstance(exchange, _MAPPING) or not isinstance(item, _MAPPING):
        return None
    if exchange.get("currency") != paid_with or item.get("currency") != item_id:
        return None
    pay_amount = _positive_number(exchange.get("amount"))
    item_amount = _whole_number(item.get("amount"))
    stock = _whole_number(item.get("stock"))
    if pay_amount is None or item_amount is None or item_amount <= 0 or stock is None:
        return None
    unit_price = pay_amount / item_amount
    if not unit_price > 0:  # a price so small it underflows is no usable amount either
        return None
    return unit_price, item_amount, pay_amount, stock


def _positive_number(value: Any) -> float | None:
    if type(value) is int:  # the common case, first (an exact int is never a bool)
        return float(value) if value > 0 else None
    # bool is an int subclass; `true` is never an amount.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and value > 0 else None


def _whole_number(value: Any) -> int | None:
    """A non-negative integer, also from a float like 40.0; None otherwise."""
    if type(value) is int:  # the common case, first (an exact int is never a bool)
        return value if value >= 0 else None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        return None
    value = int(value)
    return value if value >= 0 else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _account_name(account: Any) -> str | None:
    if isinstance(account, _MAPPING) and isinstance(account.get("name"), str):
        return account["name"]
    return None


# --- pricing ---------------------------------------------------------------------------


def depth_cost(offers: Sequence[Offer], quantity: int) -> DepthCost:
    """What buying `quantity` units costs, walking the book from the cheapest offer.

    Trades happen in whole multiples of an offer's `item_amount`, at most
    `stock // item_amount` trades per offer, so an offer whose stock is below its
    `item_amount` cannot be filled at all (the price-fixing trick) and is passed over.

    Overshoot rule: buying stops as soon as `bought >= quantity`, so the last trade may
    overshoot `quantity` by less than that offer's `item_amount` (a seller of 40-packs
    cannot sell 3). The overshoot is paid for and counted in `bought` and `spent`;
    `avg_price` stays the true price per unit received.

    On a thin book `bought < quantity`; `avg_price` is None only when nothing could be
    bought. Raises `ValueError` when `quantity <= 0`.
    """
    return _depth(_offer_terms(offers), quantity)


def _offer_terms(offers: Sequence[Offer]) -> list[Terms]:
    """The offers' terms, cheapest first (stable: equal prices keep their order)."""
    return sorted(((o.unit_price, o.item_amount, o.pay_amount, o.stock) for o in offers), key=_PRICE)


def _depth(terms: Sequence[Terms], quantity: int) -> DepthCost:
    # terms cheapest first; an offer fills at most stock // item_amount whole trades
    return _walk([(amount, pay, stock // amount) for _, amount, pay, stock in terms], quantity)


def ladder_depth_cost(rows: Sequence[Sequence[float | int]], quantity: int) -> DepthCost:
    """`depth_cost` of the book that `ladder` rows describe (cheapest first, as stored), without
    building the offers: the what-if evaluation prices ~20 books an hour. Same rules (the walk
    of `_walk`, written out: it is the inner loop of every hour's evaluation); a row with a
    non-positive amount or price raises `ValueError` as `offers_from_ladder` does. Only the rows
    the purchase reaches are read (and checked)."""
    if quantity <= 0:
        raise ValueError(f"quantity must be positive, got {quantity}")
    bought, spent = 0, 0.0
    for price, amount, stock in rows:
        if not (price > 0 and amount > 0 and stock >= 0):
            raise ValueError(f"ladder row {[price, amount, stock]!r} is not (unit_price > 0, item_amount > 0, "
                             "stock >= 0)")
        trades = min(-(-(quantity - bought) // amount), stock // amount)  # ceiling division
        bought += trades * amount
        spent += trades * (price * amount)
        if bought >= quantity:
            break
    return DepthCost(bought=bought, spent=spent, avg_price=spent / bought if bought else None)


def _walk(steps: Sequence[tuple[int, float, int]], quantity: int) -> DepthCost:
    # steps: (item_amount, pay_amount, fillable_trades), cheapest first
    if quantity <= 0:
        raise ValueError(f"quantity must be positive, got {quantity}")
    bought, spent = 0, 0.0
    for item_amount, pay_amount, fillable_trades in steps:
        trades = min(-(-(quantity - bought) // item_amount), fillable_trades)  # ceiling division
        bought += trades * item_amount
        spent += trades * pay_amount
        if bought >= quantity:
            break
    return DepthCost(bought=bought, spent=spent, avg_price=spent / bought if bought else None)


def robust_min_price(
    offers: Sequence[Offer],
    window: int = ROBUST_WINDOW,
    factor: float = ROBUST_FACTOR,
    tiny_stock: int = ROBUST_TINY_STOCK,
) -> float | None:
    """The cheapest unit price that is not a price-fixing outlier.

    Rule:
    1. Offers that cannot be filled (stock < item_amount) are ignored.
    2. Among the `window` (default 5) cheapest remaining offers, an offer is an outlier
       when BOTH its price is below `factor` (default 0.5) × the median price of those
       offers AND it can deliver fewer than `tiny_stock` (default 10) units. Such a bait
       moves the naive minimum but cannot be bought in any quantity that matters; a
       cheap seller with real stock is a real price and is kept.
    3. The answer is the cheapest offer left; None when no offer can be filled.

    Step 2 never drops every offer: at least half of the window is at or above the
    median, hence above `factor` × median.
    """
    return _robust_min(_offer_terms(offers), window, factor, tiny_stock)


def _robust_min(terms: Sequence[Terms], window: int = ROBUST_WINDOW, factor: float = ROBUST_FACTOR,
                tiny_stock: int = ROBUST_TINY_STOCK) -> float | None:
    # `robust_min_price` of terms sorted cheapest first
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    if not 0 < factor <= 1:
        raise ValueError(f"factor must be in (0, 1], got {factor}")
    cheapest = []  # (unit_price, fillable units) of the `window` cheapest fillable offers
    for unit_price, amount, _, stock in terms:
        units = stock // amount * amount
        if units > 0:
            cheapest.append((unit_price, units))
            if len(cheapest) == window:
                break
    if not cheapest:
        return None
    floor = factor * statistics.median(price for price, _ in cheapest)
    kept = [price for price, units in cheapest if not (price < floor and units < tiny_stock)]
    return kept[0]


def summarize_book(
    body: Mapping[str, Any], item_id: str, paid_with: str, target_quantity: int = 500
) -> BookSummary:
    """Prices of `item_id` in `paid_with` from one raw response, as one row (`summarize_offers`)."""
    return summarize_offers(offers_from_response(body, item_id, paid_with), item_id, paid_with, target_quantity)


def summarize_offers(
    offers: Sequence[Offer], item_id: str, paid_with: str, target_quantity: int = 500
) -> BookSummary:
    """Prices of one parsed order book, as one row.

    `listing_count` counts listings with a matching offer and `total_stock` sums their
    stock (fillable or not); `min_price` is the cheapest matching offer, unfillable ones
    included (the naive figure); `robust_min_price` follows `robust_min_price`; bought,
    spent and avg_price are `depth_cost` for `target_quantity`. An empty book is still a
    row: counts 0, prices None, bought 0, spent 0.0.
    """
    return _summary(_offer_terms(offers), item_id, paid_with, target_quantity)


def summarize_response(body: Mapping[str, Any], item_id: str, paid_with: str,
                       target_quantity: int = 500) -> tuple[BookSummary, list[tuple[float, int, int]]]:
    """`summarize_book` and the `ladder` of the same book, from one raw response, without building
    `Offer`s (a backfill prices ~180k responses a year: the same rules, a fraction of the cost).

    Raises `ValueError` as `offers_from_response` does."""
    terms = _response_terms(body, item_id, paid_with)
    return (_summary(terms, item_id, paid_with, target_quantity),
            [(unit_price, amount, stock) for unit_price, amount, _, stock in terms])


def _summary(terms: Sequence[Terms], item_id: str, paid_with: str, target_quantity: int) -> BookSummary:
    # `summarize_offers` of terms sorted cheapest first
    cost = _depth(terms, target_quantity)
    return BookSummary(
        item_id=item_id,
        paid_with=paid_with,
        listing_count=len(terms),
        total_stock=sum(t[3] for t in terms),
        min_price=terms[0][0] if terms else None,
        robust_min_price=_robust_min(terms),
        target_quantity=target_quantity,
        bought=cost.bought,
        spent=cost.spent,
        avg_price=cost.avg_price,
    )


# --- compact storage -------------------------------------------------------------------


def ladder(offers: Sequence[Offer]) -> list[tuple[float, int, int]]:
    """The book as JSON-friendly `(unit_price, item_amount, stock)` rows, cheapest first.

    Enough to recompute `depth_cost` and `robust_min_price` for any quantity later.
    """
    return [(unit_price, amount, stock) for unit_price, amount, _, stock in _offer_terms(offers)]


def offers_from_ladder(rows: Sequence[Sequence[float | int]]) -> list[Offer]:
    """Offers rebuilt from `ladder` rows (lists after a JSON round trip are fine).

    Listing ids are synthetic (`ladder:<row>`); indexed time and account are not kept.
    Raises `ValueError` on a row that is not `(price > 0, amount > 0, stock >= 0)`.
    """
    offers = []
    for index, row in enumerate(rows):
        if len(row) != 3:
            raise ValueError(
                f"ladder row {index} should be (unit_price, item_amount, stock), got {row!r}"
            )
        unit_price, item_amount, stock = float(row[0]), _whole_number(row[1]), _whole_number(row[2])
        if item_amount is None or stock is None:
            raise ValueError(f"ladder row {index} has a non-integer amount or stock: {row!r}")
        offers.append(
            Offer(
                listing_id=f"ladder:{index}",
                unit_price=unit_price,
                item_amount=item_amount,
                pay_amount=unit_price * item_amount,
                stock=stock,
            )
        )
    return sorted(offers, key=lambda o: o.unit_price)
