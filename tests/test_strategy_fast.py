"""The closed-form strategy math equals the general method on random markets.

`tradewatch.market.strategy` solves the reroll chain in closed form (its transition matrix
is "draw from the weights, never the current member"). The reference here is the general
method it replaced: a linear solve over the transition matrix for the absorbing chain,
policy iteration for optimal stopping, Newton's method for the break-even. Both must agree
on every output of `evaluate_strategy`, within float tolerance, on random families, weights,
prices (ties included) and reroll costs.
"""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from tradewatch.market import strategy
from tradewatch.market.pricing import Offer, depth_cost, ladder, ladder_depth_cost, offers_from_ladder
from tradewatch.market.strategy import ItemQuote, StrategySpec, StrategyUnavailable, evaluate_strategy
from tradewatch.market.strategy_window import NO_SNAPSHOTS, books_by_hour, evaluate_window


# --- the reference: the general method -----------------------------------------------------


def ref_matrix(w: np.ndarray) -> np.ndarray:
    p = np.tile(w, (len(w), 1))
    np.fill_diagonal(p, 0.0)
    return p / p.sum(axis=1, keepdims=True)


def ref_absorbing(p, values, stop):
    go = ~stop
    rerolls = np.zeros(len(values))
    sale = values.astype(float).copy()
    if go.any():
        system = np.eye(int(go.sum())) - p[np.ix_(go, go)]
        rhs = np.column_stack([np.ones(int(go.sum())), p[np.ix_(go, stop)] @ values[stop]])
        solution = np.linalg.solve(system, rhs)
        rerolls[go], sale[go] = solution[:, 0], solution[:, 1]
    return rerolls, sale


def ref_optimal_stop(p, values, cost):
    tolerance = 1e-12 * (float(np.abs(values).max()) + cost)
    stop = np.ones(len(values), dtype=bool)
    for _ in range(10_000):
        rerolls, sale = ref_absorbing(p, values, stop)
        value = sale - cost * rerolls
        reroll_value = -cost + p @ value
        switch = np.where(stop, reroll_value > values + tolerance, values > reroll_value + tolerance)
        if not switch.any():
            return values >= reroll_value - tolerance
        stop = stop ^ switch
    raise AssertionError("policy iteration did not converge")


def ref_break_even(p, values, start, input_cost):
    if values[start] > input_cost or values.max() <= input_cost:
        return None
    stop = np.zeros(len(values), dtype=bool)
    stop[int(np.argmax(values))] = True
    rerolls, sale = ref_absorbing(p, values, stop)
    cost = (sale[start] - input_cost) / rerolls[start]
    for _ in range(10_000):
        rerolls, sale = ref_absorbing(p, values, ref_optimal_stop(p, values, cost))
        if rerolls[start] == 0:
            return cost
        next_cost = (sale[start] - input_cost) / rerolls[start]
        if next_cost <= cost * (1 + 1e-13):
            return max(cost, next_cost)
        cost = next_cost
    raise AssertionError("break-even search did not converge")


# --- random markets -----------------------------------------------------------------------


def random_case(rng: random.Random):
    n = rng.randint(2, 20)
    family = tuple(f"m{i}" for i in range(n))
    weights = None if rng.random() < 0.4 else {
        m: rng.choice([0.5, 1.0, 2.0, rng.uniform(0.01, 10.0)]) for m in family if rng.random() < 0.7}
    palette = [rng.uniform(0.0, 20.0) for _ in range(3)]  # repeated prices make ties
    values = np.array([rng.choice(palette) if rng.random() < 0.3 else
                       (0.0 if rng.random() < 0.1 else rng.uniform(0.0, 20.0)) for _ in family])
    return family, weights, values


