"""`profitability` (stored history) and `evaluateStrategy` (the core math, re-run on
stored snapshots with the caller's parameters, in a worker process; closed hours come from
the results cache)."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime

from graphql_api.caching import NEWEST_COLUMN, NEWEST_SQL, with_newest
from graphql_api.context import ApiContext
from graphql_api.currency import converted, divine_rate_column, divine_rates
from graphql_api.db import fetch_all
from graphql_api.evaluation import (PROFIT_PER_UNIT, HourRecord, OutcomeRecord, break_even_amount, evaluate_hours,
                                    spec_fields, stop_members)
from graphql_api.result_cache import settled, spec_key
from graphql_api.errors import bad_input, did_you_mean, not_found
from graphql_api.inputs import TimeRange, decode_cursor, encode_cursor
from graphql_api.json_rows import JsonRows, RowPlan, item_columns, page_sql, text_array
from graphql_api.queries.catalog import strategy_type
from graphql_api.types import (EvaluatedHour, EvaluationSummary, PageInfo, Policy, ProfitabilityConnection,
                               ProfitabilityRow, StrategyEvaluation, StrategyOutcome, WeightInput, item_of)
from tradewatch.hours import hours_between
from tradewatch.market.currency import convert
from tradewatch.market.strategy import StrategySpec
from tradewatch.watchlist import MAX_AMOUNT, MAX_WHOLE, MIN_AMOUNT


def configured_strategy(ctx: ApiContext, name: str | None, argument: str = "strategy") -> StrategySpec:
    specs = {s.name: s for s in ctx.watchlist.strategies}
    if name is None:
        if not specs:
            raise not_found(argument, "no strategy is configured in the watchlist; add one under `strategies`")
        return ctx.watchlist.strategies[0]
    if name not in specs:
        raise not_found(argument, f"unknown strategy {name[:100]!r}{did_you_mean(name, list(specs))}; "
                                  f"configured: {sorted(specs) or 'none'}")
    return specs[name]


# ProfitabilityRow's fields over a page row `p` (json_rows.row_plan), in the stored currency
PROFITABILITY_JSON = {
    "strategy": "p.strategy", "policy": "p.policy", "hour": "p.observed_hour", "inputItem": item_columns("p.input_item_id"),
    "inputUnitCost": "p.input_unit_cost", "quantity": "p.quantity", "rerollCost": "p.reroll_cost",
    "expectedRerolls": "p.expected_rerolls", "expectedSaleValue": "p.expected_sale_value",
    "expectedProfitPerUnit": "p.expected_profit_per_unit", "expectedProfitTotal": "p.expected_profit_total",
    "roi": "p.roi", "breakEvenRerollCost": "p.break_even_reroll_cost", "stopSet": "p.stop_set",
    "simulated": "p.simulated", "priceSource": "p.price_source"}


async def profitability(ctx: ApiContext, league: str, strategy: str | None, policy: Policy | None,
                        span: TimeRange, first: int, after: str | None,
                        unit: str | None = None, plan: RowPlan | None = None) -> ProfitabilityConnection:
    """A page of stored profitability; with `plan` (the selection of `nodes` compiled by
    json_rows.row_plan) and prices in the stored currency its rows come as JSON built by PostgreSQL,
    unless a value of the page needs the normal path."""
    if strategy is not None:
        configured_strategy(ctx, strategy)
    ctx.cache.read_range(span.end)
    wl = ctx.watchlist
    unit = unit or wl.paid_with
    params: dict = {"game": wl.game, "league": league, "paid": wl.paid_with, "start": span.start, "end": span.end,
                    "strategy": strategy, "policy": policy.value if policy else None, "limit": first + 1}
    keyset = ""
    cursor = decode_cursor(after, (datetime, str, str))
    if cursor is not None:
        params["ah"], params["astrat"], params["apol"] = cursor
        keyset = "AND (observed_hour, strategy, policy) > (%(ah)s, %(astrat)s, %(apol)s)"
    sql = f"""
        SELECT strategy, policy, observed_hour, input_item_id, input_unit_cost, quantity, reroll_cost,
               expected_rerolls, expected_sale_value, expected_profit_per_unit, expected_profit_total, roi,
               break_even_reroll_cost, stop_set, simulated, price_source,
               {divine_rate_column(ctx, unit, "reroll_profitability")}
        FROM warehouse.reroll_profitability
        WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s
          AND observed_hour >= %(start)s AND observed_hour < %(end)s
          AND (%(strategy)s::text IS NULL OR strategy = %(strategy)s)
          AND (%(policy)s::text IS NULL OR policy = %(policy)s) {keyset}
        ORDER BY observed_hour, strategy, policy
        LIMIT %(limit)s"""
    if plan is not None and unit == wl.paid_with:
        page = (await fetch_all(ctx.pool, page_sql(sql, plan, first, ("observed_hour", "strategy", "policy"),
                                                   NEWEST_COLUMN), {**params, "watched": text_array(ctx.watched)}))[0]
        ctx.cache.saw_newest(page["tw_newest"])
        if page["clean"] is not False:  # null: no rows
            end = (encode_cursor(page["last_observed_hour"], page["last_strategy"], page["last_policy"])
                   if page["n"] else None)
            return ProfitabilityConnection(nodes=JsonRows(page["nodes"] or "[]", plan.field_nodes),  # type: ignore[arg-type]
                                           page_info=PageInfo(has_next_page=page["n"] > first, end_cursor=end))
    rows = await fetch_all(ctx.pool, with_newest(sql), params)
    ctx.cache.saw_newest_of(rows)
    more = len(rows) > first
    rows = rows[:first]
    amounts = {spec.name: spec.reroll_cost_amount for spec in ctx.watchlist.strategies}
    nodes = [
        ProfitabilityRow(
            break_even_reroll_amount=break_even_amount(r["break_even_reroll_cost"], r["reroll_cost"],
                                                       amounts.get(r["strategy"])),
            strategy=r["strategy"], policy=Policy(r["policy"]), hour=r["observed_hour"],
            input_item=item_of(r["input_item_id"], r["input_item_id"] in ctx.watched),
            input_unit_cost=r["input_unit_cost"], quantity=r["quantity"], reroll_cost=r["reroll_cost"],
            expected_rerolls=r["expected_rerolls"], expected_sale_value=r["expected_sale_value"],
            expected_profit_per_unit=r["expected_profit_per_unit"],
            expected_profit_total=r["expected_profit_total"], roi=r["roi"],
            break_even_reroll_cost=r["break_even_reroll_cost"], stop_set=list(r["stop_set"]),
            simulated=r["simulated"], price_source=r["price_source"])
        for r in rows
    ]
    nodes = [converted(n, wl.paid_with, unit, r["chaos_per_divine"]) for n, r in zip(nodes, rows)]
    end = encode_cursor(rows[-1]["observed_hour"], rows[-1]["strategy"], rows[-1]["policy"]) if rows else None
    return ProfitabilityConnection(nodes=nodes, page_info=PageInfo(has_next_page=more, end_cursor=end))


def what_if_spec(base: StrategySpec, *, reroll_cost_amount: float | None, units_per_reroll: int | None,
                 buy_quantity: int | None, top_k: int | None, weights: list[WeightInput] | None) -> StrategySpec:
    """The base strategy with the caller's overrides; each bad value names its argument."""
    changes: dict = {}
    # the watchlist's bounds: beyond them the strategy math over- or underflows (inf, 0)
    if reroll_cost_amount is not None:
        if not (math.isfinite(reroll_cost_amount) and MIN_AMOUNT <= reroll_cost_amount <= MAX_AMOUNT):
            raise bad_input("rerollCostAmount", f"{reroll_cost_amount} must be a number from {MIN_AMOUNT:g} "
                                                f"to {MAX_AMOUNT:g}")
        changes["reroll_cost_amount"] = reroll_cost_amount
    for argument, field, value in (("unitsPerReroll", "units_per_reroll", units_per_reroll),
                                   ("buyQuantity", "buy_quantity", buy_quantity), ("topK", "top_k", top_k)):
        if value is not None:
            if value < 1:
                raise bad_input(argument, f"{value} must be at least 1")
            changes[field] = value
    if top_k is not None and top_k >= len(base.family):
        raise bad_input("topK", f"{top_k} must be smaller than the family size ({len(base.family)})")
    if buy_quantity is not None and buy_quantity > MAX_WHOLE:
        raise bad_input("buyQuantity", f"{buy_quantity} is more than {MAX_WHOLE}")
    if weights is not None:
        mapping: dict[str, float] = {}
        for index, w in enumerate(weights):
            if w.item not in base.family:
                raise bad_input(f"weights[{index}].item", f"{w.item!r} is not a member of the family of {base.name!r}")
            if not (math.isfinite(w.weight) and MIN_AMOUNT <= w.weight <= MAX_AMOUNT):
                raise bad_input(f"weights[{index}].weight", f"{w.weight} must be a number from {MIN_AMOUNT:g} "
                                                            f"to {MAX_AMOUNT:g}")
            if w.item in mapping:
                raise bad_input(f"weights[{index}].item", f"{w.item!r} is weighted twice")
            mapping[w.item] = w.weight
        changes["weights"] = mapping or None
    try:
        return replace(base, **changes)
    except ValueError as exc:  # the core's own check, as a last line
        raise bad_input("strategy", str(exc)) from None


