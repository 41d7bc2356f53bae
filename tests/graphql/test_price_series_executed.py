"""`priceSeries` carries the Currency Exchange's executed price and volume beside the book's,
aligned with the book's buckets, in the requested currency; the cost counts the join."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from graphql import parse

from graphql_api.cost import operation_cost
from helpers.databases import insert_exchange_price

GREED = "deafening-essence-of-greed"
GREED_PATH = "Metadata/Items/Currency/CurrencyDeafeningEssenceGreed"
SERIES = """query($from: DateTime, $to: DateTime, $bucket: Bucket!, $currency: Currency) {
  priceSeries(item: "%s", from: $from, to: $to, bucket: $bucket, currency: $currency) {
    points time close hours executedPrice executedVolume } }""" % GREED


@pytest.fixture(scope="module")
def trades(history, db):
    """Greed's trades on the first full UTC day of the history, hours 2–4 (and one hour without a book)."""
    day = history.start.replace(hour=0) + timedelta(days=1)
    hours = [day + timedelta(hours=h) for h in (2, 3, 4)]
    insert_exchange_price(db, "Standard", hours[0], GREED, GREED_PATH, "divine", 2.0, 10)
    insert_exchange_price(db, "Standard", hours[1], GREED, GREED_PATH, "divine", 4.0, 30)
    # an hour whose market was listed but did not trade: no price, no volume
    db.execute("INSERT INTO warehouse.exchange_prices (realm, league, item_key, quote_currency, observed_hour, "
               "item_first, vwap_price, volume, quote_volume) SELECT 'pc', 'Standard', item_key, 'divine', %s, true, "
               "NULL, 0, 0 FROM warehouse.exchange_items WHERE item_path = %s", (hours[2], GREED_PATH))
    insert_exchange_price(db, "Standard", hours[0], GREED, GREED_PATH, "chaos", 300.0, 5)
    insert_exchange_price(db, "Hardcore", hours[0], GREED, GREED_PATH, "divine", 99.0, 99)  # another league
    # the hour without any stored book: traded, but priceSeries has no bucket for it
    insert_exchange_price(db, "Standard", history.empty_hour, GREED, GREED_PATH, "divine", 7.0, 70)
    return day, hours


def _range(day: datetime, days: int = 1) -> dict:
    return {"from": day.isoformat(), "to": (day + timedelta(days=days)).isoformat()}


def test_hourly_executed_columns_are_aligned_with_the_books_buckets(api, history, trades):
    day, hours = trades
    (series,) = api.data(SERIES, {**_range(day), "bucket": "HOUR"})["priceSeries"]
    assert series["points"] == len(series["time"]) == len(series["executedPrice"]) == len(series["executedVolume"])
    by_time = {datetime.fromisoformat(t): (p, v) for t, p, v in
               zip(series["time"], series["executedPrice"], series["executedVolume"])}
    assert by_time[hours[0]] == (2.0, 10) and by_time[hours[1]] == (4.0, 30) and by_time[hours[2]] == (None, 0)
    assert all(value == (None, None) for t, value in by_time.items() if t not in hours)
    # over a range holding the hour without a book, that hour's trade has no bucket to sit in
    (wide,) = api.data(SERIES, {**_range(day, days=3), "bucket": "HOUR"})["priceSeries"]
    assert history.empty_hour not in {datetime.fromisoformat(t) for t in wide["time"]}
    assert sum(v for v in wide["executedVolume"] if v is not None) == 40


def test_a_days_executed_price_is_its_volume_weighted_price_in_the_currency_asked(api, trades):
    day, _ = trades
    (daily,) = api.data(SERIES, {**_range(day), "bucket": "DAY"})["priceSeries"]
    assert daily["points"] == 1 and daily["hours"] == [24]
    assert daily["executedPrice"] == [pytest.approx((2.0 * 10 + 4.0 * 30) / 40)] and daily["executedVolume"] == [40]
    (chaos,) = api.data(SERIES, {**_range(day), "bucket": "DAY", "currency": "CHAOS"})["priceSeries"]
    assert chaos["executedPrice"] == [300.0] and chaos["executedVolume"] == [5]


def test_the_executed_columns_double_the_cost_only_when_asked_for(watchlist):
    plain = 'query { priceSeries(item: "x", from: "2025-01-01T00:00Z", to: "2025-03-01T00:00Z") { close } }'
    executed = ('query { priceSeries(item: "x", from: "2025-01-01T00:00Z", to: "2025-03-01T00:00Z") '
                '{ ...E } } fragment E on PriceSeries { close executedVolume }')
    base = operation_cost(parse(plain), None, {}, len(watchlist.items))
    assert base == 3  # 1 + 1416 hours / 1000, rounded up
    assert operation_cost(parse(executed), None, {}, len(watchlist.items)) == 4  # 1 + 2 × 1.416
