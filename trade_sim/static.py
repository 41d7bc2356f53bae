"""The trade site's static item data (ids and display names) the simulator knows.

The document is a verbatim excerpt of the real `GET /api/trade/data/static` answer
(Currency and Essences groups), so ids, names and the separator rows
(`{"id": "sep", "text": ""}`) have the real shape. There is one copy of it,
`tradewatch/data/trade_static_poe1.json`, shipped in the same distribution as this package:
the simulator reads that file by path (it imports nothing of TradeWatch), so what it serves
and the names the pipeline shows can never drift apart.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

STATIC_PATH = Path(__file__).resolve().parent.parent / "tradewatch" / "data" / "trade_static_poe1.json"

# The real data uses "sep" rows as visual separators; they are not items.
SEPARATOR_ID = "sep"


@lru_cache(maxsize=1)
def static_data() -> dict[str, Any]:
    """The parsed static document `{"result": [{"id", "label", "entries": [...]}]}`.

    Cached and shared: callers must not mutate it.
    """
    with STATIC_PATH.open(encoding="utf-8") as fh:
        return json.load(fh)


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    names: dict[str, str] = {}
    for group in static_data()["result"]:
        for entry in group["entries"]:
            if entry["id"] != SEPARATOR_ID:
                names[entry["id"]] = entry["text"]
    return names


def known_ids() -> set[str]:
    """Every tradeable id in the static data (separators excluded)."""
    return set(_names())


def item_name(item_id: str) -> str:
    """Display name used in whispers, e.g. "Divine Orb"; raises KeyError if unknown."""
    return _names()[item_id]
