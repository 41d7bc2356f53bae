"""Profitability of rerolling a family of items (Harvest essence rerolls).

Setting: a family of items (by default the 20 Deafening essences). One reroll turns an
item into a DIFFERENT member of the family, member j coming up with probability
w_j / sum of w_k over k != current (uniform by default). A reroll costs
`reroll_cost_amount` units of `reroll_cost_item` per `units_per_reroll` items. You buy
`buy_quantity` of the cheapest member, reroll, and sell.

Two selling policies are priced:

* ``top_k`` — reroll until the item is one of the K members with the highest sale
  price (the rule of thumb; 20 types, top 5, uniform odds: 19/5 = 3.8 rerolls);
* ``optimal`` — the exact optimum of the Markov decision process "sell now or pay one
  reroll", solved exactly in closed form (the chain has a rank-one structure).

Pure math over plain data: no I/O, no database. `expected_outcome` is the building
block for what-if questions; `evaluate_strategy_hours` prices many hours' markets in one
pass (numpy over the hours and the family); `monte_carlo` exists to check the exact math.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import numpy as np

from tradewatch.errors import TradeWatchError
from tradewatch.market.pricing import DepthCost, Offer, depth_cost, ladder_depth_cost

__all__ = [
    "DEAFENING_ESSENCES",
    "ItemQuote",
    "MonteCarloEstimate",
    "StrategyResult",
    "StrategySpec",
    "StrategyUnavailable",
    "evaluate_strategy",
    "evaluate_strategy_hours",
    "expected_outcome",
    "monte_carlo",
    "reroll_item_price",
]

# The family the default strategy rerolls within (the trade site's ids of the 20 Deafening essences).
DEAFENING_TYPES = (
    "greed", "contempt", "hatred", "woe", "fear", "anger", "torment", "sorrow", "rage", "suffering",
    "wrath", "doubt", "loathing", "zeal", "anguish", "spite", "scorn", "envy", "misery", "dread",
)
DEAFENING_ESSENCES = tuple(f"deafening-essence-of-{t}" for t in DEAFENING_TYPES)

Policy = Literal["top_k", "optimal"]

_MAX_ITERATIONS = 10_000


class StrategyUnavailable(TradeWatchError):
    """The market of this hour cannot price the strategy; `reason` says why."""

    def __init__(self, strategy: str, reason: str) -> None:
        super().__init__(f"strategy {strategy!r} cannot be evaluated: {reason}")
        self.strategy = strategy
        self.reason = reason


# --- boundary types ---------------------------------------------------------------------


@dataclass(frozen=True)
class StrategySpec:
    """A reroll strategy. Invalid values raise `ValueError` naming the field.

    `weights`: relative outcome weights of a reroll; members left out weigh 1 (the
    uniform default), so ``{"deafening-essence-of-greed": 2.0}`` means greed comes up
    twice as often as any other member. None = uniform.
    """

    name: str = "deafening-top5"
    family: tuple[str, ...] = DEAFENING_ESSENCES
    reroll_cost_item: str = "primal-lifeforce"
    reroll_cost_amount: float = 30.0
    units_per_reroll: int = 1
    buy_quantity: int = 2000
    top_k: int = 5
    weights: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("StrategySpec.name must be a non-empty string")
        object.__setattr__(self, "family", _checked_family(self.family, "StrategySpec.family"))
        if not isinstance(self.reroll_cost_item, str) or not self.reroll_cost_item:
            raise ValueError("StrategySpec.reroll_cost_item must be a non-empty item id")
        if not _is_positive_number(self.reroll_cost_amount):
            raise ValueError(
                f"StrategySpec.reroll_cost_amount must be positive, got {self.reroll_cost_amount!r}"
            )
        _require_positive_int(self.units_per_reroll, "StrategySpec.units_per_reroll")
        _require_positive_int(self.buy_quantity, "StrategySpec.buy_quantity")
        _require_positive_int(self.top_k, "StrategySpec.top_k")
        if self.top_k >= len(self.family):
            raise ValueError(
                f"StrategySpec.top_k must be below the family size {len(self.family)} "
                f"(with every member a target there is nothing to reroll), got {self.top_k}"
            )
        object.__setattr__(
            self, "weights", _checked_weights(self.family, self.weights, "StrategySpec.weights")
        )


@dataclass(frozen=True)
class ItemQuote:
    """What the market says about one item this hour.

    `sale_price`: what one unit sells for (callers pass the robust min price), None when
    unknown. `offers`: the book to buy from; or `ladder`, the same book as stored
    `pricing.ladder` rows (cheapest first), which is used instead when given.
    """

    item_id: str
    sale_price: float | None
    offers: tuple[Offer, ...] = ()
    ladder: Sequence[Sequence[float | int]] | None = None

    def __post_init__(self) -> None:
        price = self.sale_price
        # `type(...) is float` first: the exact check of `_is_number` is slow and runs ~20 times an hour
        if price is not None and not ((type(price) is float or _is_number(price)) and math.isfinite(price)
                                      and price >= 0):
            raise ValueError(f"ItemQuote.sale_price must be None or >= 0, got {self.sale_price!r}")
        if type(self.offers) is not tuple:
            object.__setattr__(self, "offers", tuple(self.offers))


@dataclass(frozen=True)
class StrategyResult:
    """The expected economics of one strategy under one selling policy, per unit bought.

    Money is in the paid currency. `reroll_cost` is the cost of one reroll of one unit;
    `break_even_reroll_cost` the reroll cost at which the expected profit per unit
    reaches 0 (None when the policy is profitable at every reroll cost or at none).
    `stop_set` lists, in family order, the members at which the policy sells.
    """

    strategy: str
    policy: Policy
    input_item_id: str
    input_unit_cost: float
    quantity: int
    reroll_cost: float
    expected_rerolls: float
    expected_sale_value: float
    expected_profit_per_unit: float
    expected_profit_total: float
    roi: float
    break_even_reroll_cost: float | None
    stop_set: tuple[str, ...]


@dataclass(frozen=True)
class MonteCarloEstimate:
    """Sample means of a simulated strategy and their standard errors."""

    trials: int
    mean_rerolls: float
    mean_sale_value: float
    mean_profit_per_unit: float
    se_rerolls: float
    se_sale_value: float
    se_profit_per_unit: float


# --- validation helpers -------------------------------------------------------------------


def _is_number(value: object) -> bool:
    # numbers.Real admits numpy scalars too; True is never an amount.
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_positive_number(value: object) -> bool:
    return _is_number(value) and math.isfinite(value) and value > 0  # type: ignore[arg-type]


def _require_positive_int(value: object, name: str) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _checked_family(family: Iterable[str], name: str) -> tuple[str, ...]:
    if isinstance(family, str):
        raise ValueError(f"{name} must be a sequence of item ids, not one string")
    members = tuple(family)
    if any(not isinstance(m, str) or not m for m in members):
        raise ValueError(f"{name} must hold non-empty item ids, got {members!r}")
    if len(set(members)) != len(members):
        duplicates = sorted({m for m in members if members.count(m) > 1})
        raise ValueError(f"{name} lists members more than once: {duplicates}")
    if len(members) < 2:
        raise ValueError(f"{name} needs at least 2 distinct members to reroll between, got {members!r}")
    return members


def _checked_weights(
    family: Sequence[str], weights: Mapping[str, float] | None, name: str
) -> Mapping[str, float] | None:
    if weights is None:
        return None
    unknown = sorted(set(weights) - set(family))
    if unknown:
        raise ValueError(f"{name} names items outside the family: {unknown}")
    bad = {k: w for k, w in weights.items() if not _is_positive_number(w)}
    if bad:
        raise ValueError(f"{name} must be positive numbers, got {bad}")
    return MappingProxyType({k: float(w) for k, w in weights.items()})


# --- the Markov chain ---------------------------------------------------------------------
#
# A reroll lands on member j with probability w_j / (S - w_i) from member i (S = sum of all
# weights): the chain is "draw from the weights, never the current member". That structure
# makes every quantity below closed-form and O(n) — no linear solve — which is what lets an
# hour be evaluated in microseconds. tests/test_strategy_fast.py checks each formula against
# the general method (a linear solve over the transition matrix) on random markets.


def _weights(family: Sequence[str], weights: Mapping[str, float] | None) -> np.ndarray:
    return np.array([1.0 if weights is None else weights.get(m, 1.0) for m in family])


def _transition_matrix(w: np.ndarray) -> np.ndarray:
    """P[i, j] = w_j / sum_{k != i} w_k for j != i, and P[i, i] = 0 (for the simulation)."""
    p = np.tile(w, (len(w), 1))
    np.fill_diagonal(p, 0.0)
    return p / p.sum(axis=1, keepdims=True)


def _absorbing(w: np.ndarray, values: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected rerolls E and sale value W from every state when selling on `stop` (A).

    With T the other states, W_A = sum of w over A and X = sum over T of w_j (S - w_j) / W_A:
    from i in T, E_i = (S - w_i + X) / S and W_i = (sum over A of w_j v_j) / W_A (the first
    member of A reached is drawn from the weights restricted to A); on A, E = 0 and W = v.
    Every weight is positive, so a non-empty A is reached with probability 1.
    """
    if not stop.any():
        raise ValueError("the stop set is empty: the rerolling would never end")
    total = w.sum()
    w_stop = w[stop].sum()
    go = ~stop
    x = (w[go] * (total - w[go])).sum() / w_stop
    rerolls = np.where(stop, 0.0, (total - w + x) / total)
    sale = np.where(stop, values, (w[stop] * values[stop]).sum() / w_stop)
    return rerolls, sale


