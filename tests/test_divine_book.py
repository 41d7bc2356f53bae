"""The divine price from the order book of divine paid in chaos, where the Currency Exchange has none.

On a real database: the raw asset's divine book is priced (robust minimum ask) with the
snapshots, and `analytics.exchange_divine_price` answers it with `source = 'book'` for an hour
the exchange does not cover, the exchange's rate (`source = 'exchange'`) where both exist; the
price views convert with whichever it answers. Over real HTTP: the simulator answers the divine
book in the real shape and `ingest_divine_book` stores it once per hour.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from helpers.databases import insert_exchange_price
from helpers.raw_rows import select_raw
from tradewatch.bulk_exchange.client import ExchangeResponse, exchange_body
from tradewatch.bulk_exchange.ingest import divine_book_key, ingest_divine_book
from tradewatch.bulk_exchange.raw_store import RawKey, insert_response
from tradewatch.hours import floor_hour, utc_now
from tradewatch.market.pricing import summarize_book
from tradewatch.warehouse.snapshots import compute_snapshots
from tradewatch.watchlist import load_watchlist

REAL_SAMPLE = Path(__file__).parent / "data" / "exchange_response_poe1_ancestor_have_chaos_want_divine.json"
GREED = "deafening-essence-of-greed"
H1 = datetime(2026, 11, 20, 10, tzinfo=timezone.utc)  # only the book has a divine price
H2 = H1 + timedelta(hours=1)                           # the exchange has one too
EXCHANGE_RATE = 181.5


def _store(conn, key: RawKey, hour: datetime, have: str, want: str) -> dict:
    from trade_sim import exchange_response

    request = exchange_body(have, want)
    body = exchange_response(request, hour, league=key.league)
    insert_response(conn, key, hour, want, ExchangeResponse(
        request_path=f"/api/trade/exchange/{key.league}", request_body=request, status_code=200, body=body,
        rate_limit_headers={}, fetched_at=hour + timedelta(minutes=5), duration_ms=1.0, attempt=1,
        response_bytes=len(json.dumps(body)), raw_body=json.dumps(body).encode()))
    return body


@pytest.fixture
def two_hours(pool, database_url):
    """Greed (paid in divine) and the divine book in H1 and H2, the exchange's divine price in H2 only."""
    watchlist = load_watchlist()
    books = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        for hour in (H1, H2):
            _store(conn, RawKey(watchlist.game, watchlist.league, watchlist.paid_with), hour, "divine", GREED)
            books[hour] = _store(conn, divine_book_key(watchlist), hour, "chaos", "divine")
        insert_exchange_price(conn, watchlist.league, H2, "divine", "Metadata/Items/Currency/CurrencyModValues",
                              "chaos", EXCHANGE_RATE, 40)
    report = compute_snapshots(pool, watchlist, H1, H2 + timedelta(hours=1))
    assert report.divine_book_hours == 2
    return books


def test_an_hour_with_only_the_book_divine_price_converts_with_it_and_says_book(two_hours, database_url):
    book_rate = summarize_book(two_hours[H1], "divine", "chaos").robust_min_price
    assert book_rate is not None and 100 < book_rate < 400  # the simulator's divine is ~165-245 chaos
    with psycopg.connect(database_url) as conn:
        rate, source = conn.execute("SELECT chaos_per_divine, source FROM analytics.exchange_divine_price "
                                    "WHERE league = 'Standard' AND observed_hour = %s", (H1,)).fetchone()
        price, chaos, divine = conn.execute(
            "SELECT robust_min_price, robust_min_price_chaos, robust_min_price_divine FROM analytics.price_history "
            "WHERE item_id = %s AND observed_hour = %s", (GREED, H1)).fetchone()
    assert (rate, source) == (pytest.approx(book_rate, rel=1e-12), "book")
    assert divine == price and chaos == pytest.approx(price * book_rate, rel=1e-12)


def test_an_hour_with_both_uses_the_exchange_divine_price(two_hours, database_url):
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT chaos_per_divine, source FROM analytics.exchange_divine_price "
                            "WHERE league = 'Standard' AND observed_hour = %s", (H2,)).fetchall()
        price, chaos = conn.execute("SELECT robust_min_price, robust_min_price_chaos FROM analytics.price_history "
                                    "WHERE item_id = %s AND observed_hour = %s", (GREED, H2)).fetchone()
        stored = conn.execute("SELECT count(*) FROM warehouse.book_divine_prices WHERE observed_hour = %s",
                              (H2,)).fetchone()[0]
    assert rows == [(EXCHANGE_RATE, "exchange")]  # one rate per hour, the exchange's first
    assert stored == 1  # the book's is kept all the same
    assert chaos == pytest.approx(price * EXCHANGE_RATE, rel=1e-12)


def test_a_rerun_replaces_the_book_divine_prices_of_its_window(two_hours, pool, database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM warehouse.raw_trade_responses WHERE item_id = 'divine' AND observed_hour = %s", (H1,))
    compute_snapshots(pool, load_watchlist(), H1, H2 + timedelta(hours=1))
    with psycopg.connect(database_url) as conn:
        hours = conn.execute("SELECT observed_hour FROM warehouse.book_divine_prices ORDER BY 1").fetchall()
        h1 = conn.execute("SELECT count(*) FROM analytics.exchange_divine_price WHERE observed_hour = %s",
                          (H1,)).fetchone()[0]
    assert hours == [(H2,)] and h1 == 0  # no book and no exchange: no rate, no guess


def test_the_divine_book_is_fetched_once_per_hour_in_the_real_shape(pool, start_sim):
    from tradewatch.bulk_exchange.client import TradeApiClient
    from tradewatch.rate_limit import PostgresRateLimiter

    watchlist = load_watchlist()
    hour = floor_hour(utc_now())
    sim = start_sim(time_scale=0.01, fixed_hour=hour)
    client = TradeApiClient(sim.url, watchlist.game, watchlist.league, "TradeWatch tests",
                            PostgresRateLimiter(pool, key="divine-book", pad=0.02, poll=0.02), backoff=0.02)
    try:
        grace = timedelta(minutes=15)
        assert ingest_divine_book(pool, client, watchlist, hour, utc_now(), grace) == "fetched"
        assert ingest_divine_book(pool, client, watchlist, hour, utc_now(), grace) == "already stored"
        past = hour - timedelta(hours=3)
        assert ingest_divine_book(pool, client, watchlist, past, utc_now(), grace) == "window closed"
    finally:
        client.close()
    assert sum(1 for *_, path in sim.app.state.request_log if "/exchange/" in path) == 1
    with pool.connection() as conn:
        (request, body), = select_raw(conn, "request_body, response_body",
                                      "WHERE item_id = 'divine' AND paid_with = 'chaos'")
    assert request["query"]["have"] == ["chaos"] and request["query"]["want"] == ["divine"]
    real = json.loads(REAL_SAMPLE.read_text())
    assert set(body) == set(real)
    listing, sample = next(iter(body["result"].values())), next(iter(real["result"].values()))
    assert set(listing) == set(sample) and set(listing["listing"]) == set(sample["listing"])
    # a listing may offer divines for several currencies (as the real site's do): chaos among them
    offers = [o for entry in body["result"].values() for o in entry["listing"]["offers"]]
    assert all(o["item"]["currency"] == "divine" for o in offers)
    offer, sample_offer = next(o for o in offers if o["exchange"]["currency"] == "chaos"), sample["listing"]["offers"][0]
    assert set(offer["item"]) == set(sample_offer["item"]) and set(offer["exchange"]) == set(sample_offer["exchange"])
    assert summarize_book(body, "divine", "chaos").robust_min_price is not None
