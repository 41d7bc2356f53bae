"""`currency` on the profitability fields: every money field in chaos is the divine one times the
hour's divine price (here from the order book's fallback, `source = 'book'`), null where the hour
has none; roi, counts and the break-even in reroll-item units do not change with the unit."""

from __future__ import annotations

from datetime import timedelta

import pytest

MONEY = ("inputUnitCost", "rerollCost", "expectedSaleValue", "expectedProfitPerUnit", "expectedProfitTotal",
         "breakEvenRerollCost")
FREE = ("policy", "quantity", "expectedRerolls", "roi", "breakEvenRerollAmount", "stopSet")
OUTCOME = " ".join(MONEY + FREE)
PROFITS = ("query($f: DateTime, $t: DateTime, $c: Currency) { profitability(from: $f, to: $t, first: 500, "
           f"currency: $c) {{ nodes {{ strategy hour {OUTCOME} }} }} }}")
EVALUATE = ("query($f: DateTime, $t: DateTime, $c: Currency) { evaluateStrategy(from: $f, to: $t, currency: $c) { "
            "summary { hoursEvaluated profitableHoursTopK profitableHoursOptimal meanProfitPerUnitTopK "
            f"meanProfitPerUnitOptimal }} hours {{ hour topK {{ {OUTCOME} }} optimal {{ {OUTCOME} }} }} }} }}")


@pytest.fixture(scope="module")
def book_rates(history, db):
    """Divine prices from the order book only (no exchange rows), 170 + index, on 6 hours a day before the
    end (earlier than test_currency's exchange rates); removed afterwards (the database is shared)."""
    first = history.end - timedelta(hours=22)
    rates = {first + timedelta(hours=i): 170.0 + i for i in range(6)}
    for hour, rate in rates.items():
        db.execute("INSERT INTO warehouse.book_divine_prices (game, league, observed_hour, chaos_per_divine, min_price, "
                   "listing_count, total_stock, raw_response_id) VALUES ('poe1', 'Standard', %s, %s, %s, 1, 1, 0)",
                   (hour, rate, rate))
    yield first, rates
    db.execute("DELETE FROM warehouse.book_divine_prices WHERE raw_response_id = 0")


def _span(first):
    return {"f": (first - timedelta(hours=2)).isoformat(), "t": (first + timedelta(hours=8)).isoformat()}


def _same_but_money(divine: dict, chaos: dict, rate: float | None) -> None:
    for name in FREE:
        assert chaos[name] == divine[name], name
    for name in MONEY:
        if rate is None or divine[name] is None:
            assert chaos[name] is None, name
        else:
            assert chaos[name] == pytest.approx(divine[name] * rate, rel=1e-12), name


def test_profitability_in_chaos_is_the_divine_value_times_the_hours_book_divine_price(api, book_rates, db):
    first, rates = book_rates
    assert db.execute("SELECT DISTINCT source FROM analytics.exchange_divine_price WHERE observed_hour >= %s "
                      "AND observed_hour < %s", (first, first + timedelta(hours=6))).fetchall() == [("book",)]
    default = api.data(PROFITS, _span(first))["profitability"]["nodes"]
    divine = api.data(PROFITS, {**_span(first), "c": "DIVINE"})["profitability"]["nodes"]
    chaos = api.data(PROFITS, {**_span(first), "c": "CHAOS"})["profitability"]["nodes"]
    assert default == divine and len(chaos) == len(divine) == 10 * 2  # 10 hours × (top-K, optimal)
    converted = 0
    for d, c in zip(divine, chaos, strict=True):
        assert (d["strategy"], d["hour"]) == (c["strategy"], c["hour"])
        rate = rates.get(_hour(d["hour"]))
        _same_but_money(d, c, rate)
        converted += rate is not None
    assert converted == 6 * 2  # the rows of the 6 hours with a rate; the 4 others are null


def test_evaluate_strategy_in_chaos_converts_every_hour_and_the_means(api, book_rates):
    first, rates = book_rates
    divine = api.data(EVALUATE, _span(first))["evaluateStrategy"]
    chaos = api.data(EVALUATE, {**_span(first), "c": "CHAOS"})["evaluateStrategy"]
    for d, c in zip(divine["hours"], chaos["hours"], strict=True):
        rate = rates.get(_hour(d["hour"]))
        for policy in ("topK", "optimal"):
            if d[policy] is not None:
                _same_but_money(d[policy], c[policy], rate)
    for name in ("hoursEvaluated", "profitableHoursTopK", "profitableHoursOptimal"):
        assert chaos["summary"][name] == divine["summary"][name]
    values = [h["topK"]["expectedProfitPerUnit"] for h in chaos["hours"]
              if h["topK"] is not None and h["topK"]["expectedProfitPerUnit"] is not None]
    assert len(values) == 6
    assert chaos["summary"]["meanProfitPerUnitTopK"] == pytest.approx(sum(values) / len(values), rel=1e-12)


def _hour(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)