def _outcome(record: OutcomeRecord, policy: Policy, family: tuple[str, ...],
             watched: tuple[str, ...]) -> StrategyOutcome:
    (input_item, input_unit_cost, quantity, reroll_cost, expected_rerolls, expected_sale_value, profit_per_unit,
     profit_total, roi, break_even, stop_mask, break_even_amount_) = record
    return StrategyOutcome(
        policy=policy, input_item=item_of(input_item, input_item in watched), input_unit_cost=input_unit_cost,
        quantity=quantity, reroll_cost=reroll_cost, expected_rerolls=expected_rerolls,
        expected_sale_value=expected_sale_value, expected_profit_per_unit=profit_per_unit,
        expected_profit_total=profit_total, roi=roi, break_even_reroll_cost=break_even,
        stop_set=stop_members(stop_mask, family), break_even_reroll_amount=break_even_amount_)


def _evaluated_hour(record: HourRecord, family: tuple[str, ...], watched: tuple[str, ...], paid_with: str,
                    unit: str, rate: float | None) -> EvaluatedHour:
    hour, top_k, optimal, reason = record
    if top_k is None or optimal is None:
        return EvaluatedHour(hour=hour, top_k=None, optimal=None, unavailable_reason=reason)
    return EvaluatedHour(hour=hour, top_k=converted(_outcome(top_k, Policy.TOP_K, family, watched), paid_with, unit, rate),
                         optimal=converted(_outcome(optimal, Policy.OPTIMAL, family, watched), paid_with, unit, rate),
                         unavailable_reason=None)


