"""Reroll strategy: hand-computed chains, exact optimum, break-even, simulation agreement.

Expected values are derived by hand in the comments, never copied from the code.
"""

from __future__ import annotations

import itertools
import random

import pytest

from tradewatch.market.pricing import Offer
from tradewatch.market.strategy import (
    DEAFENING_ESSENCES,
    ItemQuote,
    StrategySpec,
    StrategyUnavailable,
    evaluate_strategy,
    expected_outcome,
    monte_carlo,
)

A, B, C = "a", "b", "c"
LIFE = "life"


def offers(price: float, stock: int = 10_000, amount: int = 1) -> tuple[Offer, ...]:
    return (Offer("l", price, amount, price * amount, stock),)


def reroll_quote(price: float) -> ItemQuote:
    """A reroll item priced by its sale price only (no book to walk)."""
    return ItemQuote(LIFE, price)


def small_spec(**changes) -> StrategySpec:
    fields = dict(
        name="abc", family=(A, B, C), reroll_cost_item=LIFE, reroll_cost_amount=2.0,
        units_per_reroll=1, buy_quantity=10, top_k=1,
    )
    return StrategySpec(**(fields | changes))


def small_quotes() -> dict[str, ItemQuote]:
    # a is the cheapest to buy (1.0) but sells for only 0.5; b sells for 3, c for 10.
    return {
        A: ItemQuote(A, 0.5, offers(1.0)),
        B: ItemQuote(B, 3.0, offers(2.0)),
        C: ItemQuote(C, 10.0, offers(8.0)),
    }


# --- expected_outcome: hand-computed chains -----------------------------------------------


def test_three_uniform_items_need_two_rerolls_to_reach_the_top_one():
    # From a: b or c with 1/2 each; from b likewise. E_a = 1 + E_b / 2 = E_b -> E = 2.
    rerolls, value = expected_outcome((A, B, C), None, A, {C}, {A: 1, B: 2, C: 10})

    assert rerolls == pytest.approx(2.0)
    assert value == pytest.approx(10.0)


def test_two_targets_out_of_three_are_reached_in_one_reroll():
    # Every reroll from a lands on b or c: one reroll, value (2 + 10) / 2.
    assert expected_outcome((A, B, C), None, A, {B, C}, {A: 1, B: 2, C: 10}) == pytest.approx((1.0, 6.0))


def test_starting_in_the_stop_set_sells_at_once():
    assert expected_outcome((A, B, C), None, C, {C}, {A: 1, B: 2, C: 10}) == (0.0, 10.0)


def test_twenty_uniform_types_with_five_targets_need_3_8_rerolls():
    values = {m: float(i) for i, m in enumerate(DEAFENING_ESSENCES)}
    top5 = DEAFENING_ESSENCES[-5:]  # values 15..19

    rerolls, value = expected_outcome(DEAFENING_ESSENCES, None, DEAFENING_ESSENCES[0], top5, values)

    # each reroll from a non-target hits one of the 5 targets among the 19 others: 19/5
    assert rerolls == pytest.approx(3.8)
    # uniform over the targets: (15 + 16 + 17 + 18 + 19) / 5
    assert value == pytest.approx(17.0)


def test_weighted_outcomes_follow_the_weights():
    # weights 1, 2, 3. From a: c w.p. 3/5, b 2/5. From b: c 3/4, a 1/4.
    # E_a = 1 + 2/5 E_b, E_b = 1 + 1/4 E_a  ->  E_a = 14/9, E_b = 25/18.
    weights = {A: 1.0, B: 2.0, C: 3.0}
    values = {A: 1.0, B: 2.0, C: 10.0}

    assert expected_outcome((A, B, C), weights, A, {C}, values) == pytest.approx((14 / 9, 10.0))
    assert expected_outcome((A, B, C), weights, B, {C}, values) == pytest.approx((25 / 18, 10.0))
    # selling on b or c from a: one reroll, 2/5 * 2 + 3/5 * 10 = 6.8
    assert expected_outcome((A, B, C), weights, A, {B, C}, values) == pytest.approx((1.0, 6.8))


