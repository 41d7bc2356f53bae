"""The Currency Exchange client and raw asset over real HTTP against the simulator's feed.

Every case of the hour-validity rules (published, empty, not published as 404 or as the
terminal 200, stale, refused), retries of 5xx / Cloudflare pages / cut-off JSON, the token
flow (expires_in null or a number, renewed on 401, the secret never shown), the polite
ceiling and announced limits through the shared limiter, a two-day range backfill in one
Dagster run, re-run idempotence, and kill -9 in the middle of a range.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from dagster import AssetKey, materialize

from tradewatch.currency_exchange.client import (NOT_PUBLISHED, PUBLISHED, REFUSED, STALE, ClientCredentials,
                                                 CurrencyExchangeClient, CurrencyExchangeError, hour_id)
from tradewatch.currency_exchange.ingest import ingest_range
from tradewatch.currency_exchange.raw_store import read_document
from tradewatch.hours import floor_hour, partition_key, utc_now
from tradewatch.rate_limit import PostgresRateLimiter, Rule
from pydantic import SecretStr as Secret
from tradewatch.warehouse.db import psycopg2_url
from tradewatch_assets.currency_exchange.assets import build_prices_asset, build_raw_asset
from tradewatch_assets.currency_exchange.resources import CurrencyExchangeResource
from tradewatch_assets.resources import WarehouseResource

START = datetime(2025, 3, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
SECRET = "cx-very-secret-client-secret-0123456789"
SMALL = {"cx_markets_per_hour": 60, "time_scale": 0.01}


def cx_url(sim) -> str:
    return sim.url + "/api/currency-exchange"


def cx_requests(sim) -> int:
    return sum(1 for _, _, path in sim.app.state.request_log if "/currency-exchange" in path)


def client(pool, sim, *, per_minute: int = 100_000, max_wait: float = 60.0, credentials=None, **kwargs):
    limiter = PostgresRateLimiter(pool, key=f"127.0.0.1:{sim.port}/currency-exchange", pad=0.02, max_wait=max_wait,
                                  default_rules=[Rule("*", per_minute, 60.0, 0.0)])
    options = {"backoff": 0.01, "timeout": 5.0, **kwargs}
    return CurrencyExchangeClient(cx_url(sim), "TradeWatch-test/1.0 (contact: test@example.com)", limiter,
                                  credentials=credentials, **options)


def stored(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT realm, observed_hour, market_count, status_code, next_change_id "
                            "FROM warehouse.raw_currency_exchange ORDER BY realm, observed_hour").fetchall()


def test_a_published_hour_is_stored_exactly_as_served(pool, database_url, start_sim):
    from trade_sim import currency_exchange_document

    sim = start_sim(**SMALL)
    c = client(pool, sim)
    answer = c.fetch_hour("pc", START)
    assert answer.kind == PUBLISHED and answer.status_code == 200
    assert answer.next_change_id == hour_id(START) + 3600 and answer.market_count > 0
    assert answer.body == currency_exchange_document(START, "pc", sim.config)
    report = ingest_range(pool, c, "pc", START, START + 2 * HOUR)
    assert report.stored == [START, START + HOUR] and not report.missing
    with pool.connection() as conn:
        assert read_document(conn, "pc", START) == answer.body
    assert report.bytes_stored / report.bytes_received <= 0.15


def test_the_current_hour_is_not_published_yet_and_nothing_is_stored(pool, database_url, start_sim):
    now_hour = floor_hour(utc_now())
    for style in ("404", "terminal"):
        sim = start_sim(cx_unpublished_style=style, **SMALL)
        answer = client(pool, sim).fetch_hour("pc", now_hour)
        assert answer.kind == NOT_PUBLISHED, (style, answer)
        assert answer.status_code == (404 if style == "404" else 200)
        report = ingest_range(pool, client(pool, sim), "pc", now_hour, now_hour + HOUR)
        assert report.not_published == [now_hour] and report.missing == [now_hour]
    assert stored(database_url) == []


def test_an_empty_hour_is_complete_and_stored(pool, database_url, start_sim):
    sim = start_sim(cx_empty_hours=frozenset({hour_id(START)}), **SMALL)
    report = ingest_range(pool, client(pool, sim), "pc", START, START + 2 * HOUR)
    assert report.empty == [START] and report.stored == [START, START + HOUR]
    assert [r[2] for r in stored(database_url)][0] == 0


def test_a_stale_document_is_refused_with_its_reason_and_not_stored(pool, database_url, start_sim):
    sim = start_sim(cx_stale_hours=frozenset({hour_id(START + HOUR)}), **SMALL)
    answer = client(pool, sim).fetch_hour("pc", START + HOUR)
    assert answer.kind == STALE and "stale" in answer.reason and str(answer.next_change_id) in answer.reason
    report = ingest_range(pool, client(pool, sim), "pc", START, START + 3 * HOUR)
    assert report.stored == [START, START + 2 * HOUR]
    assert list(report.refused) == [START + HOUR] and report.refused[START + HOUR].startswith("stale:")
    assert [r[1] for r in stored(database_url)] == [START, START + 2 * HOUR]


def test_a_wrong_path_is_refused_as_a_404_without_retries(pool, start_sim):
    sim = start_sim(**SMALL)
    c = client(pool, sim)
    c.base_url = cx_url(sim) + "/pc"  # PC has no realm segment: /pc/<id> is a 404
    answer = c.fetch_hour("pc", START)
    assert answer.kind == REFUSED and "404" in answer.reason and c.stats.retries == 0
    with pytest.raises(ValueError, match="not a whole UTC hour"):
        c.fetch_hour("pc", START + timedelta(minutes=1))


def test_other_realms_have_their_path_segment(pool, database_url, start_sim):
    sim = start_sim(**SMALL)
    report = ingest_range(pool, client(pool, sim), "poe2", START, START + HOUR)
    assert report.stored == [START]
    assert any(path.endswith(f"/currency-exchange/poe2/{hour_id(START)}") for _, _, path in sim.app.state.request_log)
    assert stored(database_url)[0][0] == "poe2"


def test_5xx_cloudflare_pages_and_cut_off_json_are_retried_until_stored(pool, database_url, start_sim):
    sim = start_sim(error_5xx_rate=0.25, cloudflare_403_rate=0.15, truncated_json_rate=0.15, **SMALL)
    c = client(pool, sim, max_attempts=12)
    report = ingest_range(pool, c, "pc", START, START + 8 * HOUR, max_in_flight=4)
    assert not report.missing and len(report.stored) == 8
    assert c.stats.retries > 0 and c.stats.requests == 8 + c.stats.retries
    for realm, hour, *_ in stored(database_url):
        with pool.connection() as conn:
            assert read_document(conn, realm, hour)  # only whole documents were stored


def test_time_outs_are_retried_then_reported(pool, database_url, start_sim):
    sim = start_sim(slow_rate=1.0, slow_seconds=2.0, **SMALL)
    c = client(pool, sim, timeout=0.3, max_attempts=2)
    report = ingest_range(pool, c, "pc", START, START + HOUR)
    assert report.missing == [START] and "no answer within 0.3 s" in report.refused[START]
    assert c.stats.retries == 2 and stored(database_url) == []


def test_the_token_flow_with_expiring_and_never_expiring_tokens(pool, database_url, start_sim, caplog):
    caplog.set_level(logging.DEBUG)
    for expires_in in (None, 1):
        sim = start_sim(cx_require_token=True, cx_client_secret=SECRET, cx_token_expires_in=expires_in, **SMALL)
        unauthenticated = client(pool, sim).fetch_hour("pc", START)
        assert unauthenticated.kind == REFUSED and "TRADEWATCH_CX_CLIENT_ID" in unauthenticated.reason
        credentials = ClientCredentials(sim.url + "/oauth/token", "tradewatch-sim", Secret(SECRET), "test", backoff=0.01)
        c = client(pool, sim, credentials=credentials)
        assert c.fetch_hour("pc", START).kind == PUBLISHED
        if expires_in is not None:
            # refreshed a minute early: a 1 s token is renewed before each request; force the 401 path too
            credentials._expires_at = None
            time.sleep(1.1)
            assert c.fetch_hour("pc", START + HOUR).kind == PUBLISHED
            assert c.stats.token_requests >= 2
        else:
            assert c.fetch_hour("pc", START + HOUR).kind == PUBLISHED and c.stats.token_requests == 1
    wrong = ClientCredentials(sim.url + "/oauth/token", "tradewatch-sim", Secret(SECRET + "-wrong"), "test",
                              backoff=0.01)
    with pytest.raises(CurrencyExchangeError) as refused:
        client(pool, sim, credentials=wrong).fetch_hour("pc", START)
    assert "TRADEWATCH_CX_CLIENT_SECRET" in str(refused.value) and SECRET not in str(refused.value)
    assert SECRET not in caplog.text
    report = ingest_range(pool, client(pool, sim, credentials=wrong), "pc", START + 2 * HOUR, START + 4 * HOUR,
                          max_in_flight=1)
    assert len(report.missing) == 2 and all(SECRET not in why for why in report.refused.values())
    with psycopg.connect(database_url) as conn:
        assert SECRET not in str(conn.execute("SELECT headers, request_url FROM warehouse.raw_currency_exchange"
                                              ).fetchall())


def test_the_polite_ceiling_applies_where_the_host_announces_no_limits(pool, database_url, start_sim):
    sim = start_sim(**SMALL)
    c = client(pool, sim, per_minute=2, max_wait=1.0)
    report = ingest_range(pool, c, "pc", START, START + 4 * HOUR, max_in_flight=1)
    assert len(report.stored) == 2 and cx_requests(sim) == 2
    assert all("rate limits" in why or "not attempted" in why for why in report.refused.values())


def test_announced_limits_are_obeyed_without_429s(pool, database_url, start_sim):
    sim = start_sim(cx_policy="3:100:300", **SMALL)  # scaled: 3 requests per 1 s
    c = client(pool, sim)
    started = time.monotonic()
    report = ingest_range(pool, c, "pc", START, START + 7 * HOUR, max_in_flight=3)
    assert len(report.stored) == 7 and c.stats.rate_limited == 0
    assert time.monotonic() - started >= 1.0  # 7 requests at 3 per second need two full windows
    with psycopg.connect(database_url) as conn:
        headers = conn.execute("SELECT headers FROM warehouse.raw_currency_exchange LIMIT 1").fetchone()[0]
    assert any(k.lower().startswith("x-rate-limit") for k in headers)


# ---- through Dagster -------------------------------------------------------------------------

@pytest.fixture
def instance(database_url):
    from dagster._core.test_utils import instance_for_test

    with instance_for_test(overrides={"storage": {"postgres": {"postgres_url": psycopg2_url(database_url)}}}) as inst:
        yield inst


def _resources(database_url, sim, **cx):
    warehouse = WarehouseResource(database_url=database_url)
    return {"warehouse": warehouse,
            "currency_exchange": CurrencyExchangeResource(base_url=cx_url(sim),
                                                          max_per_minute=100_000, max_in_flight=4,
                                                          limiter_pad_seconds=0.02, backoff_seconds=0.01, **cx)}


def _materialize(instance, database_url, sim, first: str, last: str, *assets, **cx):
    return materialize(list(assets) or [build_raw_asset("pc")], instance=instance, raise_on_error=False,
                       tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
                       resources=_resources(database_url, sim, **cx))


def test_a_two_day_range_is_one_run_and_a_rerun_fetches_nothing(instance, database_url, start_sim):
    sim = start_sim(**SMALL)
    first, last = partition_key(START), partition_key(START + 47 * HOUR)
    result = _materialize(instance, database_url, sim, first, last, build_raw_asset("pc"), build_prices_asset("pc"))
    assert result.success
    assert len(instance.get_run_records()) == 1
    assert len(instance.get_materialized_partitions(AssetKey("raw_currency_exchange"))) == 48
    assert len(instance.get_materialized_partitions(AssetKey("exchange_prices"))) == 48
    (raw,) = result.asset_materializations_for_node("raw_currency_exchange")[:1]
    assert raw.metadata["hours_stored"].value == 48 and raw.metadata["requests"].value == 48
    assert raw.metadata["storage_ratio"].value <= 0.15
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "every_hour_stored"]
    assert check.passed
    assert len(stored(database_url)) == 48
    with psycopg.connect(database_url) as conn:
        hours, leagues = conn.execute("SELECT count(DISTINCT observed_hour), count(DISTINCT league) "
                                      "FROM analytics.exchange_prices").fetchone()
        assert hours == 48 and leagues >= 2
        rows = conn.execute("SELECT count(*) FROM warehouse.exchange_prices").fetchone()[0]
    before = cx_requests(sim)
    again = _materialize(instance, database_url, sim, first, last, build_raw_asset("pc"), build_prices_asset("pc"))
    assert again.success and cx_requests(sim) == before  # stored hours are never fetched again
    meta = again.asset_materializations_for_node("raw_currency_exchange")[0].metadata
    assert meta["hours_already_there"].value == 48 and meta["requests"].value == 0
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM warehouse.exchange_prices").fetchone()[0] == rows


def test_hours_not_stored_are_never_healthy_partitions(instance, database_url, start_sim):
    sim = start_sim(cx_stale_hours=frozenset({hour_id(START + 2 * HOUR)}), **SMALL)
    result = _materialize(instance, database_url, sim, partition_key(START), partition_key(START + 3 * HOUR))
    assert not result.success
    materialized = instance.get_materialized_partitions(AssetKey("raw_currency_exchange"))
    assert materialized == {partition_key(START + h * HOUR) for h in (0, 1, 3)}
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "every_hour_stored"]
    assert not check.passed and list(check.metadata["missing"].value) == [partition_key(START + 2 * HOUR)]
    assert "stale" in check.metadata["missing"].value[partition_key(START + 2 * HOUR)]
    assert len(stored(database_url)) == 3


def test_the_newest_hour_is_polled_until_it_is_published(instance, database_url, start_sim):
    last = floor_hour(utc_now()) - HOUR
    # published 3 s from now: the first request gets the 404, a later poll the document
    delay = (utc_now() - (last + HOUR)).total_seconds() + 3
    sim = start_sim(cx_publish_delay_seconds=delay, **SMALL)
    result = _materialize(instance, database_url, sim, partition_key(last), partition_key(last),
                          publish_wait_minutes=5, poll_seconds=1)
    assert result.success
    assert [r[1] for r in stored(database_url)] == [last] and cx_requests(sim) >= 2


def test_kill_9_in_the_middle_of_a_range_keeps_what_was_committed(pool, database_url, start_sim):
    sim = start_sim(latency_seconds=0.15, **SMALL)
    hours = 40
    script = textwrap.dedent(f"""
        from datetime import datetime, timedelta, timezone
        from tradewatch.currency_exchange.client import CurrencyExchangeClient
        from tradewatch.currency_exchange.ingest import ingest_range
        from tradewatch.rate_limit import PostgresRateLimiter, Rule
        from tradewatch.warehouse.db import get_pool
        pool = get_pool({database_url!r})
        limiter = PostgresRateLimiter(pool, key="kill-test", pad=0.0, default_rules=[Rule("*", 100000, 60.0, 0.0)])
        c = CurrencyExchangeClient({cx_url(sim)!r}, "test", limiter)
        start = datetime({START.year}, {START.month}, {START.day}, tzinfo=timezone.utc)
        ingest_range(pool, c, "pc", start, start + timedelta(hours={hours}), max_in_flight=2)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(stored(database_url)) < 6:
            assert proc.poll() is None and time.monotonic() < deadline, "the ingest ended or stalled before the kill"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    kept = stored(database_url)
    assert 6 <= len(kept) < hours
    with pool.connection() as conn:
        for realm, hour, markets, *_ in kept:  # every row visible is a whole, verifiable document
            assert read_document(conn, realm, hour)
    rerun = client(pool, sim)
    report = ingest_range(pool, rerun, "pc", START, START + hours * HOUR)
    assert not report.missing and len(report.already_stored) == len(kept)
    assert rerun.stats.requests == hours - len(kept)  # only the missing hours are fetched
    assert len(stored(database_url)) == hours
