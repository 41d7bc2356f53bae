"""`items` and `strategies`: the watchlist's configuration and the exchange catalogue, with human
names (no SQL: the packaged catalogue is in memory)."""

from __future__ import annotations

from graphql_api.context import ApiContext
from graphql_api.types import Item, Strategy, Weight, item_of
from tradewatch.currency_exchange.catalogue import load_catalogue
from tradewatch.market.strategy import StrategySpec

MAX_CATALOGUE_ITEMS = 200  # catalogue matches of one search ("orb" names a few hundred)


def items(ctx: ApiContext, search: str | None, category: str | None, game: str | None = None) -> list[Item]:
    """The watched items matching `search` (name or id, case-insensitive substring) and `category`;
    then, when `game` is given or no watched item matches a search, the matching items of the
    exchange catalogue (of `game`, default the watchlist's), closest names first, at most 200."""
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
    if game is None and (found or not needle):
        return found
    seen = {item.id for item in found}
    extra = []
    for entry in load_catalogue(game or ctx.watchlist.game):
        if entry.id in seen:
            continue
        if needle and needle not in entry.name.lower() and needle not in entry.id.lower():
            continue
        if wanted_category and (entry.category or "").lower() != wanted_category:
            continue
        extra.append(entry)
    # exact names first, then names that start with the search, then the rest; the shorter (closer) name first
    extra.sort(key=lambda e: (e.name.lower() != needle, not e.name.lower().startswith(needle), len(e.name),
                              e.name.lower(), e.id))
    return found + [Item(id=e.id, name=e.name, category=e.category, watched=e.id in ctx.watched)
                    for e in extra[:MAX_CATALOGUE_ITEMS]]


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
