"""Pricing stored raw responses, the CPU part of `snapshots.compute_snapshots`, kept light to import.

Worker processes (spawned, one per core) import this module and nothing heavier: the stored
body is decompressed without its whisper tokens, which pricing never reads
(`tradewatch.raw_bodies.without_tokens`), parsed (orjson) and priced with the one order-book
implementation (`tradewatch.market.pricing`).
"""

from __future__ import annotations

from datetime import datetime

import orjson

from tradewatch.errors import TradeWatchError
from tradewatch.hours import partition_key
from tradewatch.market.pricing import BookSummary, summarize_response
from tradewatch.raw_bodies import StoredBodyCorrupt, without_tokens

__all__ = ["Priced", "SnapshotError", "price_chunk", "price_response"]


class SnapshotError(TradeWatchError):
    """A stored response cannot be priced; the message names the hour and the item."""


# (raw id, hour, item, fetched_at, simulated, summary, book as JSON text)
Priced = tuple[int, datetime, str, datetime, bool, BookSummary, str]


def price_response(raw_id: int, hour: datetime, item_id: str, compression: str, body: bytes, paid_with: str,
                   target: int) -> tuple[BookSummary, str]:
    """One stored response priced: its summary and its book (`ladder`) as JSON text."""
    try:
        summary, rows = summarize_response(orjson.loads(without_tokens(body, compression)), item_id, paid_with, target)
    except (ValueError, StoredBodyCorrupt) as exc:  # orjson.JSONDecodeError is a ValueError
        raise SnapshotError(
            f"the stored response for {item_id} in hour {partition_key(hour)} (raw id {raw_id}) cannot be "
            f"priced: {exc}. Nothing was written; fix or delete that raw row and re-run the window."
        ) from None
    return summary, orjson.dumps(rows).decode()


def price_chunk(task: tuple[str, int, list[tuple]]) -> list[Priced]:
    """(paid_with, target quantity, raw rows) → the rows priced, in order (runs in a worker process)."""
    paid_with, target, rows = task
    return [(raw_id, hour, item_id, fetched_at, simulated,
             *price_response(raw_id, hour, item_id, compression, bytes(body), paid_with, target))
            for raw_id, hour, item_id, fetched_at, simulated, compression, body in rows]


