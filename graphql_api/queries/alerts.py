"""`alerts`: the stored crossings of the watchlist's alert rules (warehouse.alerts)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graphql_api import limits
from graphql_api.context import ApiContext
from graphql_api.db import fetch_all
from graphql_api.errors import did_you_mean, not_found
from graphql_api.inputs import TimeRange
from graphql_api.types import Item, item_of


@strawberry.type(description="One firing of an alert rule: the hour its condition became true (it fires again only "
                             "after the condition was false for a whole hour).")
class Alert:
    rule: str = strawberry.field(description="The rule's name in the watchlist.")
    hour: datetime = strawberry.field(description="The observed hour in which the condition became true (UTC).")
    league: str
    kind: str = strawberry.field(description="`price` (an item's price) or `profit` (a strategy's profit per unit).")
    item: Item | None = strawberry.field(description="The item of a price rule.")
    strategy: str | None = strawberry.field(description="The strategy of a profit rule.")
    policy: str | None = strawberry.field(description="The selling policy of a profit rule (top_k or optimal).")
    source: str = strawberry.field(description="What was compared: `book` (the hour's robust minimum ask), "
                                               "`exchange` (the executed vwap) or `profitability`.")
    comparison: str = strawberry.field(description="`below` or `above` the threshold (strictly).")
    threshold: float = strawberry.field(description="The rule's level, in `currency`.")
    value: float = strawberry.field(description="The value that crossed it, in `currency`.")
    currency: str = strawberry.field(description="The unit of `value` and `threshold` (chaos or divine).")


SQL = """
SELECT rule, observed_hour, league, kind, item_id, strategy, policy, source, comparison, threshold, value, currency
FROM warehouse.alerts
WHERE game = %(game)s AND league = %(league)s AND observed_hour >= %(start)s AND observed_hour < %(end)s
  AND (%(rule)s::text IS NULL OR rule = %(rule)s)
ORDER BY observed_hour, rule
LIMIT %(limit)s
"""


async def alerts(ctx: ApiContext, league: str, span: TimeRange, rule: str | None) -> list[Alert]:
    if rule is not None and rule not in {a.name for a in ctx.watchlist.alerts}:
        configured = sorted(a.name for a in ctx.watchlist.alerts)
        raise not_found("rule", f"no alert rule named {rule[:80]!r}{did_you_mean(rule, configured)}; "
                                f"the watchlist has "
                                f"{', '.join(configured) if configured else 'no alert rules'}")
    ctx.cache.read_range(span.end)
    rows = await fetch_all(ctx.pool, SQL, {"game": ctx.watchlist.game, "league": league, "start": span.start,
                                           "end": span.end, "rule": rule, "limit": limits.MAX_PAGE})
    return [Alert(rule=r["rule"], hour=r["observed_hour"], league=r["league"], kind=r["kind"],
                  item=item_of(r["item_id"], r["item_id"] in ctx.watched) if r["item_id"] else None,
                  strategy=r["strategy"], policy=r["policy"], source=r["source"], comparison=r["comparison"],
                  threshold=r["threshold"], value=r["value"], currency=r["currency"]) for r in rows]