def test_members_missing_from_weights_weigh_one():
    # weights a=1, b=1, c=3: from a or b, c comes with probability 3/4 -> E = 4/3
    rerolls, _ = expected_outcome((A, B, C), {C: 3.0}, A, {C}, {C: 1.0})

    assert rerolls == pytest.approx(4 / 3)


def test_members_without_a_sale_value_are_worth_nothing():
    # b has no value at all, c is 10: one reroll from a, (0 + 10) / 2
    assert expected_outcome((A, B, C), None, A, {B, C}, {C: 10.0, B: None}) == pytest.approx((1.0, 5.0))


@pytest.mark.parametrize(
    ("start", "stop_set", "message"),
    [(A, set(), "stop set is empty"), ("z", {C}, "not members"), (A, {"z"}, "not members")],
)
def test_expected_outcome_rejects_bad_questions(start, stop_set, message):
    with pytest.raises(ValueError, match=message):
        expected_outcome((A, B, C), None, start, stop_set, {C: 1.0})


# --- evaluate_strategy on a hand-computed market -----------------------------------------


def test_small_market_top_k_result_is_as_computed_by_hand():
    # reroll cost = 2 life * 0.5 / 1 = 1.0; input a costs 1.0
    top, _ = evaluate_strategy(small_spec(), small_quotes(), reroll_quote(0.5))

    assert top.policy == "top_k"
    assert top.input_item_id == A
    assert top.input_unit_cost == pytest.approx(1.0)
    assert top.quantity == 10
    assert top.reroll_cost == pytest.approx(1.0)
    assert top.stop_set == (C,)
    assert top.expected_rerolls == pytest.approx(2.0)
    assert top.expected_sale_value == pytest.approx(10.0)
    assert top.expected_profit_per_unit == pytest.approx(7.0)  # 10 - 1 - 2 * 1
    assert top.expected_profit_total == pytest.approx(70.0)
    assert top.roi == pytest.approx(7.0 / 3.0)
    assert top.break_even_reroll_cost == pytest.approx(4.5)  # 10 - 1 - 2c = 0


def test_small_market_optimal_policy_changes_with_the_reroll_cost():
    # From a, the candidate plans are: aim for c (10 - 2c), take b or c (6.5 - c), sell (0.5).
    # At c = 1 aiming for c wins (8 > 5.5); at c = 4, 6.5 - 4 = 2.5 beats 10 - 8 = 2.
    _, cheap = evaluate_strategy(small_spec(), small_quotes(), reroll_quote(0.5))
    _, dear = evaluate_strategy(small_spec(), small_quotes(), reroll_quote(2.0))

    assert cheap.stop_set == (C,)
    assert cheap.expected_profit_per_unit == pytest.approx(7.0)
    assert dear.reroll_cost == pytest.approx(4.0)
    assert dear.stop_set == (B, C)
    assert dear.expected_rerolls == pytest.approx(1.0)
    assert dear.expected_sale_value == pytest.approx(6.5)
    assert dear.expected_profit_per_unit == pytest.approx(1.5)  # 6.5 - 1 - 4


def test_optimal_break_even_follows_the_policy_change():
    # 6.5 - c = 1 at c = 5.5 (past the switch at 3.5, where 10 - 2c = 6.5 - c);
    # top_k stays with 10 - 2c = 1, c = 4.5.
    top, optimal = evaluate_strategy(small_spec(), small_quotes(), reroll_quote(0.5))

    assert top.break_even_reroll_cost == pytest.approx(4.5)
    assert optimal.break_even_reroll_cost == pytest.approx(5.5)


def test_input_already_a_target_is_sold_without_rerolling():
    quotes = small_quotes() | {C: ItemQuote(C, 10.0, offers(0.5))}  # c is now the cheapest

    top, optimal = evaluate_strategy(small_spec(), quotes, reroll_quote(0.5))

    for result in (top, optimal):
        assert result.input_item_id == C
        assert result.expected_rerolls == 0.0
        assert result.expected_profit_per_unit == pytest.approx(9.5)
        # profitable whatever a reroll costs: no break-even
        assert result.break_even_reroll_cost is None


