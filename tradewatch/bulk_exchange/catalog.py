"""The trade site's item catalogue (its static data): which ids exist and their human names.

A copy of the real `GET /api/trade/data/static` Currency and Essences groups ships with
the package, so a watchlist is checked at load time without touching the network.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

STATIC_FILE = Path(__file__).parent.parent / "data" / "trade_static_poe1.json"


@lru_cache(maxsize=1)
def _entries() -> dict[str, tuple[str, str]]:
    data = json.loads(STATIC_FILE.read_text())
    entries: dict[str, tuple[str, str]] = {}
    for group in data["result"]:
        for entry in group["entries"]:
            if entry.get("id") and entry["id"] != "sep":
                entries[entry["id"]] = (entry["text"], group["id"])
    return entries


def known_ids(game: str = "poe1") -> frozenset[str] | None:
    """The ids the trade site knows; None where no catalogue ships (PoE 2)."""
    return frozenset(_entries()) if game == "poe1" else None


def item_name(item_id: str) -> str:
    """"Deafening Essence of Greed" for "deafening-essence-of-greed"; a readable guess otherwise."""
    entry = _entries().get(item_id)
    return entry[0] if entry else item_id.replace("-", " ").title()


def item_category(item_id: str) -> str | None:
    entry = _entries().get(item_id)
    return entry[1] if entry else None
