"""The Currency Exchange raw store and the exchange_prices writer on a real PostgreSQL, from real samples."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from tradewatch.currency_exchange.client import PUBLISHED, HourAnswer, read_envelope
from tradewatch.currency_exchange.raw_store import insert_hour, prepare, read_document
from tradewatch.warehouse.exchange_prices import compute_exchange_prices

SAMPLES = Path(__file__).parent / "data" / "currency_exchange"
ALLFLAME = SAMPLES / "pc_allflame_1787119200_profitofexile.json"
SETTLERS = SAMPLES / "pc_settlers_1722027600_pathofflipper_fragment.json"
EMPTY = SAMPLES / "pc_empty_hour_200_mirage_launch_1772816400.json"


def _hour(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _store(pool, path: Path, hour_seconds: int, realm: str = "pc") -> bytes:
    body = path.read_bytes()
    next_id, markets = read_envelope(body)
    answer = HourAnswer(realm=realm, hour=_hour(hour_seconds), kind=PUBLISHED, url=f"http://x/{hour_seconds}",
                        status_code=200, body=body, headers={"Content-Type": "application/json"},
                        fetched_at=datetime.now(timezone.utc), duration_ms=1.0, attempt=1,
                        response_bytes=len(body), next_change_id=next_id, market_count=markets)
    with pool.connection() as conn:
        assert insert_hour(conn, prepare(answer))
        assert not insert_hour(conn, prepare(answer))  # a stored hour is never replaced
    return body


def test_a_stored_document_comes_back_byte_for_byte_and_compressed(pool, database_url):
    body = _store(pool, ALLFLAME, 1787119200)
    with pool.connection() as conn:
        assert read_document(conn, "pc", _hour(1787119200)) == body
        assert read_document(conn, "pc", _hour(1787122800)) is None
        stored, received = conn.execute("SELECT stored_bytes, response_bytes FROM warehouse.raw_currency_exchange"
                                        ).fetchone()
    assert received == len(body) and stored / received <= 0.15
    env = {**os.environ, "TRADEWATCH_DATABASE_URL": database_url}
    shown = subprocess.run([sys.executable, "-m", "tradewatch.cli", "exchange", "show", "--hour", "2026-08-19T06:00Z"],
                           env=env, capture_output=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == body
    missing = subprocess.run([sys.executable, "-m", "tradewatch.cli", "exchange", "show", "--hour", "2026-08-19T07:00"],
                             env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 2 and "no Currency Exchange document" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_only_a_document_of_its_own_hour_can_be_stored(pool):
    body = ALLFLAME.read_bytes()  # next_change_id 1787122800 = the hour 1787119200 + 3600
    answer = HourAnswer(realm="pc", hour=_hour(1787122800), kind=PUBLISHED, url="http://x", status_code=200,
                        body=body, fetched_at=datetime.now(timezone.utc), attempt=1, response_bytes=len(body),
                        next_change_id=1787122800, market_count=25)
    with pool.connection() as conn, pytest.raises(psycopg.errors.CheckViolation):
        insert_hour(conn, prepare(answer))


def test_exchange_prices_of_every_league_replace_their_window_atomically(pool, database_url):
    _store(pool, ALLFLAME, 1787119200)
    _store(pool, SETTLERS, 1722027600)
    _store(pool, EMPTY, 1772816400)
    start, end = _hour(1722024000), _hour(1787126400)
    report = compute_exchange_prices(pool, "pc", start, end)
    assert len(report.hours_with_documents) == 3
    # Allflame: 26 rows; Settlers fragment: 5 markets against chaos (one per league or private league); empty: 0
    with psycopg.connect(database_url) as conn:
        counts = dict(conn.execute("SELECT league, count(*) FROM analytics.exchange_prices GROUP BY league").fetchall())
        assert counts == {"Allflame": 26, "Settlers": 4, "Hardcore Settlers": 1}
        assert report.rows == 31
        divine = conn.execute(
            "SELECT vwap_price, min_price, max_price, volume, quote_volume, chaos_per_divine FROM analytics.exchange_prices "
            "WHERE league = 'Allflame' AND item_id = 'divine' AND quote_currency = 'chaos'").fetchone()
        assert divine[:5] == (pytest.approx(13001051 / 65361), 196.0, 201.0, 65361, 13001051)
        assert divine[5] == pytest.approx(13001051 / 65361)
        rate = conn.execute("SELECT chaos_per_divine FROM analytics.exchange_divine_price "
                            "WHERE realm = 'pc' AND league = 'Allflame' AND observed_hour = %s",
                            (_hour(1787119200),)).fetchone()[0]
        assert rate == pytest.approx(198.911445663)
        cortex = conn.execute(
            "SELECT item_id, mapped, vwap_price, min_price, max_price FROM analytics.exchange_prices "
            "WHERE league = 'Allflame' AND item_path LIKE '%%CurrencyUberBossKeyCortex' AND quote_currency = 'divine'"
        ).fetchone()
        # 299 Cortex for 16 divine; lowest 17:1, highest 20:1 cortex per divine (item first: extremes swap)
        assert cortex == ("Metadata/Items/MapFragments/CurrencyUberBossKeyCortex", False, pytest.approx(16 / 299),
                          pytest.approx(1 / 20), pytest.approx(1 / 17))
        essence = conn.execute("SELECT item_id, mapped FROM analytics.exchange_prices WHERE item_path = "
                               "'Metadata/Items/Currency/CurrencyEssenceGreed1'").fetchone()
        assert essence == ("Metadata/Items/Currency/CurrencyEssenceGreed1", False)  # not a watched essence
        assert conn.execute("SELECT count(*) FROM analytics.exchange_prices WHERE vwap_price = 0 OR "
                            "min_price = 'infinity'").fetchone()[0] == 0
    # a second run over part of the window replaces, never duplicates
    again = compute_exchange_prices(pool, "pc", _hour(1787119200), end)
    assert again.deleted == 26 and again.rows == 26
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM warehouse.exchange_prices").fetchone()[0] == 31


def test_exchange_prices_are_readable_by_the_reader_and_api_roles(pool, database_url):
    _store(pool, ALLFLAME, 1787119200)
    compute_exchange_prices(pool, "pc", _hour(1787119200), _hour(1787122800))
    with psycopg.connect(database_url, autocommit=True) as conn:
        for role in ("tradewatch_reader", "tradewatch_api"):
            conn.execute(f"SET ROLE {role}")
            assert conn.execute("SELECT count(*) FROM analytics.exchange_prices").fetchone()[0] == 26
            assert conn.execute("SELECT count(*) FROM analytics.exchange_divine_price").fetchone()[0] == 1
            conn.execute("RESET ROLE")
        conn.execute("SET ROLE tradewatch_reader")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM warehouse.raw_currency_exchange")


def test_simulated_exchange_history_is_stored_once_and_priced(pool, database_url):
    from trade_sim import currency_exchange_document

    from tradewatch.cli.simulated_history import simulate_currency_exchange_history

    start = _hour(1740787200)  # 2025-03-01T00:00Z
    end = _hour(1740787200 + 3 * 3600)
    assert simulate_currency_exchange_history(pool, start, end) == 3
    assert simulate_currency_exchange_history(pool, start, end) == 0  # stored hours are kept
    with pool.connection() as conn:
        assert read_document(conn, "pc", start) == currency_exchange_document(start, "pc")
        assert conn.execute("SELECT bool_and(simulated) FROM warehouse.raw_currency_exchange").fetchone()[0]
        hours = conn.execute("SELECT count(DISTINCT observed_hour) FROM analytics.exchange_prices").fetchone()[0]
    assert hours == 3
