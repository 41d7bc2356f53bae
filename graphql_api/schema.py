"""The Strawberry schema: the root fields, their arguments and documented defaults.

Resolvers only check arguments and hand over to `graphql_api.queries`; one SQL
statement per root field. Times are ISO-8601; a naive time means UTC. Ranges are
[from, to) over the observed hour; unless stated otherwise `to` defaults to the end of
the current hour and `from` to 24 hours before `to`.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.types.graphql import OperationType
from strawberry.extensions import DisableIntrospection, MaskErrors, ParserCache, ValidationCache

from graphql_api import limits
from graphql_api.arguments import fast_argument_types
from graphql_api.completion import RowCompletionContext
from graphql_api.context import Info
from graphql_api.cost import DEFAULT_MAX_COST, cost_limiter, cost_note
from graphql_api.errors import MASKED_MESSAGE, bad_input, log_errors, should_mask_error
from graphql_api.json_rows import row_plan, selected_names
from graphql_api.inputs import item_ids, league_name, page_size, time_range
from graphql_api.leagues import checked_league, league_spans
from graphql_api.prepared import PreparedDocuments, PreparedPath
from graphql_api.queries import alerts as alert_queries, audit, catalog, exchange, market, prices, profits
from graphql_api.queries.market import MarketItem, MarketOrder, MarketPage, Realm
from graphql_api.queries.exchange import ExchangeAlign, ExchangeCurrency, ExchangePriceSeries
from graphql_api.currency import divine_price, resolve_currency
from tradewatch.currency_exchange.catalogue import game_of_realm
from graphql_api.types import (Bucket, Coverage, Currency, DivinePriceSeries, Item, LatestPrice, Policy, PriceSeries, ProfitabilityConnection,
                               RawResponseConnection, SnapshotConnection, SnapshotOrder, Strategy,
                               StrategyEvaluation, WeightInput, SCALAR_MAP)

LeagueArg = Annotated[str | None, strawberry.argument(description="The league; default: the watchlist's league.")]
FromArg = Annotated[datetime | None, strawberry.argument(
    name="from", description="Start of the range (inclusive, ISO-8601, naive = UTC); default: `to` − 24 h.")]
CurrencyArg = Annotated[Currency | None, strawberry.argument(
    description="The unit of every price in the answer: CHAOS or DIVINE, converted with each league-hour's divine "
                "price in chaos (null where that hour has none); default: the watchlist's currency (`paid_with`).")]
ToArg = Annotated[datetime | None, strawberry.argument(
    description="End of the range (exclusive, ISO-8601, naive = UTC); default: the end of the current hour.")]


def _selected(info: Info, *path: str) -> frozenset[str]:
    """Names selected under `path` of this field (fragments included): to skip unneeded columns."""
    return selected_names(info, *path)


def _items_argument(info: Info, argument: str, values: list[strawberry.ID] | None) -> list[str] | None:
    if values is None:
        return None
    if not values:
        raise bad_input(argument, "is an empty list; leave it out for all items")
    wl = info.context.watchlist
    return item_ids([str(v) for v in values], argument, wl.items, wl.game)


@strawberry.type(description="Price and profitability history of the watched Path of Exile bulk-exchange market. "
                             "Each request has a cost budget (TRADEWATCH_API_MAX_COST, default "
                             f"{DEFAULT_MAX_COST} units of about 1 ms of server work): every field's cost is in its "
                             "description, aliases and fragments count each time, and a request over the "
                             "budget is refused before it runs (extensions.code QUERY_TOO_EXPENSIVE, with "
                             "extensions.cost and extensions.budget). When the workers for expensive fields are "
                             "all taken, such a field answers BUSY at once (HTTP 503 with Retry-After when "
                             "nothing could start); a request has "
                             f"{limits.REQUEST_BUDGET_SECONDS:g} s (TIMEOUT past that).")
class Query:
    @strawberry.field(description="The watched items with their human names; `search` matches the name or id "
                                  "(case-insensitive substring), `category` the trade site's group (e.g. Essences). "
                                  "With `realm`, or when a `search` matches no watched item, the matching items of "
                                  "the Currency Exchange catalogue follow (PoE 1 for pc/xbox/sony, PoE 2 for poe2; "
                                  "default: the watchlist's game), exact names first, at most "
                                  f"{catalog.MAX_CATALOGUE_ITEMS}: `items(search: \"Exalted\")` finds the Exalted Orb."
                                  + cost_note('items'))
    def items(self, info: Info, search: str | None = None, category: str | None = None,
              realm: str | None = None) -> list[Item]:
        if realm is None:
            return catalog.items(info.context, search, category)
        return catalog.items(info.context, search, category, game_of_realm(exchange.checked_realm(realm)))

    @strawberry.field(description="The newest stored snapshot of each item with its change over 24 h and 7 d "
                                  "(the overview). `items` default: every watched item."
                                  + cost_note('latestPrices'))
    async def latest_prices(self, info: Info, league: LeagueArg = None,
                            items: list[strawberry.ID] | None = None,
                            currency: CurrencyArg = None) -> list[LatestPrice]:
        wl = info.context.watchlist
        ids = _items_argument(info, "items", items) or list(wl.items)
        unit = resolve_currency(info.context, currency)
        return await prices.latest_prices(info.context, await checked_league(info.context, league), ids, unit,
                                          row_plan(info, prices.LATEST_JSON, list_field=None), _selected(info))

    @strawberry.field(description=f"Stored hourly snapshots, cursor-paged (keyset on hour, item). `items` default: "
                                  f"all items. `first` default {limits.DEFAULT_PAGE}, at most {limits.MAX_PAGE}. "
                                  f"Range at most {limits.MAX_PAGED_RANGE.days} days."
                                  + cost_note('snapshots'))
    async def snapshots(self, info: Info, league: LeagueArg = None, items: list[strawberry.ID] | None = None,
                        from_: FromArg = None, to: ToArg = None,
                        order_by: SnapshotOrder = SnapshotOrder.TIME_ASC, first: int | None = None,
                        after: str | None = None, currency: CurrencyArg = None) -> SnapshotConnection:
        wl = info.context.watchlist
        ids = _items_argument(info, "items", items)
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        size = page_size(first, limits.DEFAULT_PAGE, limits.MAX_PAGE)
        with_book = "book" in _selected(info, "nodes")
        return await prices.snapshots(info.context, await checked_league(info.context, league), ids, span, order_by, size,
                                      after, with_book, resolve_currency(info.context, currency),
                                      row_plan(info, prices.SNAPSHOT_JSON))

    @strawberry.field(description=f"Per bucket: open/high/low/close of the min price, the depth-aware average price, "
                                  f"the last stock and listing count, aggregated in PostgreSQL and delivered as "
                                  f"columns. Give `item` or `items` (at most {limits.MAX_SERIES_ITEMS}); at most "
                                  f"{limits.MAX_SERIES_POINTS} buckets per item. One series per requested item, "
                                  f"in the order asked."
                                  + cost_note('priceSeries'))
    async def price_series(self, info: Info, league: LeagueArg = None, item: strawberry.ID | None = None,
                           items: list[strawberry.ID] | None = None, from_: FromArg = None,
                           to: ToArg = None, bucket: Bucket = Bucket.HOUR,
                           currency: CurrencyArg = None) -> list[PriceSeries]:
        wl = info.context.watchlist
        if item is None and items is None:
            raise bad_input("item", "give `item` or `items`: which items the series is for")
        ids = _items_argument(info, "item", [item]) if item is not None else []
        ids += [i for i in (_items_argument(info, "items", items) or []) if i not in ids]
        if len(ids) > limits.MAX_SERIES_ITEMS:
            raise bad_input("items", f"{len(ids)} items are more than {limits.MAX_SERIES_ITEMS}")
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        unit = resolve_currency(info.context, currency)
        executed = bool({"executedPrice", "executedVolume"} & _selected(info))
        return await prices.price_series(info.context, await checked_league(info.context, league), ids, span, bucket,
                                         unit, executed)

    @strawberry.field(description=f"The divine orb's price in chaos per bucket (the Currency Exchange's executed "
                                  f"chaos|divine trades of the league): the rate every CHAOS/DIVINE conversion "
                                  f"uses. At most {limits.MAX_SERIES_POINTS} buckets.")
    async def divine_price(self, info: Info, league: LeagueArg = None, from_: FromArg = None, to: ToArg = None,
                           bucket: Bucket = Bucket.HOUR) -> DivinePriceSeries:
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        return await divine_price(info.context, await checked_league(info.context, league), span, bucket)

    @strawberry.field(description=f"Executed prices from GGG's Currency Exchange history per bucket (VWAP, min, max, "
                                  f"volumes) as columns, beside the book's `priceSeries`. `items`: any item of the "
                                  f"realm's catalogue, by id (the trade id, e.g. exalted, else the metadata path), "
                                  f"metadata path or display name (case-insensitive, e.g. \"Exalted Orb\"); default: "
                                  f"the watched items; at most {limits.MAX_SERIES_ITEMS}. At most "
                                  f"{limits.MAX_SERIES_POINTS} buckets per item.")
    async def exchange_prices(self, info: Info, league: LeagueArg = None, items: list[strawberry.ID] | None = None,
                              currency: ExchangeCurrency = ExchangeCurrency.CHAOS, from_: FromArg = None,
                              to: ToArg = None, bucket: Bucket = Bucket.HOUR,
                              realm: str = "pc", align_by: Annotated[ExchangeAlign, strawberry.argument(
                                  description="DATE: UTC calendar buckets; LEAGUE_DAY: buckets counted from the "
                                              "league's first hour in the feed (`leagueStart`, `age`), to compare "
                                              "leagues at the same league age.")] = ExchangeAlign.DATE
                              ) -> list[ExchangePriceSeries]:
        if items is not None and not items:
            raise bad_input("items", "is an empty list; leave it out for the watched items")
        if items is not None and len(items) > limits.MAX_SERIES_ITEMS:
            raise bad_input("items", f"{len(items)} items are more than {limits.MAX_SERIES_ITEMS}")
        game = game_of_realm(exchange.checked_realm(realm))
        wanted = await exchange.exchange_items(info.context, game, [str(i) for i in items] if items else None)
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        return await exchange.exchange_prices(info.context, realm, await checked_league(info.context, league, realm),
                                              wanted, currency, span, bucket, align_by)

    @strawberry.field(description=f"Stored reroll profitability, cursor-paged (keyset on hour, strategy, policy). "
                                  f"`first` default {limits.DEFAULT_PAGE}, at most {limits.MAX_PAGE}."
                                  + cost_note('profitability'))
    async def profitability(self, info: Info, league: LeagueArg = None, strategy: str | None = None,
                            policy: Policy | None = None, from_: FromArg = None,
                            to: ToArg = None, first: int | None = None,
                            after: str | None = None, currency: CurrencyArg = None) -> ProfitabilityConnection:
        wl = info.context.watchlist
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        size = page_size(first, limits.DEFAULT_PAGE, limits.MAX_PAGE)
        return await profits.profitability(info.context, await checked_league(info.context, league), strategy, policy, span,
                                           size, after, resolve_currency(info.context, currency),
                                           row_plan(info, profits.PROFITABILITY_JSON))

    @strawberry.field(description="The reroll strategies configured in the watchlist."
                                  + cost_note('strategies'))
    def strategies(self, info: Info) -> list[Strategy]:
        return catalog.strategies(info.context)

    @strawberry.field(description=f"What-if: the strategy math re-run on stored snapshots with your parameters, "
                                  f"hour by hour. `strategy` (default: the first configured) gives the family and "
                                  f"the defaults. Range at most {limits.MAX_EVALUATE_RANGE.days} days."
                                  + cost_note('evaluateStrategy'))
    async def evaluate_strategy(
            self, info: Info,
            strategy: Annotated[str | None, strawberry.argument(
                description="The configured strategy whose family and defaults are used; default: the first.")] = None,
            league: LeagueArg = None, from_: FromArg = None, to: ToArg = None,
            reroll_cost_amount: Annotated[float | None, strawberry.argument(
                description="How many of the reroll item (e.g. primal lifeforce) one reroll costs; default: the "
                            "strategy's.")] = None,
            units_per_reroll: Annotated[int | None, strawberry.argument(
                description="How many units one reroll changes at once; default: the strategy's.")] = None,
            buy_quantity: Annotated[int | None, strawberry.argument(
                description="How many units are bought (depth-aware, from the stored books); default: the "
                            "strategy's.")] = None,
            top_k: Annotated[int | None, strawberry.argument(
                description="The top-K rule sells once the unit is one of the K most valuable members; default: "
                            "the strategy's.")] = None,
            weights: Annotated[list[WeightInput] | None, strawberry.argument(
                description="Outcome weights of a reroll per member (others keep theirs); default: the "
                            "strategy's (uniform unless configured).")] = None,
            currency: CurrencyArg = None) -> StrategyEvaluation:
        ctx = info.context
        base = profits.configured_strategy(ctx, strategy)
        spec = profits.what_if_spec(base, reroll_cost_amount=reroll_cost_amount, units_per_reroll=units_per_reroll,
                                    buy_quantity=buy_quantity, top_k=top_k, weights=weights)
        span = time_range(from_, to, limits.MAX_EVALUATE_RANGE)
        return await profits.evaluate(ctx, await checked_league(info.context, league), spec, span,
                                      resolve_currency(ctx, currency), with_hours="hours" in _selected(info))

    @strawberry.field(description=f"Which hours and watched items are stored, missing or simulated. Range at most "
                                  f"{limits.MAX_COVERAGE_RANGE.days} days."
                                  + cost_note('coverage'))
    async def coverage(self, info: Info, league: LeagueArg = None, from_: FromArg = None,
                       to: ToArg = None) -> Coverage:
        span = time_range(from_, to, limits.MAX_COVERAGE_RANGE)
        return await audit.coverage(info.context, await checked_league(info.context, league), span)

    @strawberry.field(description=f"The stored raw trade responses, for audit, cursor-paged (keyset on hour, item). "
                                  f"`first` default {limits.DEFAULT_RAW_PAGE}, at most {limits.MAX_RAW_PAGE}."
                                  + cost_note('rawResponses'))
    async def raw_responses(self, info: Info, league: LeagueArg = None, item: strawberry.ID | None = None,
                            from_: FromArg = None, to: ToArg = None, first: int | None = None,
                            after: str | None = None) -> RawResponseConnection:
        wl = info.context.watchlist
        ids = _items_argument(info, "item", [item]) if item is not None else None
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        size = page_size(first, limits.DEFAULT_RAW_PAGE, limits.MAX_RAW_PAGE)
        with_body = "responseBody" in _selected(info, "nodes")
        return await audit.raw_responses(info.context, await checked_league(info.context, league), ids[0] if ids else None,
                                         span, size, after, with_body)

    @strawberry.field(description=f"Crossings of the watchlist's alert rules, oldest first (at most "
                                  f"{limits.MAX_PAGE}). `rule` default: every rule. Range at most "
                                  f"{limits.MAX_PAGED_RANGE.days} days.")
    async def alerts(self, info: Info, league: LeagueArg = None, from_: FromArg = None, to: ToArg = None,
                     rule: Annotated[str | None, strawberry.argument(
                         description="Only this rule (its name in the watchlist).")] = None) -> list[alert_queries.Alert]:
        span = time_range(from_, to, limits.MAX_PAGED_RANGE)
        return await alert_queries.alerts(info.context, await checked_league(info.context, league), span, rule)


    @strawberry.field(description="Every league with stored data, per source (`book`: the order books the watchlist "
                                  "fetches; `exchange`: the Currency Exchange history), with its first and last "
                                  "stored hour, and (`trade`) every league the trade site lists now "
                                  "(`GET /api/trade/data/leagues`, read every few minutes); the watchlist's league "
                                  "is `isDefault`. When the trade site cannot be reached the stored leagues are "
                                  "still answered, `listed` is null on every entry and no `trade` entry is given.")
    async def leagues(self, info: Info) -> list[StoredLeague]:
        ctx = info.context
        ctx.cache.read_live()
        spans, live = await asyncio.gather(league_spans(ctx), ctx.live_leagues.get() if ctx.live_leagues
                                           else asyncio.sleep(0, result=None))
        listed = set(live) if live is not None else None
        default = ctx.watchlist.league
        return [*(StoredLeague(name=r["league"], source=r["source"], first_hour=r["first_hour"],
                               last_hour=r["last_hour"], is_default=r["league"] == default,
                               listed=None if listed is None else r["league"] in listed) for r in spans),
                *(StoredLeague(name=name, source="trade", first_hour=None, last_hour=None, is_default=name == default,
                               listed=True) for name in live or ())]

    @strawberry.field(description=(
        "The whole Currency Exchange market of a league, like poe.ninja's overview: every item that traded in "
        "the league within the 7 days to the realm's newest stored hour, with its price, 24 h and 7 d change, "
        "volume, value, sparkline and confidence flag (definitions on `MarketRow`). `search` matches the name "
        "(case-insensitive substring), `category` the catalogue's category (see `categories`). Cursor-paged: "
        f"`first` default {limits.DEFAULT_PAGE}, at most {limits.MAX_PAGE}. Read from rollups kept by Dagster.")
        + cost_note('market'))
    async def market(self, info: Info, realm: Realm = Realm.PC, league: LeagueArg = None,
                     category: str | None = None, search: str | None = None,
                     order_by: MarketOrder = MarketOrder.VALUE_DESC, currency: Currency = Currency.CHAOS,
                     first: int | None = 100, after: str | None = None) -> MarketPage:
        size = page_size(first, limits.DEFAULT_PAGE, limits.MAX_PAGE)
        return await market.market(info.context, realm, league, category, search, order_by, currency, size, after)

    @strawberry.field(description=("One Currency Exchange item: its catalogue entry, every league it traded in with "
                                   "its price there, and the markets (pairs) it trades in. `id`: a catalogue id "
                                   "(trade id or metadata path), a metadata path or the exact name.")
                      + cost_note('marketItem'))
    async def market_item(self, info: Info, id: strawberry.ID, realm: Realm = Realm.PC) -> MarketItem:
        return await market.market_item(info.context, str(id), realm)

    @strawberry.field(description="The catalogue's item categories of a realm's game (the `category` of `market`)."
                                  + cost_note('categories'))
    async def categories(self, info: Info, realm: Realm = Realm.PC) -> list[str]:
        return await market.categories(info.context, realm)


@strawberry.type(description="A league with stored data in one source, or (`trade`) one the trade site lists now.")
class StoredLeague:
    name: str = strawberry.field(description="The league as the trade site spells it.")
    source: str = strawberry.field(description="`book` (order books), `exchange` (Currency Exchange history) or "
                                               "`trade` (the trade site's current list).")
    first_hour: datetime | None = strawberry.field(description="The first stored hour (UTC); null for `trade`.")
    last_hour: datetime | None = strawberry.field(description="The last stored hour (UTC); null for `trade`.")
    is_default: bool = strawberry.field(description="Whether it is the watchlist's league (the default argument).")
    listed: bool | None = strawberry.field(description=(
        "Whether the trade site lists the league now (a league it no longer lists has ended or is misspelt); "
        "null when the trade site's list is unavailable."))


# Refusals that protect the server: expected under load, so not logged one by one (a client
# looping on them must not make the server spend its time writing log lines).
_QUIET_CODES = frozenset({"BUSY", "QUERY_TOO_EXPENSIVE"})


class TradeWatchSchema(strawberry.Schema):
    """The schema, with query texts that parsed and validated once run on the prepared path
    (graphql_api/prepared.py) from then on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepared = PreparedDocuments()
        self.prepared_path = PreparedPath.of(self)

    def process_errors(self, errors, execution_context=None) -> None:  # type: ignore[override]
        log_errors([e for e in errors if (e.extensions or {}).get("code") not in _QUIET_CODES
                    and getattr(e.original_error, "code", None) not in _QUIET_CODES])

    async def _prepare_operation_async(self, context, extensions_runner):  # type: ignore[override]
        errors = await super()._prepare_operation_async(context, extensions_runner)
        if errors is None and isinstance(context.query, str) and context.graphql_document is not None \
                and context.operation_type is OperationType.QUERY:
            self.prepared.remember(context.query, context.operation_name, context.graphql_document)
        return errors

    async def execute(self, query, variable_values=None, context_value=None, root_value=None,  # type: ignore[override]
                      operation_name=None, allowed_operation_types=None, operation_extensions=None):
        document = self.prepared.get(query, operation_name) if self.prepared_path is not None else None
        if document is None or operation_extensions or (
                allowed_operation_types is not None and OperationType.QUERY not in allowed_operation_types):
            return await super().execute(query, variable_values, context_value, root_value, operation_name,
                                         allowed_operation_types, operation_extensions)
        return await self.prepared_path.execute(document, query, variable_values, context_value, root_value,
                                                operation_name)


def build_schema(introspection: bool = True) -> strawberry.Schema:
    """The schema; `introspection=False` refuses `__schema` and `__type` (TRADEWATCH_INTROSPECTION=0)."""
    return TradeWatchSchema(
        query=Query,
        extensions=[
            *limits.limiter_extensions(),
            cost_limiter(lambda context: getattr(context, "max_cost", DEFAULT_MAX_COST)),
            *([] if introspection else [DisableIntrospection]),
            lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256),
            lambda: MaskErrors(should_mask_error=should_mask_error, error_message=MASKED_MESSAGE),
        ],
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        # lists of plain rows (snapshot pages, latestPrices, profitability) completed by a compiled plan
        execution_context_class=RowCompletionContext,
    )


fast_argument_types(Query)  # after the schema is built from the annotations: see graphql_api/arguments.py
schema = build_schema()
