"""Prices in chaos and divine: every item's chaos/divine ratio in one hour is that hour's divine price."""

from __future__ import annotations

from helpers.databases import insert_exchange_price
import json
from datetime import timedelta

import pytest

SERIES = """query($items: [ID!], $from: DateTime, $to: DateTime, $currency: Currency) {
  priceSeries(items: $items, from: $from, to: $to, currency: $currency) { item { id } time close robustClose avgPrice } }"""
DIVINE = """query($from: DateTime, $to: DateTime, $bucket: Bucket!) {
  divinePrice(from: $from, to: $to, bucket: $bucket) { points time chaosPerDivine divineVolume } }"""
LATEST = "query($c: Currency) { latestPrices(currency: $c) { item { id } robustMinPrice paidWith } }"


@pytest.fixture(scope="module")
def rates(history, db):
    """The divine's price in chaos, 150 + hour index, on the last 12 hours of the history (none before)."""
    first = history.end - timedelta(hours=12)
    values = {}
    for i in range(12):
        hour = first + timedelta(hours=i)
        values[hour] = 150.0 + i
        insert_exchange_price(db, "Standard", hour, "divine", "Metadata/Items/Currency/CurrencyModValues", "chaos",
                              values[hour], 10)
    return first, values


def test_every_items_chaos_price_is_its_divine_price_times_the_hours_divine_price(api, history, rates, watchlist):
    first, values = rates
    span = {"items": list(watchlist.items), "from": (first - timedelta(hours=2)).isoformat(),
            "to": history.end.isoformat()}
    divine = api.data(SERIES, {**span, "currency": "DIVINE"})["priceSeries"]
    chaos = api.data(SERIES, {**span, "currency": "CHAOS"})["priceSeries"]
    default = api.data(SERIES, span)["priceSeries"]
    assert default == divine  # the watchlist pays in divine
    compared = 0
    for d, c in zip(divine, chaos):
        assert d["time"] == c["time"]
        for t, dv, cv, da, ca in zip(d["time"], d["robustClose"], c["robustClose"], d["avgPrice"], c["avgPrice"]):
            rate = values.get(_hour(t))
            if rate is None:  # no divine price that hour: no converted value
                assert cv is None and ca is None
                continue
            # the simulated market prices every item in every hour: no value may be missing
            assert None not in (dv, cv, da, ca), (d["item"], t)
            assert cv / dv == pytest.approx(rate, rel=1e-12) and ca / da == pytest.approx(rate, rel=1e-12)
            compared += 1
    assert compared == 12 * len(watchlist.items)


def _hour(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text)


def test_divine_price_is_the_rate_series_and_latest_prices_say_their_unit(api, history, rates):
    first, values = rates
    hourly = api.data(DIVINE, {"from": history.start.isoformat(), "to": history.end.isoformat(), "bucket": "HOUR"})
    series = hourly["divinePrice"]
    assert series["points"] == 12 and series["chaosPerDivine"] == [values[h] for h in sorted(values)]
    daily = api.data(DIVINE, {"from": history.start.isoformat(), "to": history.end.isoformat(), "bucket": "DAY"})
    assert sum(daily["divinePrice"]["divineVolume"]) == 120
    latest = api.data(LATEST, {"c": "CHAOS"})["latestPrices"]
    assert {row["paidWith"] for row in latest} == {"chaos"}
    by_item = {r["item"]["id"]: r["robustMinPrice"] for r in api.data(LATEST, {"c": "DIVINE"})["latestPrices"]}
    newest = max(values)
    assert len(latest) == len(by_item) and None not in by_item.values()
    for row in latest:
        assert row["robustMinPrice"] / by_item[row["item"]["id"]] == pytest.approx(values[newest])