def test_absorbing_chain_equals_the_linear_solve():
    rng = random.Random(1)
    for _ in range(300):
        family, weights, values = random_case(rng)
        w = strategy._weights(family, weights)
        stop = np.array([rng.random() < 0.4 for _ in family])
        stop[rng.randrange(len(family))] = True
        rerolls, sale = strategy._absorbing(w, values, stop)
        ref_rerolls, ref_sale = ref_absorbing(ref_matrix(w), values, stop)
        np.testing.assert_allclose(rerolls, ref_rerolls, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(sale, ref_sale, rtol=1e-9, atol=1e-12)
        start = rng.randrange(len(family))
        one = strategy._from_start(w, values[None], stop[None], np.array([start]))
        assert (one[0][0], one[1][0]) == pytest.approx((rerolls[start], sale[start]), rel=1e-12, abs=1e-15)


def test_optimal_stop_set_and_break_even_equal_policy_iteration():
    rng = random.Random(2)
    break_evens = 0
    for _ in range(400):
        family, weights, values = random_case(rng)
        w = strategy._weights(family, weights)
        p = ref_matrix(w)
        cost = rng.choice([rng.uniform(0.001, 0.1), rng.uniform(0.1, 5.0), rng.uniform(5.0, 50.0)])
        got_stop = strategy._optimal_stop(w, values[None], np.array([cost]))[0]
        assert list(got_stop) == list(ref_optimal_stop(p, values, cost))
        start = rng.randrange(len(family))
        input_cost = rng.uniform(0.0, float(values.max()) + 1.0)
        expected = ref_break_even(p, values, start, input_cost)
        got = strategy._optimal_break_even(w, values[None], np.array([start]), np.array([input_cost]))[0]
        if expected is None:
            assert np.isnan(got)
        else:
            break_evens += 1
            assert got == pytest.approx(expected, rel=1e-9)
    assert break_evens > 100  # the loop really compared the searches


def test_evaluate_strategy_equals_the_general_method_on_random_markets():
    rng = random.Random(3)
    compared = 0
    for _ in range(200):
        family, weights, values = random_case(rng)
        quotes = {m: ItemQuote(m, float(v) if rng.random() > 0.05 else None,
                               (Offer("l", rng.uniform(0.5, 15.0), 1, 1.0, 10_000),) if rng.random() > 0.1 else ())
                  for m, v in zip(family, values)}
        for m, q in quotes.items():  # pay_amount = unit_price for one-unit offers
            if q.offers:
                o = q.offers[0]
                quotes[m] = ItemQuote(m, q.sale_price, (Offer("l", o.unit_price, 1, o.unit_price, 10_000),))
        spec = StrategySpec(name="r", family=family, reroll_cost_item="life",
                            reroll_cost_amount=rng.uniform(0.1, 5.0), buy_quantity=10,
                            top_k=rng.randint(1, len(family) - 1), weights=weights)
        try:
            top, optimal = evaluate_strategy(spec, quotes, ItemQuote("life", rng.uniform(0.01, 3.0)))
        except StrategyUnavailable:
            continue
        compared += 1
        w = strategy._weights(family, spec.weights)
        p = ref_matrix(w)
        vals = np.array([quotes[m].sale_price or 0.0 for m in family])
        start = family.index(top.input_item_id)
        for result, stop in ((top, np.array([m in top.stop_set for m in family])),
                             (optimal, ref_optimal_stop(p, vals, optimal.reroll_cost))):
            assert result.stop_set == tuple(m for m, s in zip(family, stop) if s)
            rerolls, sale = ref_absorbing(p, vals, stop)
            assert result.expected_rerolls == pytest.approx(rerolls[start], rel=1e-9, abs=1e-12)
            assert result.expected_sale_value == pytest.approx(sale[start], rel=1e-9, abs=1e-12)
        # top-k's own set: the k best prices, ties to the member listed first
        order = sorted(range(len(family)), key=lambda i: (-vals[i], i))[: spec.top_k]
        assert set(top.stop_set) == {family[i] for i in order}
        expected_break_even = ref_break_even(p, vals, start, top.input_unit_cost)
        if expected_break_even is None:
            assert optimal.break_even_reroll_cost is None
        else:
            assert optimal.break_even_reroll_cost == pytest.approx(expected_break_even, rel=1e-9)
    assert compared > 150


def test_ladder_depth_cost_equals_depth_cost_of_the_offers():
    rng = random.Random(4)
    for _ in range(300):
        offers = [Offer(f"l{i}", rng.uniform(0.1, 5.0), amount, 1.0,
                        rng.randint(0, 500)) for i, amount in enumerate(rng.choices([1, 3, 10, 40], k=12))]
        offers = [Offer(o.listing_id, o.unit_price, o.item_amount, o.unit_price * o.item_amount, o.stock)
                  for o in offers]
        quantity = rng.randint(1, 3000)
        assert ladder_depth_cost(ladder(offers), quantity) == pytest.approx(depth_cost(offers, quantity))
    with pytest.raises(ValueError, match="ladder row"):
        ladder_depth_cost([[1.0, 0, 5]], 3)


def test_the_window_reads_only_the_rows_it_needs_from_the_stored_text():
    # the same hour as JSON text (prefix parsed) and as parsed rows (whole book) gives one answer
    rng = random.Random(5)
    spec = StrategySpec(name="w", family=("a", "b", "c"), reroll_cost_item="life", buy_quantity=500, top_k=1)
    for _ in range(50):
        def book():
            return [[round(0.5 + 0.1 * k + rng.random() * 0.01, 6), rng.choice([1, 5, 40]), rng.randint(0, 400)]
                    for k in range(rng.randint(0, 60))]
        hour = {m: (rng.uniform(0.5, 9.0), book()) for m in ("a", "b", "c", "life")}
        separators = rng.choice([(",", ":"), (", ", ": ")])  # compact, and as PostgreSQL writes jsonb
        texts = {m: (price, json.dumps(rows, separators=separators)) for m, (price, rows) in hour.items()}
        parsed = list(evaluate_window([spec], {"h": hour}))
        from_text = list(evaluate_window([spec], {"h": texts}))
        assert parsed == from_text
    assert books_by_hour([("h", "a", 1.0, "[]")]) == {"h": {"a": (1.0, "[]")}}


# --- the window: many hours solved together equal each hour priced by the general method -----


def reference_hour(spec: StrategySpec, hour_books: dict) -> dict | str:
    """One hour priced the way the code did before the window was vectorised: offers rebuilt
    from the ladder (`depth_cost`), the chain solved by the general method. The results as a
    dict per policy, or the reason the hour cannot be priced."""
    offers = {item: offers_from_ladder(rows) for item, (_, rows) in hour_books.items()}
    best = None
    for index, member in enumerate(spec.family):
        if member in offers:
            cost = depth_cost(offers[member], spec.buy_quantity)
            if cost.avg_price is not None and (best is None or cost.avg_price < best[0]):
                best = (cost.avg_price, min(cost.bought, spec.buy_quantity), index)
    if best is None:
        return "no member of the family can be bought (no fillable offer)"
    input_cost, quantity, start = best
    needed = math.ceil(spec.reroll_cost_amount * math.ceil(quantity / spec.units_per_reroll))
    life = depth_cost(offers.get(spec.reroll_cost_item, []), max(needed, 1))
    price = life.avg_price if life.avg_price is not None else hour_books.get(spec.reroll_cost_item, (None,))[0]
    if not price:
        return f"the reroll item {spec.reroll_cost_item!r} has no price (no offers, no sale price)"
    reroll_cost = spec.reroll_cost_amount * price / spec.units_per_reroll
    values = np.array([float(hour_books[m][0] or 0.0) if m in hour_books else 0.0 for m in spec.family])
    p = ref_matrix(strategy._weights(spec.family, spec.weights))
    top = np.zeros(len(values), dtype=bool)
    top[sorted(range(len(values)), key=lambda i: (-values[i], i))[: spec.top_k]] = True
    out = {}
    for policy, stop in (("top_k", top), ("optimal", ref_optimal_stop(p, values, reroll_cost))):
        rerolls, sale = (x[start] for x in ref_absorbing(p, values, stop))
        if policy == "top_k":
            break_even = None if rerolls == 0 or sale <= input_cost else (sale - input_cost) / rerolls
        else:
            break_even = ref_break_even(p, values, start, input_cost)
        outlay = input_cost + rerolls * reroll_cost
        out[policy] = dict(input_item_id=spec.family[start], input_unit_cost=input_cost, quantity=quantity,
                           reroll_cost=reroll_cost, expected_rerolls=rerolls, expected_sale_value=sale,
                           expected_profit_per_unit=sale - outlay, expected_profit_total=(sale - outlay) * quantity,
                           roi=(sale - outlay) / outlay, break_even_reroll_cost=break_even,
                           stop_set=tuple(m for m, s in zip(spec.family, stop) if s))
    return out


def random_hour(rng: random.Random, family: tuple[str, ...], palette: list[float]) -> dict:
    books = {}
    for item in (*family, "life"):
        if rng.random() < 0.08:
            continue  # no snapshot of this item this hour
        level = rng.uniform(0.2, 9.0) if item != "life" else rng.uniform(0.01, 1.0)
        rows = [[round(level * (1 + 0.02 * k), 6), rng.choice([1, 5, 40]), rng.randint(0, 300)]
                for k in range(0 if rng.random() < 0.05 else rng.randint(1, 30))]
        price = None if rng.random() < 0.05 else (rng.choice(palette) if rng.random() < 0.3 else round(level, 6))
        books[item] = (price, rows)
    return books


def test_a_window_of_hours_solved_together_equals_each_hour_by_the_general_method(monkeypatch):
    rng = random.Random(6)
    compared = unavailable = repeated = 0
    for case in range(40):
        monkeypatch.setattr("tradewatch.market.strategy_window._CHUNK_HOURS", rng.choice([1, 7, 168]))
        family = tuple(f"m{i}" for i in range(rng.randint(2, 9)))
        specs = [StrategySpec(name=f"s{k}", family=family, reroll_cost_item="life",
                              reroll_cost_amount=rng.uniform(0.1, 8.0), units_per_reroll=rng.choice([1, 3]),
                              buy_quantity=rng.choice([1, 10, 120, 2000]), top_k=rng.randint(1, len(family) - 1),
                              weights=None if rng.random() < 0.4 else {
                                  m: rng.uniform(0.05, 6.0) for m in family if rng.random() < 0.7})
                 for k in range(rng.randint(1, 3))]
        palette = [round(rng.uniform(0.2, 9.0), 6) for _ in range(3)]  # shared prices make ties
        hours, drawn = list(range(rng.randint(1, 40))), {}
        for hour in hours:
            if rng.random() < 0.1:
                continue  # no snapshot at all this hour
            if drawn and rng.random() < 0.3:  # the same market as an earlier hour: one solve for both
                drawn[hour] = drawn[rng.choice(list(drawn))]
                repeated += 1
            else:
                drawn[hour] = random_hour(rng, family, palette)
        as_text = rng.random() < 0.5
        books = {h: {i: (p, json.dumps(rows)) for i, (p, rows) in b.items()} if as_text else b
                 for h, b in drawn.items()}
        evaluations = list(evaluate_window(specs, books, hours))
        assert [(e.hour, e.strategy) for e in evaluations] == [(h, s.name) for h in hours for s in specs]
        for e in evaluations:
            spec = next(s for s in specs if s.name == e.strategy)
            if e.hour not in drawn:
                assert e.results is None and e.unavailable_reason == NO_SNAPSHOTS
                continue
            expected = reference_hour(spec, drawn[e.hour])
            if isinstance(expected, str):
                assert e.results is None and e.unavailable_reason == expected
                unavailable += 1
                continue
            compared += 1
            for result in e.results:
                want = expected[result.policy]
                for name, value in want.items():
                    got = getattr(result, name)
                    if isinstance(value, float):
                        assert got == pytest.approx(value, rel=1e-9, abs=1e-12), (case, e.hour, result.policy, name)
                    else:
                        assert got == value, (case, e.hour, result.policy, name)
    assert compared > 500 and unavailable > 10 and repeated > 50  # the loop really covered each case