def test_unprofitable_at_any_reroll_cost_has_no_break_even():
    # nothing sells above the input cost of 20
    quotes = {
        m: ItemQuote(m, q.sale_price, offers(20.0 + i))
        for i, (m, q) in enumerate(small_quotes().items())
    }

    top, optimal = evaluate_strategy(small_spec(), quotes, reroll_quote(0.5))

    assert top.expected_profit_per_unit < 0 and optimal.expected_profit_per_unit < 0
    assert top.break_even_reroll_cost is None
    assert optimal.break_even_reroll_cost is None


def test_input_is_the_cheapest_to_buy_in_depth_not_at_the_top_of_the_book():
    # a: 10 units at 0.5 then 3.0 -> 100 units cost (5 + 270) / 100 = 2.75 each; b: 2.0 each.
    thin_cheap = (Offer("x", 0.5, 1, 0.5, 10), Offer("y", 3.0, 1, 3.0, 1000))
    quotes = small_quotes() | {A: ItemQuote(A, 0.5, thin_cheap)}

    top, _ = evaluate_strategy(small_spec(buy_quantity=100), quotes, reroll_quote(0.5))

    assert top.input_item_id == B
    assert top.input_unit_cost == pytest.approx(2.0)


def test_quantity_is_capped_at_buy_quantity_and_limited_by_a_thin_book():
    pack = small_quotes() | {A: ItemQuote(A, 0.5, offers(1.0, stock=120, amount=40))}
    thin = small_quotes() | {A: ItemQuote(A, 0.5, offers(0.1, stock=30))}

    top_pack, _ = evaluate_strategy(small_spec(buy_quantity=100), pack, reroll_quote(0.5))
    top_thin, _ = evaluate_strategy(small_spec(buy_quantity=100), thin, reroll_quote(0.5))

    assert top_pack.quantity == 100  # 3 packs of 40 = 120 bought, 100 used
    assert top_thin.quantity == 30
    assert top_thin.expected_profit_total == pytest.approx(30 * top_thin.expected_profit_per_unit)


def test_reroll_item_is_priced_in_depth_for_one_reroll_of_the_batch():
    # 4 units -> 4 rerolls of 30 life = 120 life: 60 @ 0.1 + 60 @ 0.2 = 18 -> 0.15 each.
    life_book = (Offer("p", 0.1, 1, 0.1, 60), Offer("q", 0.2, 1, 0.2, 10_000))
    quotes = small_quotes()
    life = ItemQuote(LIFE, 99.0, life_book)  # the sale price is not used when there is a book

    one, _ = evaluate_strategy(small_spec(reroll_cost_amount=30.0, buy_quantity=4), quotes, life)
    # 2 units per reroll -> 2 crafts of 30 = 60 life @ 0.1; per unit 30 * 0.1 / 2
    two, _ = evaluate_strategy(
        small_spec(reroll_cost_amount=30.0, buy_quantity=4, units_per_reroll=2), quotes, life
    )

    assert one.reroll_cost == pytest.approx(30 * 0.15)
    assert two.reroll_cost == pytest.approx(1.5)


def test_unsellable_members_rank_last_for_top_k():
    quotes = small_quotes() | {B: ItemQuote(B, None, offers(2.0))}

    top, _ = evaluate_strategy(small_spec(top_k=2), quotes, reroll_quote(0.5))

    # values a=0.5, b=0 (no price), c=10: the top 2 are c and a; a is the input
    assert top.stop_set == (A, C)
    assert top.expected_rerolls == 0.0


def test_no_fillable_offer_makes_the_strategy_unavailable():
    quotes = {m: ItemQuote(m, 5.0, offers(1.0, stock=3, amount=10)) for m in (A, B, C)}

    with pytest.raises(StrategyUnavailable, match="no member of the family can be bought") as info:
        evaluate_strategy(small_spec(), quotes, reroll_quote(0.5))
    assert info.value.strategy == "abc"


