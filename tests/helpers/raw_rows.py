"""Reading and writing `warehouse.raw_trade_responses` rows in tests, bodies included.

The body is stored compressed with a checksum (`tradewatch.raw_bodies`); tests that compare
stored rows with what was sent name the virtual column `response_body` and get the body
parsed back, checked through the same `read_body` the warehouse uses.
"""

from __future__ import annotations

from typing import Any

import orjson

from tradewatch.bulk_exchange.raw_store import read_body
from tradewatch.raw_bodies import pack

_BODY_COLUMNS = ["id", "compression", "body", "body_sha256"]


def select_raw(conn, columns: str, rest: str = "", params: Any = None) -> list[tuple]:
    """`SELECT columns FROM warehouse.raw_trade_responses rest`, where the column `response_body`
    stands for the stored body as parsed JSON."""
    names = [c.strip() for c in columns.split(",")]
    sql = [", ".join(_BODY_COLUMNS) if n == "response_body" else n for n in names]
    rows = conn.execute(f"SELECT {', '.join(sql)} FROM warehouse.raw_trade_responses r {rest}", params).fetchall()
    out = []
    for row in rows:
        values, i = [], 0
        for n in names:
            if n == "response_body":
                raw_id, compression, body, sha = row[i:i + 4]
                values.append(orjson.loads(read_body(compression, body, sha, raw_id)))
                i += 4
            else:
                values.append(row[i])
                i += 1
        out.append(tuple(values))
    return out


def body_values(body: bytes) -> tuple[str, bytes, bytes]:
    """(compression, body_sha256, body) of a stored body, for an INSERT or UPDATE written by hand."""
    packed = pack(body)
    return packed.compression, packed.sha256, packed.compressed
