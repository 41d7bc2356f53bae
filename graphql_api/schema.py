"""The Strawberry schema: the root fields, their arguments and documented defaults.

Resolvers only check arguments and hand over to `graphql_api.queries`; one SQL
statement per root field. Times are ISO-8601; a naive time means UTC. Ranges are
[from, to) over the observed hour; unless stated otherwise `to` defaults to the end of
the current hour and `from` to 24 hours before `to`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.extensions import MaskErrors, ParserCache, ValidationCache

from graphql_api import limits
from graphql_api.context import Info
from graphql_api.errors import MASKED_MESSAGE, bad_input, should_mask_error
from graphql_api.inputs import item_ids, league_name, page_size, time_range
from graphql_api.queries import audit, catalog, exchange, prices, profits
from graphql_api.queries.exchange import ExchangeCurrency, ExchangePriceSeries, LeagueSeen
from graphql_api.types import (Bucket, Coverage, Item, LatestPrice, Policy, PriceSeries, ProfitabilityConnection,
                               RawResponseConnection, SnapshotConnection, SnapshotOrder, Strategy,
                               StrategyEvaluation, WeightInput, SCALAR_MAP)

LeagueArg = Annotated[str | None, strawberry.argument(description="The league; default: the watchlist's league.")]
FromArg = Annotated[datetime | None, strawberry.argument(
    name="from", description="Start of the range (inclusive, ISO-8601, naive = UTC); default: `to` − 24 h.")]
ToArg = Annotated[datetime | None, strawberry.argument(
    description="End of the range (exclusive, ISO-8601, naive = UTC); default: the end of the current hour.")]


def _selected(info: Info, *path: str) -> set[str]:
    """Names selected under `path` of this field (fragments included): to skip unneeded columns."""
    def names(selections: Any, depth: int) -> set[str]:
        found: set[str] = set()
        for sel in selections:
            name = getattr(sel, "name", None)
            if name is None or not hasattr(sel, "arguments"):  # a fragment: look inside
                found |= names(getattr(sel, "selections", []), depth)
            elif depth < len(path):
                if name == path[depth]:
                    found |= names(sel.selections, depth + 1)
            else:
                found.add(name)
        return found
    return names(info.selected_fields[0].selections, 0)


def _items_argument(info: Info, argument: str, values: list[strawberry.ID] | None) -> list[str] | None:
    if values is None:
        return None
    if not values:
        raise bad_input(argument, "is an empty list; leave it out for all items")
    wl = info.context.watchlist
    return item_ids([str(v) for v in values], argument, wl.items, wl.game)


@strawberry.type(description="Price and profitability history of the watched Path of Exile bulk-exchange market.")
class Query:
    @strawberry.field(description="The watched items with their human names; `search` matches the name or id "
                                  "(case-insensitive substring), `category` the trade site's group (e.g. Essences).")
    def items(self, info: Info, search: str | None = None, category: str | None = None) -> list[Item]:
        return catalog.items(info.context, search, category)

    @strawberry.field(description="The newest stored snapshot of each item with its change over 24 h and 7 d "
                                  "(the overview). `items` default: every watched item.")
    async def latest_prices(self, info: Info, league: LeagueArg = None,
                            items: list[strawberry.ID] | None = None) -> list[LatestPrice]:
        wl = info.context.watchlist
        ids = _items_argument(info, "items", items) or list(wl.items)
        return await prices.latest_prices(info.context, league_name(league, wl.league), ids)

    @strawberry.field(description=f"Stored hourly snapshots, cursor-paged (keyset on hour, item). `items` default: "
                                  f"all items. `first` default {limits.DEFAULT_PAGE}, at most {limits.MAX_PAGE}. "
                                  f"Range at most {limits.MAX_PAGED_RANGE.days} days.")
    async def snapshots(self, info: Info, league: LeagueArg = None, items: list[strawberry.ID] | None = None,
                        from_: FromArg = None, to: ToArg = None,
                        order_by: SnapshotOrder = SnapshotOrder.TIME_ASC, first: int | None = None,
                        after: str | None = None) -> SnapshotConnection:
        wl = info.context.watchlist
        ids = _items_argument(info, "items", items)
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        size = page_size(first, limits.DEFAULT_PAGE, limits.MAX_PAGE)
        with_book = "book" in _selected(info, "nodes")
        return await prices.snapshots(info.context, league_name(league, wl.league), ids, span, order_by, size,
                                      after, with_book)

    @strawberry.field(description=f"Per bucket: open/high/low/close of the min price, the depth-aware average price, "
                                  f"the last stock and listing count, aggregated in PostgreSQL and delivered as "
                                  f"columns. Give `item` or `items` (at most {limits.MAX_SERIES_ITEMS}); at most "
                                  f"{limits.MAX_SERIES_POINTS} buckets per item. One series per requested item, "
                                  f"in the order asked.")
    async def price_series(self, info: Info, league: LeagueArg = None, item: strawberry.ID | None = None,
                           items: list[strawberry.ID] | None = None, from_: FromArg = None,
                           to: ToArg = None, bucket: Bucket = Bucket.HOUR) -> list[PriceSeries]:
        wl = info.context.watchlist
        if item is None and items is None:
            raise bad_input("item", "give `item` or `items`: which items the series is for")
        ids = _items_argument(info, "item", [item]) if item is not None else []
        ids += [i for i in (_items_argument(info, "items", items) or []) if i not in ids]
        if len(ids) > limits.MAX_SERIES_ITEMS:
            raise bad_input("items", f"{len(ids)} items are more than {limits.MAX_SERIES_ITEMS}")
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        return await prices.price_series(info.context, league_name(league, wl.league), ids, span, bucket)

    @strawberry.field(description=f"Executed prices from GGG's Currency Exchange history per bucket (VWAP, min, max, "
                                  f"volumes) as columns, beside the book's `priceSeries`. `items`: trade ids or, "
                                  f"for items without one, metadata paths (default: the watched items; at most "
                                  f"{limits.MAX_SERIES_ITEMS}); at most {limits.MAX_SERIES_POINTS} buckets per item.")
    async def exchange_prices(self, info: Info, league: LeagueArg = None, items: list[strawberry.ID] | None = None,
                              currency: ExchangeCurrency = ExchangeCurrency.CHAOS, from_: FromArg = None,
                              to: ToArg = None, bucket: Bucket = Bucket.HOUR,
                              realm: str = "pc") -> list[ExchangePriceSeries]:
        wl = info.context.watchlist
        if items is not None and not items:
            raise bad_input("items", "is an empty list; leave it out for the watched items")
        ids = exchange.exchange_item_ids([str(i) for i in items], wl.items, wl.game) if items else list(wl.items)
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        return await exchange.exchange_prices(info.context, realm, league_name(league, wl.league), ids, currency,
                                              span, bucket)

    @strawberry.field(description="Every league seen, per source (the order books, the Currency Exchange "
                                  "history), with its first and last stored hour.")
    async def leagues(self, info: Info) -> list[LeagueSeen]:
        return await exchange.leagues(info.context)

    @strawberry.field(description=f"Stored reroll profitability, cursor-paged (keyset on hour, strategy, policy). "
                                  f"`first` default {limits.DEFAULT_PAGE}, at most {limits.MAX_PAGE}.")
    async def profitability(self, info: Info, league: LeagueArg = None, strategy: str | None = None,
                            policy: Policy | None = None, from_: FromArg = None,
                            to: ToArg = None, first: int | None = None,
                            after: str | None = None) -> ProfitabilityConnection:
        wl = info.context.watchlist
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        size = page_size(first, limits.DEFAULT_PAGE, limits.MAX_PAGE)
        return await profits.profitability(info.context, league_name(league, wl.league), strategy, policy, span,
                                           size, after)

    @strawberry.field(description="The reroll strategies configured in the watchlist.")
    def strategies(self, info: Info) -> list[Strategy]:
        return catalog.strategies(info.context)

    @strawberry.field(description=f"What-if: the strategy math re-run on stored snapshots with your parameters, "
                                  f"hour by hour. `strategy` (default: the first configured) gives the family and "
                                  f"the defaults. Range at most {limits.MAX_EVALUATE_RANGE.days} days.")
    async def evaluate_strategy(self, info: Info, strategy: str | None = None, league: LeagueArg = None,
                                from_: FromArg = None, to: ToArg = None,
                                reroll_cost_amount: float | None = None, units_per_reroll: int | None = None,
                                buy_quantity: int | None = None, top_k: int | None = None,
                                weights: list[WeightInput] | None = None) -> StrategyEvaluation:
        ctx = info.context
        base = profits.configured_strategy(ctx, strategy)
        spec = profits.what_if_spec(base, reroll_cost_amount=reroll_cost_amount, units_per_reroll=units_per_reroll,
                                    buy_quantity=buy_quantity, top_k=top_k, weights=weights)
        span = time_range(from_, to, limits.MAX_EVALUATE_RANGE)
        return await profits.evaluate(ctx, league_name(league, ctx.watchlist.league), spec, span)

    @strawberry.field(description=f"Which hours and watched items are stored, missing or simulated. Range at most "
                                  f"{limits.MAX_COVERAGE_RANGE.days} days.")
    async def coverage(self, info: Info, league: LeagueArg = None, from_: FromArg = None,
                       to: ToArg = None) -> Coverage:
        span = time_range(from_, to, limits.MAX_COVERAGE_RANGE)
        return await audit.coverage(info.context, league_name(league, info.context.watchlist.league), span)

    @strawberry.field(description=f"The stored raw trade responses, for audit, cursor-paged (keyset on hour, item). "
                                  f"`first` default {limits.DEFAULT_RAW_PAGE}, at most {limits.MAX_RAW_PAGE}.")
    async def raw_responses(self, info: Info, league: LeagueArg = None, item: strawberry.ID | None = None,
                            from_: FromArg = None, to: ToArg = None, first: int | None = None,
                            after: str | None = None) -> RawResponseConnection:
        wl = info.context.watchlist
        ids = _items_argument(info, "item", [item]) if item is not None else None
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        size = page_size(first, limits.DEFAULT_RAW_PAGE, limits.MAX_RAW_PAGE)
        with_body = "responseBody" in _selected(info, "nodes")
        return await audit.raw_responses(info.context, league_name(league, wl.league), ids[0] if ids else None,
                                         span, size, after, with_body)


def build_schema() -> strawberry.Schema:
    return strawberry.Schema(
        query=Query,
        extensions=[
            *limits.limiter_extensions(),
            lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256),
            lambda: MaskErrors(should_mask_error=should_mask_error, error_message=MASKED_MESSAGE),
        ],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
    )


schema = build_schema()
