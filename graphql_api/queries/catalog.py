"""`items` and `strategies`: the watchlist's configuration, with human names (no SQL)."""

from __future__ import annotations

from graphql_api.context import ApiContext
from graphql_api.types import Item, Strategy, Weight, item_of
from tradewatch.market.strategy import StrategySpec


def items(ctx: ApiContext, search: str | None, category: str | None) -> list[Item]:
    needle = (search or "").strip().lower()
    wanted_category = (category or "").strip().lower()
    found = []
    for item_id in ctx.watched:
        item = item_of(item_id, True)
        if needle and needle not in item_id.lower() and needle not in item.name.lower():
            continue
        if wanted_category and (item.category or "").lower() != wanted_category:
            continue
        found.append(item)
    return found


def strategy_type(spec: StrategySpec, watched: tuple[str, ...]) -> Strategy:
    return Strategy(
        name=spec.name,
        family=[item_of(m, m in watched) for m in spec.family],
        reroll_cost_item=item_of(spec.reroll_cost_item, spec.reroll_cost_item in watched),
        reroll_cost_amount=spec.reroll_cost_amount,
        units_per_reroll=spec.units_per_reroll,
        buy_quantity=spec.buy_quantity,
        top_k=spec.top_k,
        weights=[Weight(item=item_of(k, k in watched), weight=v) for k, v in spec.weights.items()]
        if spec.weights else None,
    )


def strategies(ctx: ApiContext) -> list[Strategy]:
    return [strategy_type(s, ctx.watched) for s in ctx.watchlist.strategies]
