"""Revisions 0012 and 0013: raw trade bodies become compressed bytes (JSONB, then zlib, then zlib-jwt) in place,
nothing lost."""

from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
from alembic import command

from tradewatch.bulk_exchange.raw_store import read_body
from tradewatch.errors import TradeWatchError
from tradewatch.market.pricing import summarize_book
from tradewatch.warehouse.db import get_pool
from helpers.databases import migrate
from tradewatch.warehouse.migrate import _config, current_revision, head_revision
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
    migrate(url, "0009")
    before = _old_rows(url)
    migrate(url)
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
    migrate(url, "0009")
    before = _old_rows(url)
    migrate(url)
    command.downgrade(_config(url), "0009")
    with psycopg.connect(url) as conn:
        back = {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT id, item_id, response_body::text FROM warehouse.raw_trade_responses")}
    assert back == before


# Revision 0013: stored zlib trade bodies become zlib-jwt in place.

ZLIB_ROW_COLUMNS = ("game, league, observed_hour, item_id, paid_with, request_path, request_body, status_code, "
                    "compression, body_sha256, body, body_origin, rate_limit_headers, fetched_at, duration_ms, attempt, "
                    "response_bytes")


def _zlib_rows_at_0012(url: str, count: int = 1_100) -> dict[int, bytes]:
    """`count` rows stored as revision 0012 stored them (plain zlib): more than one batch of 0013."""
    from trade_sim.market import exchange_response
    from tradewatch.raw_bodies import checksum, compress

    migrate(url, "0012")
    bodies = [json.dumps(exchange_response({"have": ["chaos"], "want": [item]}, HOUR, league="Standard"),
                         separators=(",", ":")).encode() for item in ("essence-of-greed", "divine", "exalted")]
    bodies += [(DATA / "exchange_response_poe1_ancestor_have_chaos_want_divine.json").read_bytes(),
               b'{"id":"x","complexity":null,"result":{},"total":0}']
    with psycopg.connect(url) as conn:
        with conn.cursor().copy(f"COPY warehouse.raw_trade_responses ({ZLIB_ROW_COLUMNS}) FROM STDIN") as copy:
            for i in range(count):
                body, hour = bodies[i % len(bodies)], HOUR + timedelta(hours=i // len(bodies))
                copy.write_row(("poe1", "Standard", hour, f"item-{i % len(bodies)}", "chaos", "/api/trade/exchange/Standard",
                                "{}", 200, "zlib", checksum(body), compress(body), "received", "{}",
                                hour + timedelta(minutes=5), 1.0, 1, len(body)))
        return {r[0]: bytes(r[1]) for r in conn.execute("SELECT id, body_sha256 FROM warehouse.raw_trade_responses")}


def _stored(url: str) -> dict[int, tuple[str, bytes, bytes]]:
    with psycopg.connect(url) as conn:
        return {r[0]: (r[1], bytes(r[2]), bytes(r[3])) for r in conn.execute(
            "SELECT id, compression, body, body_sha256 FROM warehouse.raw_trade_responses")}


def _table_bytes(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT pg_total_relation_size('warehouse.raw_trade_responses')").fetchone()[0]


def test_0013_recompresses_trade_bodies_in_place_byte_for_byte_and_returns_the_space(empty_database_url):
    from tradewatch.raw_bodies import ZLIB, ZLIB_JWT

    url = empty_database_url
    shas = _zlib_rows_at_0012(url)
    before, bytes_before = _stored(url), _table_bytes(url)
    migrate(url)
    after = _stored(url)
    assert after.keys() == before.keys()  # same ids: price_snapshots.raw_response_id still points at them
    for raw_id, (compression, body, sha) in after.items():
        assert sha == shas[raw_id]
        assert read_body(compression, body, sha, raw_id) == read_body(*before[raw_id], raw_id)
    kinds = {}
    for raw_id, (compression, _body, _sha) in after.items():
        kinds.setdefault(compression, set()).add(read_body(*before[raw_id], raw_id).count(b"whisper_token") > 0)
    assert kinds == {ZLIB_JWT: {True}, ZLIB: {False}}  # only the empty book stays zlib
    assert sum(len(b) for _, b, _ in after.values()) < 0.7 * sum(len(b) for _, b, _ in before.values())
    # the versions the UPDATEs replaced are not kept: the table itself is smaller at once
    assert _table_bytes(url) < 0.8 * bytes_before
    with psycopg.connect(url) as conn:
        storage = conn.execute("SELECT attstorage FROM pg_attribute WHERE attrelid = "
                               "'warehouse.raw_trade_responses'::regclass AND attname = 'body'").fetchone()[0]
        assert storage == "e"  # compressed already: PostgreSQL does not try again
        for table, constraint in (("raw_trade_responses", "raw_compression_known"),
                                  ("raw_currency_exchange", "raw_currency_exchange_compression_check")):
            definition = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s",
                                      (constraint,)).fetchone()[0]
            assert "'zlib'" in definition and "'zlib-jwt'" in definition, (table, definition)


def test_0013_stops_at_a_body_that_does_not_match_its_checksum_and_changes_nothing(empty_database_url):
    url = empty_database_url
    _zlib_rows_at_0012(url, count=20)
    with psycopg.connect(url) as conn:
        bad = conn.execute("UPDATE warehouse.raw_trade_responses SET body_sha256 = '\\x00'::bytea "
                           "WHERE id = (SELECT max(id) FROM warehouse.raw_trade_responses) RETURNING id").fetchone()[0]
    before = _stored(url)
    with pytest.raises(TradeWatchError, match=rf"raw trade response {bad} does not match the checksum"):
        migrate(url)
    assert current_revision(url) == "0012"
    assert _stored(url) == before


def test_0013_downgrade_gives_plain_zlib_back(empty_database_url):
    from tradewatch.raw_bodies import ZLIB, ZLIB_LEVEL

    url = empty_database_url
    _zlib_rows_at_0012(url, count=30)
    before = _stored(url)
    migrate(url)
    command.downgrade(_config(url), "0012")
    back = _stored(url)
    assert back.keys() == before.keys()
    for raw_id, (compression, body, sha) in back.items():
        assert compression == ZLIB
        assert body == zlib.compress(read_body(*before[raw_id], raw_id), ZLIB_LEVEL) == before[raw_id][1]
    with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute("UPDATE warehouse.raw_trade_responses SET compression = 'zlib-jwt'")


# Revision 0019: `zstd` joins the CHECKs; its downgrade writes zstd bodies back as zlib in place.


def _cx_rows_at_head(url: str, hours: int = 3) -> dict[datetime, bytes]:
    """Currency Exchange documents stored by today's `pack` (zstd), with an old zlib row beside them."""
    from tradewatch.currency_exchange.client import PUBLISHED, HourAnswer
    from tradewatch.currency_exchange.raw_store import insert_hour, prepare
    from tradewatch.raw_bodies import ZLIB, ZLIB_LEVEL, checksum

    migrate(url)
    documents = {}
    with psycopg.connect(url) as conn:
        for h in range(hours):
            hour = HOUR + timedelta(hours=h)
            body = json.dumps({"next_change_id": int(hour.timestamp()) + 3600, "markets": [
                {"league": "Standard", "market_id": f"a|b{i}", "volume_traded": {"a": i}} for i in range(300 * h)]},
                separators=(",", ":")).encode()
            answer = HourAnswer(realm="pc", hour=hour, kind=PUBLISHED, url="http://sim/x", status_code=200, body=body,
                                fetched_at=hour + timedelta(hours=2), attempt=1, response_bytes=len(body),
                                next_change_id=int(hour.timestamp()) + 3600, market_count=300 * h)
            assert insert_hour(conn, prepare(answer))
            documents[hour] = body
        old = HOUR - timedelta(hours=1)
        body = b'{"next_change_id":%d,"markets":[]}' % (int(old.timestamp()) + 3600)
        conn.execute("INSERT INTO warehouse.raw_currency_exchange (realm, observed_hour, request_url, status_code, "
                     "headers, fetched_at, duration_ms, attempt, response_bytes, stored_bytes, next_change_id, "
                     "market_count, compression, body_sha256, body) VALUES ('pc', %s, 'http://sim/x', 200, '{}', "
                     "now(), 1, 1, %s, %s, %s, 0, %s, %s, %s)",
                     (old, len(body), len(zlib.compress(body, ZLIB_LEVEL)), int(old.timestamp()) + 3600, ZLIB,
                      checksum(body), zlib.compress(body, ZLIB_LEVEL)))
        documents[old] = body
    return documents


def _cx_stored(url: str) -> dict[datetime, tuple[str, bytes, bytes, int]]:
    with psycopg.connect(url) as conn:
        return {r[0]: (r[1], bytes(r[2]), bytes(r[3]), r[4]) for r in conn.execute(
            "SELECT observed_hour, compression, body, body_sha256, stored_bytes FROM warehouse.raw_currency_exchange")}


def test_0019_stores_new_bodies_as_zstd_and_its_downgrade_gives_zlib_back_byte_for_byte(empty_database_url):
    from tradewatch.currency_exchange.raw_store import read_document
    from tradewatch.raw_bodies import ZLIB, ZLIB_LEVEL, ZSTD, checksum, pack

    url = empty_database_url
    documents = _cx_rows_at_head(url)
    empty_book = b'{"id":"x","complexity":null,"result":{},"total":0}'
    packed = pack(empty_book)
    with psycopg.connect(url) as conn:
        conn.execute(f"INSERT INTO warehouse.raw_trade_responses ({ZLIB_ROW_COLUMNS}) VALUES ('poe1', 'Standard', %s, "
                     "'exalted', 'chaos', '/api/trade/exchange/Standard', '{}', 200, %s, %s, %s, 'received', '{}', "
                     "%s, 1.0, 1, %s)", (HOUR, packed.compression, packed.sha256, packed.compressed,
                                         HOUR + timedelta(minutes=5), len(empty_book)))
    before = _cx_stored(url)
    assert {h: c for h, (c, *_rest) in before.items()} == {h: ZSTD if h >= HOUR else ZLIB for h in documents}
    assert _stored(url) and {c for c, _b, _s in _stored(url).values()} == {ZSTD}

    command.downgrade(_config(url), "0018")
    back = _cx_stored(url)
    assert back.keys() == before.keys()
    for hour, (compression, body, sha, stored_bytes) in back.items():
        assert compression == ZLIB and sha == checksum(documents[hour]) and stored_bytes == len(body)
        assert body == zlib.compress(documents[hour], ZLIB_LEVEL)
    assert back[HOUR - timedelta(hours=1)] == before[HOUR - timedelta(hours=1)]  # an old zlib row is left as it was
    with psycopg.connect(url) as conn:
        assert all(read_document(conn, "pc", hour) == body for hour, body in documents.items())
    ((compression, body, sha),) = _stored(url).values()
    assert compression == ZLIB and read_body(compression, body, sha, 1) == empty_book
    for table in ("raw_currency_exchange", "raw_trade_responses"):
        with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(f"UPDATE warehouse.{table} SET compression = 'zstd'")

    migrate(url)  # up again: the zlib rows stay, new ones may be zstd
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE warehouse.raw_currency_exchange SET compression = compression")
    assert _cx_stored(url) == back
