"""Bronze storage of Currency Exchange documents: the body's bytes exactly as received, compressed.

One row per realm and hour (primary key), never replaced: a published hour is immutable,
so an hour already stored is never fetched again. The body is compressed in the one
archive format of `tradewatch.raw_bodies` (a document holds no whisper tokens, so that is
`zstd`: a realistic 1.3 MB hour becomes ~6 %; hours stored before revision 0019 are `zlib`
and read as well), stored with its SHA-256 so
`read_document` can prove it gives back the very bytes received. The column is STORAGE
EXTERNAL so that PostgreSQL does not try to compress it a second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

from tradewatch.currency_exchange.client import PUBLISHED, HourAnswer
from tradewatch.raw_bodies import StoredBodyCorrupt, compress, decompress, pack, unpack

__all__ = ["PreparedHour", "StoredDocumentCorrupt", "compress", "decompress",
           "insert_hour", "prepare", "read_document", "stored_hours"]

StoredDocumentCorrupt = StoredBodyCorrupt  # the name this module always raised


def stored_hours(conn, realm: str, start: datetime, end: datetime) -> set[datetime]:
    rows = conn.execute(
        "SELECT observed_hour FROM warehouse.raw_currency_exchange "
        "WHERE realm = %s AND observed_hour >= %s AND observed_hour < %s",
        (realm, start, end),
    ).fetchall()
    return {r[0] for r in rows}


@dataclass(frozen=True)
class PreparedHour:
    """A valid answer with its compressed body (compression is done outside any transaction)."""

    answer: HourAnswer
    compression: str
    compressed: bytes
    sha256: bytes


def prepare(answer: HourAnswer) -> PreparedHour:
    if answer.kind != PUBLISHED or answer.body is None:
        raise ValueError(f"only a published document is stored, not a {answer.kind!r} answer")
    packed = pack(answer.body)
    return PreparedHour(answer, packed.compression, packed.compressed, packed.sha256)


def insert_hour(conn, prepared: PreparedHour, simulated: bool = False) -> bool:
    """Store one hour; False when it was already stored (it is never replaced)."""
    a = prepared.answer
    row = conn.execute(
        """
        INSERT INTO warehouse.raw_currency_exchange
            (realm, observed_hour, request_url, status_code, headers, fetched_at, duration_ms, attempt,
             response_bytes, stored_bytes, next_change_id, market_count, compression, body_sha256, body, simulated)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (realm, observed_hour) DO NOTHING
        RETURNING 1
        """,
        (a.realm, a.hour, a.url, a.status_code, orjson.dumps(a.headers).decode(), a.fetched_at, a.duration_ms,
         a.attempt, a.response_bytes, len(prepared.compressed), a.next_change_id, a.market_count,
         prepared.compression, prepared.sha256, prepared.compressed, simulated),
    ).fetchone()
    return row is not None


def read_document(conn, realm: str, hour: datetime) -> bytes | None:
    """The stored document of a realm and hour, byte for byte as received; None when not stored."""
    row = conn.execute(
        "SELECT compression, body, body_sha256 FROM warehouse.raw_currency_exchange "
        "WHERE realm = %s AND observed_hour = %s",
        (realm, hour),
    ).fetchone()
    if row is None:
        return None
    return unpack(row[0], row[1], row[2], f"the Currency Exchange document of {realm} {hour.isoformat()}")
