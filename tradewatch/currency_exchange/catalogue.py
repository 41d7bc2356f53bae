"""The catalogue of every Currency Exchange item, PoE 1 and PoE 2: names, ids, categories, and
resolving what a user typed (an id, a metadata path or a display name) to one item.

The packaged files `tradewatch/data/catalogue_poe1.json` / `catalogue_poe2.json` are built by
`scripts/build_catalogue.py` from public game data (catalogue/SOURCES.md). An item's `id` is its
trade-site id where one exists (so watchlist ids keep working), else its metadata path. A path the
catalogue lacks (a new or internal item seen in the feed) gets a readable name derived from the
path, flagged `named = False`: a path is never shown as a name.

Everything here is pure (no I/O but reading the packaged files once); the warehouse's copy,
`warehouse.exchange_catalogue`, is loaded and read by `tradewatch.warehouse.exchange_catalogue`.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

from tradewatch.currency_exchange.catalog import item_storage_key
from tradewatch.errors import TradeWatchError

DATA = Path(__file__).resolve().parents[1] / "data"
GAMES = ("poe1", "poe2")
PATH_PREFIX = "Metadata/"
MAX_PATH_LENGTH = 200


class UnknownItem(TradeWatchError):
    """What was given names no item of the game's catalogue; the message offers close matches."""

    def __init__(self, message: str, given: str = "", suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.given = given
        self.suggestions = tuple(suggestions)


class AmbiguousItem(UnknownItem):
    """A display name that several catalogue items share (e.g. a currency and its quest copy)."""


@dataclass(frozen=True)
class CatalogueItem:
    game: str
    metadata_path: str
    id: str  # the trade id where one exists, else the metadata path
    name: str
    category: str | None = None
    trade_id: str | None = None
    image: str | None = None
    gold_fee: float | None = None
    named: bool = True  # False: the name was derived from the path

    @property
    def item_key(self) -> int:
        """The 64-bit key `warehouse.exchange_prices` rows use for this item's path."""
        return item_storage_key(self.metadata_path)


def game_of_realm(realm: str) -> str:
    """The game a feed realm belongs to: `poe2` is PoE 2, every other realm (pc, xbox, sony) PoE 1.
    The same rule as the SQL function `warehouse.realm_game`."""
    return "poe2" if realm == "poe2" else "poe1"


def check_game(game: str) -> str:
    if game not in GAMES:
        raise UnknownItem(f"unknown game {game[:20]!r}: use poe1 or poe2 (or a realm: pc, xbox, sony, poe2)", game)
    return game


_WORD_BREAK = re.compile(
    r"(?<=[a-z])(?=[A-Z])"          # currencyProbe → currency Probe
    r"|(?<=[A-Z])(?=[A-Z][a-z])"    # DNTItem → DNT Item
    r"|(?<=[A-Za-z])(?=[0-9])"      # Unlisted1 → Unlisted 1
    r"|(?<=[0-9])(?=[A-Za-z])")     # 3Rare → 3 Rare


def derived_name(path: str) -> str:
    """A readable name for a metadata path the catalogue lacks: its last segment, split at CamelCase
    and digits (`Metadata/Items/Currency/CurrencyProbeUnlisted1` → "Currency Probe Unlisted 1")."""
    segments = [s for s in path.replace("\\", "/").split("/") if s.strip()]
    last = segments[-1] if segments else ""
    words = _WORD_BREAK.sub(" ", last.replace("_", " ").replace("-", " "))
    name = " ".join(words.split())
    return name[:1].upper() + name[1:] if name else "Unnamed item"


def is_metadata_path(text: str) -> bool:
    """Shaped like a feed key: `Metadata/...`, printable, at most 200 characters, no spaces."""
    return (text.startswith(PATH_PREFIX) and len(text) > len(PATH_PREFIX) and len(text) <= MAX_PATH_LENGTH
            and all(32 < ord(c) < 127 for c in text))


def unlisted_item(game: str, path: str) -> CatalogueItem:
    """The entry of a path the catalogue lacks: derived name, the path as its id, named = False."""
    return CatalogueItem(game=game, metadata_path=path, id=path, name=derived_name(path), named=False)


@lru_cache(maxsize=len(GAMES))
def load_catalogue(game: str) -> tuple[CatalogueItem, ...]:
    """The packaged catalogue of `game` (poe1: 1,539 items, poe2: 1,178), sorted by metadata path."""
    data = json.loads((DATA / f"catalogue_{check_game(game)}.json").read_text(encoding="utf-8"))
    return tuple(
        CatalogueItem(game=game, metadata_path=e["metadata_path"], id=e["trade_id"] or e["metadata_path"],
                      name=e["name"], category=e["category"], trade_id=e["trade_id"], image=e["image"],
                      gold_fee=None if e["gold_fee"] is None else float(e["gold_fee"]), named=True)
        for e in data["items"])


class CatalogueIndex:
    """Items of one game looked up by id, by path and by name (case-insensitive)."""

    def __init__(self, game: str, items: Iterable[CatalogueItem]) -> None:
        self.game = game
        self.items = tuple(items)
        self.by_id: dict[str, CatalogueItem] = {}
        self.by_path: dict[str, CatalogueItem] = {}
        self.by_name: dict[str, list[CatalogueItem]] = {}  # case-folded name → the items of that name
        self._folded: dict[str, CatalogueItem] = {}  # case-folded id or path → item
        for item in self.items:
            self.by_id.setdefault(item.id, item)
            self.by_path.setdefault(item.metadata_path, item)
            self.by_name.setdefault(_fold(item.name), []).append(item)
        for item in self.items:
            self._folded.setdefault(item.id.casefold(), item)
            self._folded.setdefault(item.metadata_path.casefold(), item)
        self._choices: list[str] | None = None

    def choices(self) -> list[str]:
        """Names and ids (not paths: a suggestion should be something to type), for close matches."""
        if self._choices is None:
            seen: dict[str, None] = {}
            for item in self.items:
                seen.setdefault(item.name, None)
                if item.trade_id:
                    seen.setdefault(item.trade_id, None)
            self._choices = list(seen)
        return self._choices

    def suggestions(self, text: str, n: int = 3) -> list[str]:
        if len(text) > MAX_PATH_LENGTH:  # no typo is that long, and difflib's cost grows with the length
            return []
        folded = {c.casefold(): c for c in self.choices()}
        close = difflib.get_close_matches(text.casefold(), list(folded), n=n, cutoff=0.6)
        if not close and len(text) >= 3:  # "exalt": a part of a name is as good a hint
            close = [c for c in folded if text.casefold() in c][:n]
        return [folded[c] for c in close]

    def resolve(self, text: str, unlisted_paths: bool = False, hints: bool = True) -> CatalogueItem:
        """The item `text` names (see `resolve_item`); `hints=False` skips the close matches (a
        caller that tries other places first need not pay for difflib)."""
        # exact id or path, then the name (case-insensitive), then an id or path in another case
        item = self.by_id.get(text) or self.by_path.get(text)
        if item is not None:
            return item
        found = self.by_name.get(_fold(text))
        if not found and text.strip().casefold() in self._folded:
            found = [self._folded[text.strip().casefold()]]
        if found:
            if len(found) == 1:
                return found[0]
            ids = ", ".join(repr(i.id) for i in found)
            raise AmbiguousItem(f"{_shown(text)} names {len(found)} {self.game} items ({ids}); give one of those ids "
                                "or metadata paths instead", text, [i.id for i in found])
        if unlisted_paths and is_metadata_path(text.strip()):
            return unlisted_item(self.game, text.strip())
        hints = self.suggestions(text) if hints else []
        hint = f"; did you mean {' or '.join(repr(h) for h in hints)}?" if hints else ""
        raise UnknownItem(f"unknown {self.game} item {_shown(text)}: it is no catalogue id, metadata path or item "
                          f"name{hint} (ids look like 'divine', paths like 'Metadata/Items/Currency/CurrencyModValues', "
                          "names like 'Divine Orb')", text, hints)


def _fold(text: str) -> str:
    """A name as compared: case-insensitive, runs of white space as one space."""
    return " ".join(text.split()).casefold()


def _shown(text: str) -> str:
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


@lru_cache(maxsize=len(GAMES))
def catalogue_index(game: str) -> CatalogueIndex:
    """The packaged catalogue of `game`, indexed (built once per process)."""
    return CatalogueIndex(game, load_catalogue(game))


def name_of(game: str, item_id: str) -> str | None:
    """The display name of a catalogue id (or path) of `game`, else of the other game; a path
    neither lists gets its derived name; None for an id no catalogue knows."""
    for g in (game, *[other for other in GAMES if other != game]):
        index = catalogue_index(g)
        item = index.by_id.get(item_id) or index.by_path.get(item_id)
        if item is not None:
            return item.name
    return derived_name(item_id) if is_metadata_path(item_id) else None


def resolve_item(game: str, text: str, items: CatalogueIndex | Iterable[CatalogueItem] | None = None,
                 unlisted_paths: bool = False) -> CatalogueItem:
    """The item `text` names: a catalogue id (`exalted`), a metadata path or an exact display name
    (case-insensitive: "exalted orb"). `items` defaults to the packaged catalogue of `game`; pass the
    warehouse's rows to include paths first seen in the feed. With `unlisted_paths`, a well-formed
    metadata path that `items` lacks resolves to its derived entry (the feed may carry it).
    Raises UnknownItem (with close matches) or AmbiguousItem (a name several items share)."""
    if not isinstance(text, str) or not text.strip():
        raise UnknownItem("an item is empty: give a catalogue id, a metadata path or an item name", str(text))
    check_game(game)
    if items is None:
        index = catalogue_index(game)
    elif isinstance(items, CatalogueIndex):
        index = items
    else:
        index = CatalogueIndex(game, items)
    return index.resolve(text, unlisted_paths=unlisted_paths)


def resolve_items(game: str, texts: Sequence[str], items: CatalogueIndex | Iterable[CatalogueItem] | None = None,
                  unlisted_paths: bool = False) -> list[CatalogueItem]:
    """Each text resolved, de-duplicated in the given order (an id and its name count once)."""
    index = items if isinstance(items, CatalogueIndex) else (
        catalogue_index(check_game(game)) if items is None else CatalogueIndex(game, items))
    out: list[CatalogueItem] = []
    for text in texts:
        item = resolve_item(game, text, index, unlisted_paths)
        if item not in out:
            out.append(item)
    return out
