"""Bronze storage: raw trade responses, kept verbatim, one per item and hour, never changed.

The body is stored as the bytes received, in the archive format of `tradewatch.raw_bodies`
(compressed, with its SHA-256, `body_origin = 'received'`); rows stored before revision 0012
hold their former JSONB text instead (`body_origin = 'jsonb'`). `read_body` gives either back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg.types.json import Jsonb

from tradewatch.bulk_exchange.client import ExchangeResponse
from tradewatch.raw_bodies import PackedBody, pack, unpack

RECEIVED = "received"  # body_origin of a body stored as the bytes received


_COLUMNS = ("game, league, observed_hour, item_id, paid_with, request_path, request_body, status_code, compression, "
            "body_sha256, body, body_origin, rate_limit_headers, fetched_at, duration_ms, attempt, response_bytes, "
            "simulated")


@dataclass(frozen=True)
class RawKey:
    game: str
    league: str
    paid_with: str


def stored_items(conn, key: RawKey, hour: datetime) -> set[str]:
    rows = conn.execute(
        "SELECT item_id FROM warehouse.raw_trade_responses "
        "WHERE game = %s AND league = %s AND paid_with = %s AND observed_hour = %s",
        (key.game, key.league, key.paid_with, hour),
    ).fetchall()
    return {r[0] for r in rows}


def insert_response(conn, key: RawKey, hour: datetime, item_id: str, response: ExchangeResponse,
                    simulated: bool = False) -> bool:
    """Store one response; False when the item's hour was already stored (it is never replaced)."""
    packed = pack(response.raw_body)
    row = conn.execute(
        f"""
        INSERT INTO warehouse.raw_trade_responses ({_COLUMNS})
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT ON CONSTRAINT raw_one_response_per_item_hour DO NOTHING
        RETURNING id
        """,
        (key.game, key.league, hour, item_id, key.paid_with, response.request_path, Jsonb(response.request_body),
         response.status_code, packed.compression, packed.sha256, packed.compressed, RECEIVED,
         Jsonb(response.rate_limit_headers), response.fetched_at, response.duration_ms, response.attempt,
         response.response_bytes, simulated),
    ).fetchone()
    return row is not None


def read_body(compression: str, body: bytes, body_sha256: bytes, raw_id: int) -> bytes:
    """The stored body's bytes (as received, or the former JSONB text), checked against its checksum."""
    return unpack(compression, body, body_sha256, f"raw trade response {raw_id}")


@dataclass(frozen=True)
class BulkRawRow:
    """One response for the bulk path: the body already packed (compressed, with its checksum)."""

    hour: datetime
    item_id: str
    request_path: str
    request_body_json: str
    status_code: int
    body: PackedBody
    rate_limit_headers_json: str
    fetched_at: datetime
    duration_ms: float
    attempt: int
    response_bytes: int




def insert_responses_bulk(conn, key: RawKey, rows: list[BulkRawRow], simulated: bool) -> int:
    """Store many responses at once with COPY; rows already stored are kept, never replaced.

    The same table and the same never-overwrite rule as `insert_response`, for history
    building where one INSERT per response would be far too slow. The caller passes rows
    it believes are missing, which go straight in with COPY (fastest); if one was stored
    meanwhile (a live fetch of the same hour), the batch is retried through a staging
    table with `ON CONFLICT DO NOTHING`. Commits; returns how many rows were inserted.
    """
    def values(r: BulkRawRow) -> tuple:
        return (key.game, key.league, r.hour, r.item_id, key.paid_with, r.request_path, r.request_body_json,
                r.status_code, r.body.compression, r.body.sha256, r.body.compressed, RECEIVED, r.rate_limit_headers_json,
                r.fetched_at, r.duration_ms, r.attempt, r.response_bytes, simulated)

    try:
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy(f"COPY warehouse.raw_trade_responses ({_COLUMNS}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(values(r))
        return len(rows)
    except psycopg.errors.UniqueViolation:
        pass
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"CREATE TEMP TABLE raw_bulk_staging ON COMMIT DROP AS "
                    f"SELECT {_COLUMNS} FROM warehouse.raw_trade_responses WITH NO DATA")
        with cur.copy(f"COPY raw_bulk_staging ({_COLUMNS}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(values(r))
        cur.execute(
            f"INSERT INTO warehouse.raw_trade_responses ({_COLUMNS}) SELECT {_COLUMNS} FROM raw_bulk_staging "
            "ON CONFLICT ON CONSTRAINT raw_one_response_per_item_hour DO NOTHING"
        )
        return cur.rowcount