# The policies below are solved for many markets at once (one row of `values` per market,
# e.g. per hour of a window; `cost`, `start`, `input_cost` one entry per row): a 20-member
# family is too small for numpy to pay off one market at a time, where its per-call overhead
# is most of the work; over a window's hours it is one call per step for all of them.


def _optimal_stop(w: np.ndarray, values: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The states where selling is optimal, per row (exact, no iteration).

    V_i = max(v_i, -cost + sum_j P_ij V_j). With Z = sum_j w_j V_j, rerolling from i is worth
    (Z - cost (S - w_i)) / S, so selling is optimal exactly where S v_i - cost w_i is at
    least Z - cost S: the optimal stop set is a top set in the order of S v_i - cost w_i.
    Each top-m set A gives Z_A = (S V_A - cost Q_T) / W_A (V_A = sum of w v over A, Q_T =
    sum of w (S - w) over the rest), the optimum's Z is the largest (its values dominate
    every policy's), and the stop set is read from the optimal values. Ties go to selling
    (same value, fewer rerolls), within a relative tolerance of 1e-12.
    """
    if not np.all(cost > 0):
        raise ValueError(f"the reroll cost must be positive, got {cost[~(cost > 0)][0]}")
    total = w.sum()
    c = cost[:, None]
    order = np.argsort(c * w - total * values, axis=1, kind="stable")
    ws, vs = w[order], np.take_along_axis(values, order, axis=1)
    q = ws * (total - ws)
    z = (total * np.cumsum(ws * vs, axis=1) - c * (q.sum(axis=1, keepdims=True) - np.cumsum(q, axis=1))) \
        / np.cumsum(ws, axis=1)
    best = z.max(axis=1, keepdims=True)
    reroll_value = (best - c * (total - w)) / total
    value = np.maximum(values, reroll_value)
    continue_value = -c + (best - w * value) / (total - w)
    tolerance = 1e-12 * (np.abs(values).max(axis=1) + cost)
    return values >= continue_value - tolerance[:, None]


def _top_k_stop(values: np.ndarray, k: int) -> np.ndarray:
    # Ties in price go to the member listed first, so the set is deterministic.
    stop = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(stop, np.argsort(-values, axis=1, kind="stable")[:, :k], True, axis=1)
    return stop


def _top_k_break_even(rerolls: np.ndarray, sale: np.ndarray, input_cost: np.ndarray) -> np.ndarray:
    # Profit is linear in the reroll cost: sale - input_cost - rerolls * cost. NaN = none.
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((rerolls == 0) | (sale <= input_cost), np.nan, (sale - input_cost) / rerolls)


def _from_start(w: np.ndarray, values: np.ndarray, stop: np.ndarray,
                start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(E, W) of `_absorbing` at each row's `start` alone, per row."""
    rows = np.arange(len(start))
    total = w.sum()
    w_stop = np.where(stop, w, 0.0)
    held = w_stop.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rerolls = (total - w[start] + np.where(stop, 0.0, w * (total - w)).sum(axis=1) / held) / total
        sale = (w_stop * values).sum(axis=1) / held
    sells = stop[rows, start]
    return np.where(sells, 0.0, rerolls), np.where(sells, values[rows, start], sale)


def _optimal_break_even(w: np.ndarray, values: np.ndarray, start: np.ndarray,
                        input_cost: np.ndarray) -> np.ndarray:
    """The reroll cost above which the optimal policy stops being profitable, per row (NaN: none).

    V_start(c) = max over stop sets A of the line W_A - E_A c (A not holding the start) is
    convex, piecewise linear and non-increasing in c, so the break-even is the largest root
    of those lines. The line that reaches it is the optimal policy there, a top set in the
    order of S v_i - c w_i (see `_optimal_stop`), so only the n top sets of that order are
    candidates, all rooted at once. With uniform weights the order does not depend on c and
    one pass is exact; otherwise each pass takes the order at the best root so far, which
    climbs (never past the break-even) to the fixed point, like Newton's method but faster;
    a row leaves the search when it has converged.
    """
    result = np.full(len(start), np.nan)
    rows = np.arange(len(start))
    best = values.argmax(axis=1)
    # selling the input right away already pays, whatever a reroll costs; or nothing in the
    # family sells for more than the input cost: no break-even
    live = np.flatnonzero((values[rows, start] <= input_cost) & (values[rows, best] > input_cost))
    if not live.size:
        return result
    values, start, input_cost = values[live], start[live], input_cost[live]
    total = w.sum()
    # the line of "reroll until the most valuable member" lies below V: a valid start
    stop = np.zeros(values.shape, dtype=bool)
    stop[np.arange(len(live)), best[live]] = True
    rerolls, sale = _from_start(w, values, stop, start)
    cost = (sale - input_cost) / rerolls
    uniform = bool(np.all(w == w[0]))
    q = w * (total - w)
    q_total = q.sum()
    position = np.arange(len(w))
    for _ in range(_MAX_ITERATIONS):
        order = np.argsort(cost[:, None] * w - total * values, axis=1, kind="stable")
        candidates = np.argmax(order == start[:, None], axis=1)  # top sets without the start
        wo = w[order]
        w_stop = np.cumsum(wo, axis=1)
        mean = np.cumsum(wo * np.take_along_axis(values, order, axis=1), axis=1) / w_stop
        rerolls_start = (total - w[start][:, None] + (q_total - np.cumsum(q[order], axis=1)) / w_stop) / total
        roots = np.where(position < candidates[:, None], (mean - input_cost[:, None]) / rerolls_start, -np.inf)
        next_cost = np.where(candidates > 0, roots.max(axis=1), cost)
        done = np.ones(len(live), dtype=bool) if uniform else next_cost <= cost * (1 + 1e-13)
        result[live[done]] = np.maximum(cost[done], next_cost[done])
        if done.all():
            return result
        more = ~done
        live, values, start, input_cost, cost = live[more], values[more], start[more], input_cost[more], next_cost[more]
    raise RuntimeError("break-even search did not converge")  # pragma: no cover


# --- public building block ----------------------------------------------------------------


def expected_outcome(
    family: Sequence[str],
    weights: Mapping[str, float] | None,
    start: str,
    stop_set: Iterable[str],
    sale_values: Mapping[str, float | None],
) -> tuple[float, float]:
    """(expected rerolls, expected sale value) per unit from `start`, selling on `stop_set`.

    Starting in the stop set sells at once: (0, value of start). Members missing from
    `sale_values` or valued None are unsellable (value 0). `weights` as in `StrategySpec`.
    Raises `ValueError` on an unknown member or an empty stop set.
    """
    members = _checked_family(family, "family")
    checked = _checked_weights(members, weights, "weights")
    stops = set(stop_set)
    unknown = sorted((stops | {start}) - set(members))
    if unknown:
        raise ValueError(f"not members of the family: {unknown}")
    values = _values(members, sale_values)
    stop = np.array([m in stops for m in members])
    rerolls, sale = _absorbing(_weights(members, checked), values, stop)
    i = members.index(start)
    return float(rerolls[i]), float(sale[i])


def _values(family: Sequence[str], sale_values: Mapping[str, float | None]) -> np.ndarray:
    return np.array([float(sale_values.get(m) or 0.0) for m in family])


# --- evaluating a strategy on one hour's market -------------------------------------------


@dataclass(frozen=True)
class _Market:
    """A strategy's inputs resolved against one hour's quotes."""

    values: tuple[float, ...]  # sale values in family order (unsellable: 0)
    start: int
    input_cost: float
    quantity: int
    reroll_cost: float


def _depth(quote: ItemQuote, quantity: int) -> DepthCost:
    return depth_cost(quote.offers, quantity) if quote.ladder is None else ladder_depth_cost(quote.ladder, quantity)


def reroll_item_price(spec: StrategySpec, quote: ItemQuote, quantity: int) -> float | None:
    """Unit price of the reroll item, in the paid currency.

    The depth-aware average price of enough reroll items to reroll the whole batch once
    (`reroll_cost_amount` × ceil(quantity / units_per_reroll)). The real need is that
    times the expected number of rerolls, but that depends on the policy being priced,
    which depends on this price, so the fixed point is not chased. On a thin book the
    average of what it holds is used (optimistic); with no fillable offer, the quote's
    sale price. None when neither exists or the price is 0.
    """
    needed = math.ceil(spec.reroll_cost_amount * math.ceil(quantity / spec.units_per_reroll))
    cost = _depth(quote, max(needed, 1))
    price = cost.avg_price if cost.avg_price is not None else quote.sale_price
    return price if price else None


def _resolve_market(
    spec: StrategySpec, quotes: Mapping[str, ItemQuote], reroll_item_quote: ItemQuote
) -> _Market:
    # Input: the member cheapest to buy `buy_quantity` of, depth-aware; first listed wins ties.
    best: tuple[float, int, int] | None = None
    for index, member in enumerate(spec.family):
        quote = quotes.get(member)
        if quote is None:
            continue
        cost = _depth(quote, spec.buy_quantity)
        if cost.avg_price is not None and (best is None or cost.avg_price < best[0]):
            best = (cost.avg_price, min(cost.bought, spec.buy_quantity), index)
    if best is None:
        raise StrategyUnavailable(spec.name, "no member of the family can be bought (no fillable offer)")
    input_cost, quantity, start = best
    price = reroll_item_price(spec, reroll_item_quote, quantity)
    if price is None:
        raise StrategyUnavailable(
            spec.name,
            f"the reroll item {spec.reroll_cost_item!r} has no price (no offers, no sale price)",
        )
    values = tuple(float(q.sale_price or 0.0) if (q := quotes.get(m)) is not None else 0.0 for m in spec.family)
    return _Market(
        values=values,
        start=start,
        input_cost=input_cost,
        quantity=quantity,
        reroll_cost=spec.reroll_cost_amount * price / spec.units_per_reroll,
    )


def _unique_markets(markets: Sequence[_Market]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                          np.ndarray]:
    """The distinct (sale values, reroll cost, start, input cost) among `markets` as arrays,
    and for each market the row of its own: hours with the same prices share one solve."""
    table = np.array([(*m.values, m.reroll_cost, m.start, m.input_cost) for m in markets], dtype=float)
    if len(markets) > 1:
        table, inverse = np.unique(table, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
    else:
        inverse = np.zeros(1, dtype=np.intp)
    n = table.shape[1] - 3
    return table[:, :n], table[:, n], table[:, n + 1].astype(np.intp), table[:, n + 2], inverse


def _solve(spec: StrategySpec, w: np.ndarray,
           markets: Sequence[_Market]) -> list[tuple[StrategyResult, StrategyResult]]:
    """Both policies' results for each of `markets` (resolved markets of one strategy)."""
    values, cost, start, input_cost, inverse = _unique_markets(markets)
    top = _top_k_stop(values, spec.top_k)
    top_rerolls, top_sale = _from_start(w, values, top, start)
    optimal = _optimal_stop(w, values, cost)
    opt_rerolls, opt_sale = _from_start(w, values, optimal, start)
    per_policy = (
        ("top_k", top, top_rerolls, top_sale, _top_k_break_even(top_rerolls, top_sale, input_cost)),
        ("optimal", optimal, opt_rerolls, opt_sale, _optimal_break_even(w, values, start, input_cost)),
    )
    family = spec.family
    solved: list[list[tuple]] = []
    for policy, stop, rerolls, sale, break_even in per_policy:
        outlay = input_cost + rerolls * cost
        profit = sale - outlay
        stop_sets = [tuple(m for m, s in zip(family, row) if s) for row in stop.tolist()]
        solved.append(list(zip(rerolls.tolist(), sale.tolist(), profit.tolist(), (profit / outlay).tolist(),
                               [None if math.isnan(b) else b for b in break_even.tolist()], stop_sets)))
    out = []
    for market, row in zip(markets, inverse.tolist()):
        out.append(tuple(_result(spec, market, policy, *solved[p][row])
                         for p, policy in enumerate(("top_k", "optimal"))))
    return out  # type: ignore[return-value]


def _result(spec: StrategySpec, market: _Market, policy: Policy, rerolls: float, sale: float, profit: float,
            roi: float, break_even: float | None, stop_set: tuple[str, ...]) -> StrategyResult:
    return StrategyResult(
        strategy=spec.name,
        policy=policy,
        input_item_id=spec.family[market.start],
        input_unit_cost=market.input_cost,
        quantity=market.quantity,
        reroll_cost=market.reroll_cost,
        expected_rerolls=rerolls,
        expected_sale_value=sale,
        expected_profit_per_unit=profit,
        expected_profit_total=profit * market.quantity,
        roi=roi,
        break_even_reroll_cost=break_even,
        stop_set=stop_set,
    )


def evaluate_strategy_hours(
    spec: StrategySpec, hours: Sequence[tuple[Mapping[str, ItemQuote], ItemQuote]]
) -> list[tuple[StrategyResult, StrategyResult] | StrategyUnavailable]:
    """`evaluate_strategy` on each of many markets (`(quotes, reroll item quote)` per hour), in
    order: the results, or the `StrategyUnavailable` that hour would raise. The markets are
    solved together (and hours with the same prices once), which is what makes a window fast."""
    resolved: list[_Market | StrategyUnavailable] = []
    for quotes, reroll_item_quote in hours:
        try:
            resolved.append(_resolve_market(spec, quotes, reroll_item_quote))
        except StrategyUnavailable as exc:
            resolved.append(exc)
    markets = [m for m in resolved if isinstance(m, _Market)]
    solved = iter(_solve(spec, _weights(spec.family, spec.weights), markets) if markets else ())
    return [m if isinstance(m, StrategyUnavailable) else next(solved) for m in resolved]


def evaluate_strategy(
    spec: StrategySpec, quotes: Mapping[str, ItemQuote], reroll_item_quote: ItemQuote
) -> tuple[StrategyResult, StrategyResult]:
    """(top_k result, optimal result) of `spec` on one hour's market.

    * Input item: the family member with the lowest depth-aware average price for
      `buy_quantity` among those with a fillable offer; `quantity` is what its book
      delivers, capped at `buy_quantity` (a last-trade overshoot is left out).
    * Members without a quote or a sale price are unsellable: worth 0.
    * Reroll cost per unit = reroll_cost_amount × `reroll_item_price` / units_per_reroll.
    * Raises `StrategyUnavailable` (with a reason) when no member can be bought or the
      reroll item has no price; never returns a partial result.
    """
    (outcome,) = evaluate_strategy_hours(spec, [(quotes, reroll_item_quote)])
    if isinstance(outcome, StrategyUnavailable):
        raise outcome
    return outcome


def monte_carlo(
    spec: StrategySpec,
    quotes: Mapping[str, ItemQuote],
    reroll_item_quote: ItemQuote,
    policy_stop_set: Iterable[str],
    trials: int,
    seed: int,
) -> MonteCarloEstimate:
    """Simulate `trials` units bought as in `evaluate_strategy` and sold on `policy_stop_set`.

    For checking the exact math: its expected rerolls, sale value and profit per unit
    should lie within a few standard errors of these means.
    """
    _require_positive_int(trials, "trials")
    market = _resolve_market(spec, quotes, reroll_item_quote)
    stops = set(policy_stop_set)
    unknown = sorted(stops - set(spec.family))
    if unknown:
        raise ValueError(f"policy_stop_set names items outside the family: {unknown}")
    stop = np.array([m in stops for m in spec.family])
    if not stop.any():
        raise ValueError("policy_stop_set is empty: the rerolling would never end")

    rng = np.random.default_rng(seed)
    cumulative = np.cumsum(_transition_matrix(_weights(spec.family, spec.weights)), axis=1)
    state = np.full(trials, market.start)
    rerolls = np.zeros(trials, dtype=np.int64)
    active = np.flatnonzero(~stop[state])
    while active.size:
        u = rng.random(active.size)
        # Next state = number of cumulative bounds <= u; P_ii = 0 makes i impossible.
        nxt = (u[:, None] >= cumulative[state[active]]).sum(axis=1)
        state[active] = np.minimum(nxt, len(spec.family) - 1)
        rerolls[active] += 1
        active = active[~stop[state[active]]]

    sale = np.array(market.values)[state]
    profit = sale - market.input_cost - rerolls * market.reroll_cost
    return MonteCarloEstimate(
        trials=trials,
        mean_rerolls=float(rerolls.mean()),
        mean_sale_value=float(sale.mean()),
        mean_profit_per_unit=float(profit.mean()),
        se_rerolls=_standard_error(rerolls),
        se_sale_value=_standard_error(sale),
        se_profit_per_unit=_standard_error(profit),
    )


def _standard_error(sample: np.ndarray) -> float:
    if sample.size < 2:
        return 0.0
    return float(sample.std(ddof=1) / math.sqrt(sample.size))
