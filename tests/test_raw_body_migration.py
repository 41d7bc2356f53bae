"""Revision 0012: JSONB bodies of raw trade responses become compressed bytes in place, nothing lost."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from alembic import command

from tradewatch.bulk_exchange.raw_store import read_body
from tradewatch.market.pricing import summarize_book
from tradewatch.warehouse.db import get_pool
from tradewatch.warehouse.migrate import _config, current_revision, head_revision, upgrade
from tradewatch.warehouse.snapshots import compute_snapshots
from tradewatch.watchlist import parse_watchlist

DATA = Path(__file__).parent / "data"
HOUR = datetime(2025, 3, 1, tzinfo=timezone.utc)
OLD_INSERT = """
INSERT INTO warehouse.raw_trade_responses (game, league, observed_hour, item_id, paid_with, request_path, request_body,
    status_code, response_body, rate_limit_headers, fetched_at, duration_ms, attempt, response_bytes)
VALUES ('poe1', 'Standard', %s, %s, 'chaos', '/api/trade/exchange/Standard', '{}', 200, %s, '{}', %s, 1, 1, %s)
RETURNING id
"""


def _old_rows(url: str) -> dict[int, tuple[str, str]]:
    real = (DATA / "exchange_response_poe1_ancestor_have_chaos_want_divine.json").read_text()
    empty = json.dumps({"id": "x", "result": {}, "total": 0})
    with psycopg.connect(url) as conn:
        for item, body in (("divine", real), ("exalted", empty)):
            conn.execute(OLD_INSERT, (HOUR, item, body, HOUR + timedelta(minutes=5), len(body)))
        return {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT id, item_id, response_body::text FROM warehouse.raw_trade_responses")}


def test_jsonb_bodies_are_kept_in_place_marked_and_price_as_before(empty_database_url, tmp_path):
    url = empty_database_url
    command.upgrade(_config(url), "0009")
    before = _old_rows(url)
    upgrade(url)
    assert current_revision(url) == head_revision()
    with psycopg.connect(url) as conn:
        after = {r[0]: r[1:] for r in conn.execute(
            "SELECT id, item_id, body_origin, compression, body, body_sha256 FROM warehouse.raw_trade_responses")}
        columns = {r[0] for r in conn.execute("SELECT column_name FROM information_schema.columns "
                                              "WHERE table_schema = 'warehouse' AND table_name = 'raw_trade_responses'")}
    assert "response_body" not in columns
    assert after.keys() == before.keys()  # same ids: price_snapshots.raw_response_id still points at them
    for raw_id, (item, origin, compression, body, sha) in after.items():
        assert (item, origin) == (before[raw_id][0], "jsonb")
        assert read_body(compression, body, sha, raw_id).decode() == before[raw_id][1]

    watchlist = parse_watchlist({"league": "Standard", "paid_with": "chaos", "target_quantity": 10,
                                 "items": ["divine", "exalted"]}, tmp_path / "wl.yaml")
    report = compute_snapshots(get_pool(url), watchlist, HOUR, HOUR + timedelta(hours=1))
    priced = {s.item_id: s for s in report.latest}
    for item, text in before.values():
        assert priced[item] == summarize_book(json.loads(text), item, "chaos", 10)
    assert priced["divine"].listing_count == 3 and priced["exalted"].listing_count == 0


def test_the_downgrade_gives_the_jsonb_bodies_back(empty_database_url):
    url = empty_database_url
    command.upgrade(_config(url), "0009")
    before = _old_rows(url)
    upgrade(url)
    command.downgrade(_config(url), "0009")
    with psycopg.connect(url) as conn:
        back = {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT id, item_id, response_body::text FROM warehouse.raw_trade_responses")}
    assert back == before
