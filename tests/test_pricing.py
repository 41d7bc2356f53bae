"""Order-book pricing: parsing real and odd responses, depth cost, robust minimum.

Expected values are computed by hand in the comments, never copied from the code.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tradewatch.market.pricing import (
    BookSummary,
    Offer,
    depth_cost,
    ladder,
    offers_from_ladder,
    offers_from_response,
    robust_min_price,
    summarize_book,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def divine_body() -> dict:
    # Real response: paying chaos for divines. Three listings, all at 240 chaos/divine:
    # 1200 for 5 (stock 616), 3600 for 15 (stock 15), 240 for 1 (stock 1).
    return json.loads((DATA / "exchange_response_poe1_ancestor_have_chaos_want_divine.json").read_text())


def listing(listing_id: str, offers: list[dict], account: str = "seller") -> dict:
    return {
        "id": listing_id,
        "item": None,
        "listing": {
            "indexed": "2024-01-01T00:00:00+00:00",
            "account": {"name": account, "online": None},
            "offers": offers,
        },
    }


def offer(pay: str, pay_amount, item: str, item_amount, stock) -> dict:
    return {
        "exchange": {"currency": pay, "amount": pay_amount, "whisper": "{0}"},
        "item": {"currency": item, "amount": item_amount, "stock": stock, "id": "x", "whisper": "{0}"},
    }


def body_of(*listings: dict) -> dict:
    result = {entry["id"]: entry for entry in listings}
    return {"id": "q", "complexity": None, "total": len(listings), "result": result}


def book(*rows: tuple[float, int, int]) -> list[Offer]:
    """Offers from (unit_price, item_amount, stock), built directly."""
    return [
        Offer(listing_id=f"l{i}", unit_price=p, item_amount=a, pay_amount=p * a, stock=s)
        for i, (p, a, s) in enumerate(rows)
    ]


# --- the real response ------------------------------------------------------------------


def test_real_response_parses_every_listing_with_its_unit_price(divine_body):
    offers = offers_from_response(divine_body, "divine", "chaos")

    assert [o.unit_price for o in offers] == [240.0, 240.0, 240.0]  # 1200/5, 3600/15, 240/1
    assert sorted((o.item_amount, o.pay_amount, o.stock) for o in offers) == [
        (1, 240.0, 1),
        (5, 1200.0, 616),
        (15, 3600.0, 15),
    ]
    zeromus = next(o for o in offers if o.account == "ZeromuS1")
    assert zeromus.listing_id.startswith("2e5339740f7d40ce")
    assert zeromus.indexed == datetime(2023, 10, 30, 18, 26, 56, tzinfo=timezone.utc)
    assert zeromus.fillable_trades == 123  # 616 // 5


def test_real_response_summary_prices_500_divines(divine_body):
    summary = summarize_book(divine_body, "divine", "chaos", target_quantity=500)

    assert summary == BookSummary(
        item_id="divine",
        paid_with="chaos",
        listing_count=3,
        total_stock=632,  # 616 + 15 + 1
        min_price=240.0,
        robust_min_price=240.0,
        target_quantity=500,
        bought=500,  # 100 trades of 5
        spent=120_000.0,  # 500 * 240
        avg_price=240.0,
    )


def test_real_response_is_thin_beyond_its_fillable_stock(divine_body):
    offers = offers_from_response(divine_body, "divine", "chaos")

    cost = depth_cost(offers, 700)

    # 123 trades of 5 (615; one of the 616 cannot be sold in a 5-pack) + 15 + 1 = 631.
    assert cost.bought == 631
    assert cost.spent == pytest.approx(631 * 240)
    assert cost.avg_price == pytest.approx(240.0)


def test_response_for_another_currency_pair_is_an_empty_book(divine_body):
    assert offers_from_response(divine_body, "divine", "exalted") == []
    assert offers_from_response(divine_body, "chaos", "divine") == []


# --- parsing ----------------------------------------------------------------------------


def test_multi_offer_listing_uses_the_offer_in_the_paid_currency():
    body = body_of(
        listing(
            "a",
            [
                offer("divine", 1, "essence", 40, 120),  # 1/40 divine each: other currency
                offer("chaos", 300, "essence", 100, 120),  # 3 chaos each: the one we pay with
                offer("chaos", 1, "other-item", 1, 5),  # another item
            ],
        )
    )

    offers = offers_from_response(body, "essence", "chaos")

    assert [(o.listing_id, o.unit_price, o.item_amount, o.stock) for o in offers] == [
        ("a", 3.0, 100, 120)
    ]


def test_offers_are_sorted_cheapest_first():
    body = body_of(
        listing("dear", [offer("chaos", 9, "x", 1, 10)]),
        listing("cheap", [offer("chaos", 10, "x", 5, 10)]),
        listing("mid", [offer("chaos", 6, "x", 2, 10)]),
    )

    offers = offers_from_response(body, "x", "chaos")

    assert [(o.listing_id, o.unit_price) for o in offers] == [
        ("cheap", 2.0),
        ("mid", 3.0),
        ("dear", 9.0),
    ]


def test_malformed_listings_are_skipped_and_the_good_one_kept():
    good = listing("good", [offer("chaos", 4, "x", 2, 10)])
    body = body_of(good)
    body["result"].update(
        {
            "none": None,
            "no-listing": {"id": "no-listing"},
            "offers-not-a-list": {"id": "o", "listing": {"offers": {"exchange": {}}}},
            "offer-not-a-dict": listing("s", ["nonsense"]),
            "no-item": listing("n", [{"exchange": {"currency": "chaos", "amount": 1}}]),
            "zero-amount": listing("z", [offer("chaos", 0, "x", 1, 10)]),
            "zero-items": listing("zi", [offer("chaos", 1, "x", 0, 10)]),
            "negative-stock": listing("ns", [offer("chaos", 1, "x", 1, -3)]),
            "string-amount": listing("sa", [offer("chaos", "1", "x", 1, 10)]),
            "bool-amount": listing("ba", [offer("chaos", True, "x", 1, 10)]),
            "fractional-items": listing("fi", [offer("chaos", 1, "x", 1.5, 10)]),
            "missing-stock": listing("ms", [offer("chaos", 1, "x", 1, None)]),
            "nan-price": listing("nan", [offer("chaos", float("nan"), "x", 1, 10)]),
        }
    )

    offers = offers_from_response(body, "x", "chaos")

    assert [(o.listing_id, o.unit_price) for o in offers] == [("good", 2.0)]


def test_odd_listing_metadata_does_not_drop_the_offer():
    entry = listing("odd", [offer("chaos", 3, "x", 1, 7)])
    entry["listing"]["indexed"] = "yesterday"
    entry["listing"]["account"] = None
    del entry["id"]  # the key of the result mapping names it then

    offers = offers_from_response({"result": {"key-id": entry}}, "x", "chaos")

    assert [(o.listing_id, o.indexed, o.account, o.stock) for o in offers] == [("key-id", None, None, 7)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "expected a JSON object, got list"),
        ("<!DOCTYPE html>", "expected a JSON object, got str"),
        ({"id": "q"}, "no 'result' key"),
        ({"error": {"code": 3, "message": "Rate limit exceeded"}}, "Rate limit exceeded"),
        ({"result": "nope"}, "'result' should map listing ids"),
        ({"result": [{"id": "a"}]}, "'result' should map listing ids"),
    ],
)
def test_a_body_that_is_not_an_exchange_response_is_a_clear_error(body, message):
    with pytest.raises(ValueError, match=message):
        offers_from_response(body, "x", "chaos")


# --- depth cost -------------------------------------------------------------------------


def test_depth_cost_walks_the_book_from_the_cheapest_offer():
    offers = book((2.0, 1, 30), (1.0, 1, 10), (3.0, 1, 100))

    cost = depth_cost(offers, 50)

    # 10 @ 1 + 30 @ 2 + 10 @ 3 = 10 + 60 + 30 = 100
    assert (cost.bought, cost.spent, cost.avg_price) == (50, pytest.approx(100.0), pytest.approx(2.0))


def test_depth_cost_overshoots_by_less_than_one_trade():
    offers = book((0.1, 40, 120))

    cost = depth_cost(offers, 50)

    # 40-packs: 2 trades are needed for 50 units, giving 80 for 8.0.
    assert cost.bought == 80
    assert cost.spent == pytest.approx(8.0)
    assert cost.avg_price == pytest.approx(0.1)


def test_depth_cost_stops_at_the_first_trade_that_reaches_the_quantity():
    offers = book((0.1, 40, 40), (0.2, 1, 100))

    cost = depth_cost(offers, 41)

    # one 40-pack, then a single unit: 4.0 + 0.2
    assert (cost.bought, cost.spent) == (41, pytest.approx(4.2))


def test_unfillable_offer_is_passed_over_by_depth_cost():
    # stock 5 < 10 per trade: the listing cannot be traded at all.
    offers = book((1.0, 10, 5), (2.0, 1, 100))

    cost = depth_cost(offers, 10)

    assert (cost.bought, cost.spent) == (10, pytest.approx(20.0))


def test_thin_book_buys_what_there_is():
    offers = book((1.0, 1, 30), (2.0, 3, 10))

    cost = depth_cost(offers, 500)

    # 30 @ 1, then 3 trades of 3 (9 of the 10) @ 2
    assert (cost.bought, cost.spent) == (39, pytest.approx(48.0))
    assert cost.avg_price == pytest.approx(48.0 / 39)


def test_depth_cost_of_an_empty_book_buys_nothing():
    cost = depth_cost([], 10)

    assert (cost.bought, cost.spent, cost.avg_price) == (0, 0.0, None)


@pytest.mark.parametrize("quantity", [0, -5])
def test_depth_cost_rejects_a_non_positive_quantity(quantity):
    with pytest.raises(ValueError, match="quantity must be positive"):
        depth_cost(book((1.0, 1, 1)), quantity)


# --- robust minimum ---------------------------------------------------------------------


def test_robust_min_ignores_a_cheap_bait_with_tiny_stock():
    # median of the 5 cheapest = 10; 1 < 0.5 * 10 and only 2 units
    offers = book((1.0, 1, 2), (10.0, 1, 100), (10.0, 1, 100), (11.0, 1, 100), (12.0, 1, 100))

    assert robust_min_price(offers) == 10.0


def test_robust_min_keeps_a_cheap_seller_with_real_stock():
    offers = book((1.0, 1, 500), (10.0, 1, 100), (10.0, 1, 100), (11.0, 1, 100), (12.0, 1, 100))

    assert robust_min_price(offers) == 1.0


def test_robust_min_keeps_a_small_seller_close_to_the_market():
    # 6 is not below 0.5 * 10, so a small stock is no reason to drop it
    offers = book((6.0, 1, 2), (10.0, 1, 100), (10.0, 1, 100), (11.0, 1, 100), (12.0, 1, 100))

    assert robust_min_price(offers) == 6.0


def test_robust_min_ignores_unfillable_offers():
    offers = book((0.5, 20, 19), (3.0, 1, 100), (3.5, 1, 100))

    assert robust_min_price(offers) == 3.0


def test_robust_min_parameters_change_the_rule():
    offers = book((1.0, 1, 2), (10.0, 1, 100), (10.0, 1, 100))

    assert robust_min_price(offers) == 10.0
    assert robust_min_price(offers, tiny_stock=2) == 1.0  # 2 units is no longer "tiny"
    assert robust_min_price(offers, factor=0.05) == 1.0  # 1 is not below 0.5
    assert robust_min_price(offers, window=1) == 1.0  # median of [1] is 1


def test_robust_min_of_a_book_without_fillable_offers_is_none():
    assert robust_min_price(book((1.0, 10, 9))) is None
    assert robust_min_price([]) is None


# --- summary ----------------------------------------------------------------------------


def test_summary_counts_unfillable_offers_in_min_price_and_stock_only():
    body = body_of(
        listing("bait", [offer("chaos", 10, "x", 10, 5)]),  # 1 each, cannot be filled
        listing("real", [offer("chaos", 2, "x", 1, 100)]),
    )

    summary = summarize_book(body, "x", "chaos", target_quantity=10)

    assert summary.listing_count == 2
    assert summary.total_stock == 105
    assert summary.min_price == 1.0
    assert summary.robust_min_price == 2.0
    assert (summary.bought, summary.spent, summary.avg_price) == (10, 20.0, 2.0)


@pytest.mark.parametrize("result", [{}, []])
def test_empty_book_is_a_row_of_zeros_and_nones(result):
    body = {"id": "q", "total": 0, "result": result}

    summary = summarize_book(body, "x", "chaos", target_quantity=500)

    assert summary == BookSummary(
        item_id="x",
        paid_with="chaos",
        listing_count=0,
        total_stock=0,
        min_price=None,
        robust_min_price=None,
        target_quantity=500,
        bought=0,
        spent=0.0,
        avg_price=None,
    )


def test_summary_of_a_thin_book_buys_less_than_the_target():
    body = body_of(listing("a", [offer("chaos", 12, "x", 4, 10)]))  # 3 each, 2 trades of 4

    summary = summarize_book(body, "x", "chaos", target_quantity=500)

    assert (summary.bought, summary.spent, summary.avg_price) == (8, 24.0, 3.0)


# --- ladder -----------------------------------------------------------------------------


def test_ladder_round_trips_through_json_and_prices_the_same():
    offers = book((2.0, 5, 17), (0.5, 20, 19), (1.25, 4, 400), (2.0, 1, 3))

    rows = json.loads(json.dumps(ladder(offers)))
    rebuilt = offers_from_ladder(rows)

    assert rows == [[0.5, 20, 19], [1.25, 4, 400], [2.0, 5, 17], [2.0, 1, 3]]
    for quantity in (1, 7, 100, 415, 10_000):
        assert depth_cost(rebuilt, quantity) == depth_cost(offers, quantity)
    assert robust_min_price(rebuilt) == robust_min_price(offers) == 1.25


@pytest.mark.parametrize("row", [(1.0, 0, 5), (1.0, 1, -1), (0.0, 1, 5), (1.0, 1.5, 5), (1.0, 1)])
def test_offers_from_ladder_rejects_a_bad_row(row):
    with pytest.raises(ValueError):
        offers_from_ladder([row])


# --- the backfill's path: the same prices without building offers ------------------------

import math  # noqa: E402

from hypothesis import given, settings, strategies as st  # noqa: E402

from tradewatch.market.pricing import summarize_offers, summarize_response  # noqa: E402

_amounts = st.one_of(st.integers(-2, 60), st.floats(-1, 500), st.sampled_from([math.nan, math.inf, 7.5, 40.0]),
                     st.sampled_from([None, True, "5", 0, 1e-320, 1e300]))
_raw_offers = st.lists(st.fixed_dictionaries({
    "exchange": st.fixed_dictionaries({"currency": st.sampled_from(["chaos", "divine"]), "amount": _amounts}),
    "item": st.fixed_dictionaries({"currency": st.sampled_from(["x", "y"]), "amount": _amounts, "stock": _amounts}),
}), max_size=3)
_entries = st.one_of(
    st.builds(lambda offers, key: {"id": key, "listing": {"offers": offers}}, _raw_offers, st.text(max_size=3)),
    st.sampled_from([None, {}, {"listing": None}, {"listing": {"offers": "no"}}, {"listing": {}}]),
)


def test_summarize_response_prices_the_real_response_as_the_offers_do(divine_body):
    offers = offers_from_response(divine_body, "divine", "chaos")
    for target in (1, 5, 500):
        assert summarize_response(divine_body, "divine", "chaos", target) == (
            summarize_offers(offers, "divine", "chaos", target), ladder(offers))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=4), _entries, max_size=12), st.integers(1, 80))
def test_summarize_response_reads_odd_books_exactly_as_offers_from_response(result, target):
    body = {"id": "q", "result": result}
    offers = offers_from_response(body, "x", "chaos", details=False)
    assert summarize_response(body, "x", "chaos", target) == (
        summarize_offers(offers, "x", "chaos", target), ladder(offers))


@pytest.mark.parametrize("body", [[], {"error": {"code": 2, "message": "Invalid query"}}, {"result": 5}])
def test_summarize_response_refuses_what_offers_from_response_refuses(body):
    with pytest.raises(ValueError) as theirs:
        offers_from_response(body, "x", "chaos")
    with pytest.raises(ValueError) as ours:
        summarize_response(body, "x", "chaos")
    assert str(ours.value) == str(theirs.value)