def test_the_csv_export_takes_a_currency(api, history, rates):
    first, values = rates
    params = {"item": "deafening-essence-of-greed", "from": first.isoformat(), "to": history.end.isoformat()}
    chaos = api.client.get("/export/price-series.csv", params={**params, "currency": "chaos"})
    divine = api.client.get("/export/price-series.csv", params=params)
    assert chaos.status_code == divine.status_code == 200
    assert chaos.text != divine.text
    bad = api.client.get("/export/price-series.csv", params={**params, "currency": "exalted"})
    assert bad.status_code == 400 and "currency" in bad.text


EVALUATE = """query($from: DateTime, $to: DateTime, $amount: Float) {
  evaluateStrategy(from: $from, to: $to, rerollCostAmount: $amount) {
    hours { optimal { rerollCost breakEvenRerollCost breakEvenRerollAmount } } } }"""


def test_evaluate_strategy_gives_the_break_even_in_reroll_item_units(api, history):
    span = {"from": (history.end - timedelta(hours=6)).isoformat(), "to": history.end.isoformat()}
    checked = 0
    for amount in (30.0, 60.0):
        hours = api.data(EVALUATE, {**span, "amount": amount})["evaluateStrategy"]["hours"]
        for hour in hours:
            o = hour["optimal"]
            if o and o["breakEvenRerollCost"] is not None:
                # the reroll costs `amount` lifeforce: break-even lifeforce = amount × break-even cost / cost
                assert o["breakEvenRerollAmount"] == pytest.approx(amount * o["breakEvenRerollCost"] / o["rerollCost"])
                checked += 1
    assert checked


def test_divine_price_falls_back_to_the_order_book_where_the_exchange_traded_no_divine(api, history, rates, db):
    first, values = rates
    book = {first - timedelta(hours=4): 190.0, first - timedelta(hours=3): 200.0}
    with db.cursor() as cur:
        cur.executemany("INSERT INTO warehouse.book_divine_prices (game, league, observed_hour, chaos_per_divine, "
                        "min_price, listing_count, total_stock, simulated, raw_response_id) "
                        "VALUES ('poe1', 'Standard', %s, %s, %s, 3, 30, true, 0)",
                        [(hour, rate, rate) for hour, rate in book.items()])
        # an hour the exchange covers keeps the exchange's rate even with a book stored for it
        cur.execute("INSERT INTO warehouse.book_divine_prices (game, league, observed_hour, chaos_per_divine, "
                    "min_price, listing_count, total_stock, simulated, raw_response_id) "
                    "VALUES ('poe1', 'Standard', %s, 999, 999, 3, 30, true, 0)", (first,))
    try:
        span = {"from": (first - timedelta(hours=4)).isoformat(), "to": (first + timedelta(hours=1)).isoformat()}
        query = """query($from: DateTime, $to: DateTime, $bucket: Bucket!) {
          divinePrice(from: $from, to: $to, bucket: $bucket) { time chaosPerDivine divineVolume bookHours } }"""
        hourly = api.data(query, {**span, "bucket": "HOUR"})["divinePrice"]
        assert [_hour(t) for t in hourly["time"]] == [*sorted(book), first]
        assert hourly["chaosPerDivine"] == [190.0, 200.0, values[first]]
        assert hourly["bookHours"] == [1, 1, 0] and hourly["divineVolume"] == [None, None, 10]
        daily = api.data(query, {**span, "bucket": "DAY"})["divinePrice"]
        # a bucket with executed trades is their vwap, whatever the book says; one without is the book's mean.
        # The five hours fall into one day or two, depending on the hour the history ends.
        days: dict = {}
        for hour in [*sorted(book), first]:
            days.setdefault(hour.replace(hour=0), []).append(hour)
        expected = [(10, values[first]) if first in hours else (None, sum(book[h] for h in hours) / len(hours))
                    for _, hours in sorted(days.items())]
        assert daily["divineVolume"] == [volume for volume, _ in expected]
        assert daily["chaosPerDivine"] == pytest.approx([price for _, price in expected])
    finally:
        db.execute("DELETE FROM warehouse.book_divine_prices")
