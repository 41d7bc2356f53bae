"""The GraphQL types. Per-row fields are plain attributes (no per-row resolvers: each costs
tens of microseconds); long series come as whole JSON columns built by PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from functools import lru_cache
from typing import NewType

import orjson
import strawberry

from tradewatch.bulk_exchange.catalog import item_category, item_name
from tradewatch.currency_exchange.catalogue import name_of


def _raw_json(value: object) -> object:
    # PostgreSQL already wrote the JSON text: embed it as is instead of parsing and re-encoding
    return orjson.Fragment(value) if isinstance(value, (str, bytes)) else value


SCALAR_MAP: dict = {}  # handed to StrawberryConfig(scalar_map=...) by the schema


def _json_scalar(name: str, description: str):
    kind = NewType(name, object)
    SCALAR_MAP[kind] = strawberry.scalar(name=name, description=description, serialize=_raw_json,
                                         parse_value=lambda v: v)
    return kind


def _parse_time(value: object) -> datetime:
    # a ValueError (not a GraphQLError) lets graphql-core point at the offending argument
    if not isinstance(value, str):
        raise ValueError("a time must be an ISO-8601 string such as 2026-01-31T13:00:00Z")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO-8601 time such as 2026-01-31T13:00:00Z "
                         "(a time without offset means UTC)") from None


SCALAR_MAP[datetime] = strawberry.scalar(
    name="DateTime", description="An ISO-8601 date and time, e.g. 2026-01-31T13:00:00Z; without an offset it "
                                 "means UTC. Output is always UTC (+00:00).",
    serialize=lambda v: v.isoformat(), parse_value=_parse_time)

FloatColumn = _json_scalar(
    "FloatColumn", "A JSON array with one number (or null where the bucket had no price) per bucket, "
                   "in the order of `time`.")
IntColumn = _json_scalar("IntColumn", "A JSON array with one integer per bucket, in the order of `time`.")
TimeColumn = _json_scalar(
    "TimeColumn", "A JSON array of bucket start times (ISO-8601, UTC), oldest first. Every other column "
                  "of the series has the same length and order.")
Ladder = _json_scalar(
    "Ladder", "The order book as a JSON array of [unit_price, item_amount, stock] rows, cheapest first.")
JSON = _json_scalar("JSON", "Any JSON value, verbatim as stored.")


@strawberry.enum(description="How long one bucket of a price series is (UTC; weeks start on Monday).")
class Bucket(Enum):
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"


@strawberry.enum(description="The unit of a price: chaos orbs or divine orbs. Prices are stored in the "
                             "watchlist's currency and converted with that league-hour's divine price in chaos "
                             "(the Currency Exchange's executed chaos|divine vwap); an hour without that price "
                             "has no converted value (null).")
class Currency(Enum):
    CHAOS = "chaos"
    DIVINE = "divine"


@strawberry.enum(description="Order of rows in a page; the keyset is (hour, item).")
class SnapshotOrder(Enum):
    TIME_ASC = "asc"
    TIME_DESC = "desc"


@strawberry.enum(description="The selling policy of a reroll strategy.")
class Policy(Enum):
    TOP_K = "top_k"
    OPTIMAL = "optimal"


@strawberry.type(description="A tradeable item as the trade site names it.")
class Item:
    id: strawberry.ID = strawberry.field(description="The trade site's id, e.g. deafening-essence-of-greed.")
    name: str = strawberry.field(description="The human name, e.g. Deafening Essence of Greed.")
    category: str | None = strawberry.field(description="The trade site's group, e.g. Essences or Currency.")
    watched: bool = strawberry.field(description="Whether the watchlist fetches it every hour.")


@lru_cache(maxsize=4096)
def item_of(item_id: str, watched: bool) -> Item:
    """One shared Item per id: rows point at it instead of resolving names per row."""
    category = item_category(item_id)
    # the trade site's static names the watched groups; the exchange catalogue every other item
    name = item_name(item_id) if category is not None else (name_of("poe1", item_id) or item_name(item_id))
    return Item(id=strawberry.ID(item_id), name=name, category=category, watched=watched)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None = strawberry.field(description="Pass as `after` to get the next page.")


@strawberry.type(description="The newest stored snapshot of an item, with its recent change.")
class LatestPrice:
    item: Item
    hour: datetime = strawberry.field(description="The observed hour of the newest snapshot.")
    observed_at: datetime
    min_price: float | None = strawberry.field(description="Cheapest offer, in the paid currency.")
    robust_min_price: float | None = strawberry.field(description="Cheapest offer that is not a price-fixing bait.")
    avg_price: float | None = strawberry.field(description="Depth-aware average price of `targetQuantity` units.")
    target_quantity: int
    listing_count: int
    total_stock: int
    change_24h: float | None = strawberry.field(
        name="change24h", description="Relative change of robustMinPrice against the nearest snapshot 24 to 48 h "
                                      "older that has a robust price (0.1 = +10 %); null without such a snapshot.")
    change_7d: float | None = strawberry.field(name="change7d", description="Same, against a snapshot 7 to 14 days older.")
    low_confidence: bool = strawberry.field(
        description="Fewer than 5 listings or no robust price: the price is easy to move.")
    paid_with: str
    simulated: bool


@strawberry.type(description="One item's prices in one observed hour.")
class Snapshot:
    item: Item
    hour: datetime
    observed_at: datetime
    listing_count: int
    total_stock: int
    min_price: float | None
    robust_min_price: float | None
    target_quantity: int
    bought: int = strawberry.field(description="Units a depth walk for targetQuantity got (may be fewer).")
    spent: float | None = strawberry.field(description="What those units cost, in the paid currency (null when "
                                                      "`currency` asks for a unit this hour has no rate for).")
    avg_price: float | None
    paid_with: str
    simulated: bool
    book: Ladder | None = strawberry.field(default=None, description="The stored order book.")  # type: ignore[valid-type]


@strawberry.type
class SnapshotConnection:
    nodes: list[Snapshot]
    page_info: PageInfo


@strawberry.type(description=(
    "One item's price series in columns: entry i of every column belongs to bucket time[i]. "
    "Buckets without any stored hour are left out. The columns are built by PostgreSQL and "
    "delivered as JSON arrays, so a long series costs no per-value GraphQL work."))
class PriceSeries:
    item: Item
    bucket: Bucket
    points: int = strawberry.field(description="The number of buckets (the length of every column).")
    time: TimeColumn  # type: ignore[valid-type]
    open: FloatColumn = strawberry.field(description=(  # type: ignore[valid-type]
        "minPrice of the first hour of the bucket that has one (an hour with an empty book is skipped); null "
        "only when no hour of the bucket has a price."))
    high: FloatColumn = strawberry.field(description="Highest minPrice in the bucket.")  # type: ignore[valid-type]
    low: FloatColumn = strawberry.field(description="Lowest minPrice in the bucket.")  # type: ignore[valid-type]
    close: FloatColumn = strawberry.field(description=(  # type: ignore[valid-type]
        "minPrice of the last hour of the bucket that has one: when the bucket's last stored hour has an empty "
        "book, the close is the price of the last priced hour before it; null only when no hour of the bucket "
        "has a price."))
    robust_close: FloatColumn = strawberry.field(description=(  # type: ignore[valid-type]
        "robustMinPrice of the last hour of the bucket that has one (as `close`)."))
    avg_price: FloatColumn = strawberry.field(  # type: ignore[valid-type]
        description="Depth-aware average price over the bucket: total spent / total bought of the hourly "
                    "targetQuantity walks.")
    stock: IntColumn = strawberry.field(description="totalStock of the last stored hour.")  # type: ignore[valid-type]
    listing_count: IntColumn = strawberry.field(description="listingCount of the last stored hour.")  # type: ignore[valid-type]
    hours: IntColumn = strawberry.field(description="How many hours were stored in the bucket.")  # type: ignore[valid-type]
    executed_price: FloatColumn = strawberry.field(description=(  # type: ignore[valid-type]
        "The Currency Exchange's executed price in the bucket (what buyers paid, beside the book's asks): quote "
        "volume / item volume of the item's market in the requested currency, same league, realm `pc` (`poe2` for "
        "PoE 2); null where nothing traded or no exchange history is stored."))
    executed_volume: FloatColumn = strawberry.field(description=(  # type: ignore[valid-type]
        "Item units traded on the Currency Exchange in the bucket (that market); null where no trade is stored."))


@strawberry.type(description="The divine orb's price in chaos per bucket: the Currency Exchange's executed "
                             "chaos|divine trades (volume-weighted over a bucket's hours), as columns.")
class DivinePriceSeries:
    league: str
    bucket: Bucket
    points: int = strawberry.field(description="The number of buckets (the length of every column).")
    time: TimeColumn  # type: ignore[valid-type]
    chaos_per_divine: FloatColumn = strawberry.field(description="Chaos paid per divine (quote volume / divine "  # type: ignore[valid-type]
                                                                 "volume over the bucket); in a bucket where the "
                                                                 "Currency Exchange traded no divine, the mean robust "
                                                                 "minimum ask of the order book of divine paid in chaos.")
    min_chaos_per_divine: FloatColumn = strawberry.field(description="Lowest executed price in the bucket.")  # type: ignore[valid-type]
    max_chaos_per_divine: FloatColumn = strawberry.field(description="Highest executed price in the bucket.")  # type: ignore[valid-type]
    divine_volume: FloatColumn = strawberry.field(description="Divines traded for chaos in the bucket.")  # type: ignore[valid-type]
    book_hours: IntColumn = strawberry.field(description="Hours of the bucket priced from the order book (the "  # type: ignore[valid-type]
                                                         "Currency Exchange had no divine market then); 0: all "
                                                         "from executed trades.")


@strawberry.type(description="A reroll strategy's outcome in one hour's market (per unit unless named total). "
                             "Money is in the field's `currency` (converted with the hour's divine price; null "
                             "where that hour has none); roi and the break-even amount are unit-free.")
class StrategyOutcome:
    policy: Policy
    input_item: Item = strawberry.field(description="The family member bought (cheapest for buyQuantity).")
    # money fields are in the `currency` asked for: null in an hour without a divine price
    input_unit_cost: float | None
    quantity: int
    reroll_cost: float | None = strawberry.field(
        description="Cost of one reroll of one unit, in the currency asked for (default: the paid one).")
    expected_rerolls: float
    expected_sale_value: float | None
    expected_profit_per_unit: float | None
    expected_profit_total: float | None
    roi: float | None
    break_even_reroll_cost: float | None = strawberry.field(
        description="The reroll cost at which the policy stops paying; null when it never / always pays.")
    stop_set: list[strawberry.ID] = strawberry.field(description="The members the policy sells.")
    break_even_reroll_amount: float | None = strawberry.field(default=None, description=(
        "The break-even in the reroll item's units: how many of it (e.g. primal lifeforce) one reroll may cost "
        "before the policy stops paying, at the depth-aware unit price this hour paid for rerollCostAmount of it (compare rerollCostAmount)."))


@strawberry.type(description="A stored profitability row: one strategy, policy and hour.")
class ProfitabilityRow(StrategyOutcome):
    strategy: str
    hour: datetime
    simulated: bool
    price_source: str = strawberry.field(description=(
        "Where the hour's prices came from: `book` (the stored order books: depth-aware buying, robust minimum "
        "sale prices) or `exchange` (an hour without a book, priced from the Currency Exchange's executed vwaps)."))


@strawberry.type
class ProfitabilityConnection:
    nodes: list[ProfitabilityRow]
    page_info: PageInfo


@strawberry.type
class Weight:
    item: Item
    weight: float


@strawberry.input(description="A relative reroll outcome weight; members left out weigh 1.")
class WeightInput:
    item: strawberry.ID
    weight: float


@strawberry.type(description="A configured reroll strategy (from the watchlist).")
class Strategy:
    name: str
    family: list[Item]
    reroll_cost_item: Item
    reroll_cost_amount: float
    units_per_reroll: int
    buy_quantity: int
    top_k: int
    weights: list[Weight] | None


@strawberry.type
class EvaluatedHour:
    hour: datetime
    top_k: StrategyOutcome | None
    optimal: StrategyOutcome | None
    unavailable_reason: str | None = strawberry.field(
        description="Why this hour could not be priced (e.g. a missing snapshot); null when it was.")


@strawberry.type
class EvaluationSummary:
    hours: int
    hours_evaluated: int
    profitable_hours_top_k: int
    profitable_hours_optimal: int
    mean_profit_per_unit_top_k: float | None
    mean_profit_per_unit_optimal: float | None


@strawberry.type(description="A what-if: the strategy math over stored snapshots, with your parameters.")
class StrategyEvaluation:
    strategy: Strategy = strawberry.field(description="The parameters used (the base strategy with your overrides).")
    from_: datetime = strawberry.field(name="from")
    to: datetime
    summary: EvaluationSummary
    hours: list[EvaluatedHour]


@strawberry.type
class CoverageHour:
    hour: datetime
    stored: int = strawberry.field(description="Watched items with a stored raw response.")
    snapshots: int = strawberry.field(description="Watched items with a price snapshot.")
    missing: list[strawberry.ID] = strawberry.field(description="Watched items without a raw response.")
    simulated: bool = strawberry.field(description="Whether any stored response of the hour is simulated.")
    complete: bool


@strawberry.type(description="Which hours and items are stored in [from, to) for the watched items.")
class Coverage:
    league: str
    from_: datetime = strawberry.field(name="from")
    to: datetime
    items: list[strawberry.ID]
    hours_total: int
    hours_complete: int
    hours_partial: int
    hours_empty: int
    simulated_hours: int
    hours: list[CoverageHour]


@strawberry.type(description="One stored raw trade response, verbatim (for audit).")
class RawResponse:
    id: strawberry.ID
    item: Item
    hour: datetime
    league: str
    paid_with: str
    request_path: str
    request_body: JSON  # type: ignore[valid-type]
    status_code: int
    response_body: JSON | None = strawberry.field(  # type: ignore[valid-type]
        description="The response body (~40 kB); only read from the database when selected.")
    rate_limit_headers: JSON  # type: ignore[valid-type]
    fetched_at: datetime
    duration_ms: float
    attempt: int
    response_bytes: int
    simulated: bool


@strawberry.type
class RawResponseConnection:
    nodes: list[RawResponse]
    page_info: PageInfo