def test_unpriced_reroll_item_makes_the_strategy_unavailable():
    with pytest.raises(StrategyUnavailable, match="'life' has no price"):
        evaluate_strategy(small_spec(), small_quotes(), ItemQuote(LIFE, None, ()))


def test_optimal_policy_sells_on_a_tie():
    # reroll cost 1. At b, selling gives 8; aiming for c gives 10 - 2 * 1 = 8 too.
    quotes = small_quotes() | {B: ItemQuote(B, 8.0, offers(2.0))}

    _, optimal = evaluate_strategy(small_spec(), quotes, reroll_quote(0.5))

    assert optimal.stop_set == (B, C)
    # from a: one reroll to b (8) or c (10)
    assert optimal.expected_rerolls == pytest.approx(1.0)
    assert optimal.expected_sale_value == pytest.approx(9.0)


# --- the exact optimum --------------------------------------------------------------------


def random_market(rng: random.Random, size: int) -> tuple[StrategySpec, dict[str, ItemQuote]]:
    family = tuple(f"m{i}" for i in range(size))
    weights = {m: rng.uniform(0.2, 5.0) for m in family} if rng.random() < 0.5 else None
    quotes = {
        m: ItemQuote(
            m,
            None if rng.random() < 0.1 else rng.uniform(0.0, 20.0),
            offers(rng.uniform(0.5, 10.0)),
        )
        for m in family
    }
    spec = StrategySpec(
        name="random", family=family, reroll_cost_item=LIFE, reroll_cost_amount=1.0,
        units_per_reroll=1, buy_quantity=10, top_k=rng.randint(1, size - 1), weights=weights,
    )
    return spec, quotes


def test_optimal_policy_is_the_best_of_all_stop_sets_and_never_worse_than_top_k():
    rng = random.Random(20240101)
    for _ in range(150):
        spec, quotes = random_market(rng, rng.randint(2, 6))
        top, optimal = evaluate_strategy(spec, quotes, reroll_quote(rng.uniform(0.01, 5.0)))
        values = {m: q.sale_price for m, q in quotes.items()}

        # brute force: every non-empty stop set, valued from the input item
        best = max(
            sale - top.input_unit_cost - rerolls * top.reroll_cost
            for size in range(1, len(spec.family) + 1)
            for stop in itertools.combinations(spec.family, size)
            for rerolls, sale in [
                expected_outcome(spec.family, spec.weights, top.input_item_id, stop, values)
            ]
        )
        assert optimal.expected_profit_per_unit == pytest.approx(best, abs=1e-9)
        assert optimal.expected_profit_per_unit >= top.expected_profit_per_unit - 1e-9


def profit_at(spec, quotes, reroll_cost):
    top, optimal = evaluate_strategy(spec, quotes, reroll_quote(reroll_cost / spec.reroll_cost_amount))
    return top.expected_profit_per_unit, optimal.expected_profit_per_unit


def test_break_even_reroll_cost_brings_expected_profit_to_zero():
    rng = random.Random(7)
    checked = {"top_k": 0, "optimal": 0}
    for _ in range(200):
        spec, quotes = random_market(rng, rng.randint(3, 8))
        results = evaluate_strategy(spec, quotes, reroll_quote(1.0))
        for index, result in enumerate(results):
            cost = result.break_even_reroll_cost
            if cost is None:
                continue
            checked[result.policy] += 1
            assert cost > 0
            assert profit_at(spec, quotes, cost)[index] == pytest.approx(0.0, abs=1e-9)
            assert profit_at(spec, quotes, cost * 0.99)[index] > 0
            assert profit_at(spec, quotes, cost * 1.01)[index] <= 1e-9
    # the loop really exercised both searches
    assert checked["top_k"] > 20 and checked["optimal"] > 20


# --- simulation agreement -----------------------------------------------------------------