async def _records(ctx: ApiContext, league: str, spec: StrategySpec, span: TimeRange) -> list[HourRecord]:
    """Every hour of the range: closed hours from the results cache, the rest computed in a worker."""
    wl = ctx.watchlist
    hours = [h for h in hours_between(span.start, span.end) if h >= span.start]
    key = spec_key(spec, wl.game, league, wl.paid_with)
    known = ctx.results.get_many(key, hours)
    missing = [h for h in hours if h not in known]
    if missing:
        computed = await ctx.workers.run(evaluate_hours, ctx.database_url, ctx.statement_timeout_ms, spec_fields(spec), wl.game,
                                         league, wl.paid_with, missing, deadline=ctx.deadline)
        newest = (await fetch_all(ctx.pool, NEWEST_SQL, rows_as_dicts=False))[0][0]
        ctx.results.put_many(key, (r for r in computed if settled(r[0], ctx.grace, newest)))
        known.update((r[0], r) for r in computed)
    return [known[h] for h in hours]


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _summary(records: list[HourRecord], paid_with: str, unit: str, rates: dict[datetime, float]) -> EvaluationSummary:
    """The summary straight from the records: no per-hour objects (the common question asks only this)."""
    done = [r for r in records if r[1] is not None]
    # whether an hour paid does not depend on the unit; the means are over the hours with a value in it
    if unit == paid_with:
        top_k = [r[1][PROFIT_PER_UNIT] for r in done]
        optimal = [r[2][PROFIT_PER_UNIT] for r in done]
    else:
        top_k = [convert(r[1][PROFIT_PER_UNIT], paid_with, unit, rates.get(r[0])) for r in done]
        optimal = [convert(r[2][PROFIT_PER_UNIT], paid_with, unit, rates.get(r[0])) for r in done]
    return EvaluationSummary(
        hours=len(records), hours_evaluated=len(done),
        profitable_hours_top_k=sum(1 for r in done if r[1][PROFIT_PER_UNIT] > 0),
        profitable_hours_optimal=sum(1 for r in done if r[2][PROFIT_PER_UNIT] > 0),
        mean_profit_per_unit_top_k=_mean([v for v in top_k if v is not None]),
        mean_profit_per_unit_optimal=_mean([v for v in optimal if v is not None]))


async def evaluate(ctx: ApiContext, league: str, spec: StrategySpec, span: TimeRange,
                   unit: str | None = None, with_hours: bool = True) -> StrategyEvaluation:
    """The what-if answer; its `hours` (an object per hour and policy) are built only `with_hours`
    (empty otherwise: the resolver passes whether `hours` is selected)."""
    ctx.cache.read_range(span.end)
    paid_with = ctx.watchlist.paid_with
    unit = unit or paid_with
    records = await _records(ctx, league, spec, span)
    rates = await divine_rates(ctx, league, span, unit)
    hours = [_evaluated_hour(r, spec.family, ctx.watched, paid_with, unit, rates.get(r[0]))
             for r in records] if with_hours else []
    return StrategyEvaluation(strategy=strategy_type(spec, ctx.watched), from_=span.start, to=span.end,
                              summary=_summary(records, paid_with, unit, rates), hours=hours)
