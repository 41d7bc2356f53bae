"""Metadata path (the feed's item keys) → trade-site id, from the shipped catalogue.

`tradewatch/data/currency_exchange_catalog.json` is ../shared/currency_exchange/
metadata_to_trade_id.json as researched (chaos, divine, exalted, the 20 Deafening essences,
the four lifeforces; sources and confidence per entry). A path it does not know keeps its
path as the item id and is flagged unmapped: no market is ever dropped.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Mapping

CATALOG = Path(__file__).resolve().parents[1] / "data" / "currency_exchange_catalog.json"


@lru_cache(maxsize=1)
def path_to_trade_id() -> Mapping[str, str]:
    data = json.loads(CATALOG.read_text())
    return {e["metadata_path"]: e["trade_id"] for e in data["entries"]}


def item_key(path: str) -> tuple[str, bool]:
    """(item id, mapped): the trade id when the catalogue knows the path, else the path itself."""
    trade_id = path_to_trade_id().get(path)
    return (trade_id, True) if trade_id is not None else (path, False)


def metadata_path(trade_id: str) -> str | None:
    """The feed's key of a trade id (None when the catalogue has no path for it)."""
    for path, known in path_to_trade_id().items():
        if known == trade_id:
            return path
    return None


def item_storage_key(path: str) -> int:
    """The 64-bit key rows of `warehouse.exchange_prices` use for a metadata path.

    Derived from the path itself (BLAKE2b, 8 bytes, signed), so any process can compute it
    without asking the database; `warehouse.exchange_items` holds path, trade id and mapped.
    """
    return int.from_bytes(hashlib.blake2b(path.encode(), digest_size=8).digest(), "big", signed=True)