def deafening_market() -> tuple[StrategySpec, dict[str, ItemQuote], ItemQuote]:
    rng = random.Random(42)
    quotes = {
        m: ItemQuote(m, rng.uniform(1.0, 30.0), offers(rng.uniform(3.0, 6.0)))
        for m in DEAFENING_ESSENCES
    }
    # the cheapest to buy is the least worth: both policies reroll it
    greed = DEAFENING_ESSENCES[0]
    quotes[greed] = ItemQuote(greed, 0.5, offers(2.0))
    # primal lifeforce at 0.05 -> 1.5 per reroll: the optimal stop set is several members
    return StrategySpec(), quotes, reroll_quote(0.05)


def test_default_spec_uses_twenty_essences_and_top_five():
    spec, quotes, life = deafening_market()

    top, _ = evaluate_strategy(spec, quotes, life)

    assert len(top.stop_set) == 5
    assert top.input_item_id not in top.stop_set
    assert top.expected_rerolls == pytest.approx(3.8)
    assert top.reroll_cost == pytest.approx(30 * 0.05)


@pytest.mark.parametrize("policy", ["top_k", "optimal"])
def test_exact_expectations_agree_with_a_simulation(policy):
    spec, quotes, life = deafening_market()
    result = dict(zip(("top_k", "optimal"), evaluate_strategy(spec, quotes, life)))[policy]
    assert 1 < len(result.stop_set) < 19 and result.expected_rerolls > 0  # a non-trivial case

    sim = monte_carlo(spec, quotes, life, result.stop_set, trials=200_000, seed=1)

    # 4 standard errors: a correct formula fails this about once in 16 000 runs, and the
    # seed is fixed; with 200 000 trials the bound is tighter than 1% of the means.
    assert abs(sim.mean_rerolls - result.expected_rerolls) < 4 * sim.se_rerolls
    assert abs(sim.mean_sale_value - result.expected_sale_value) < 4 * sim.se_sale_value
    assert abs(sim.mean_profit_per_unit - result.expected_profit_per_unit) < 4 * sim.se_profit_per_unit
    assert 4 * sim.se_rerolls < 0.01 * result.expected_rerolls


def test_simulation_detects_a_wrong_expectation():
    # guards the agreement test: 3.8 rerolls is 3.8, not 3.8 + 5%
    spec, quotes, life = deafening_market()
    top, _ = evaluate_strategy(spec, quotes, life)

    sim = monte_carlo(spec, quotes, life, top.stop_set, trials=200_000, seed=2)

    assert abs(sim.mean_rerolls - 3.8 * 1.05) > 4 * sim.se_rerolls
    assert abs(sim.mean_rerolls - 3.8) < 4 * sim.se_rerolls


# --- spec validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"name": ""}, "name"),
        ({"family": (A,)}, "family"),
        ({"family": (A, A, B)}, "family"),
        ({"family": "abc"}, "family"),
        ({"reroll_cost_item": ""}, "reroll_cost_item"),
        ({"reroll_cost_amount": 0}, "reroll_cost_amount"),
        ({"reroll_cost_amount": float("inf")}, "reroll_cost_amount"),
        ({"units_per_reroll": 0}, "units_per_reroll"),
        ({"units_per_reroll": 1.5}, "units_per_reroll"),
        ({"buy_quantity": -1}, "buy_quantity"),
        ({"top_k": 0}, "top_k"),
        ({"top_k": 3}, "top_k"),
        ({"weights": {"z": 1.0}}, "weights"),
        ({"weights": {A: 0.0}}, "weights"),
        ({"weights": {A: -2.0}}, "weights"),
    ],
)
def test_invalid_spec_is_rejected_naming_the_field(changes, field):
    with pytest.raises(ValueError, match=rf"StrategySpec\.{field}\b"):
        small_spec(**changes)


def test_spec_defaults_are_the_deafening_reroll():
    spec = StrategySpec()

    assert len(spec.family) == 20 == len(set(spec.family))
    assert "deafening-essence-of-dread" in spec.family
    assert spec.reroll_cost_item == "primal-lifeforce"
    assert (spec.reroll_cost_amount, spec.units_per_reroll) == (30, 1)
    assert (spec.buy_quantity, spec.top_k, spec.weights) == (2000, 5, None)
