"""The warehouse's copy of the exchange catalogue (`warehouse.exchange_catalogue`, migration 0016).

* `sync_catalogue`: makes the table hold the packaged catalogue of both games (idempotent; run
  by `tradewatch db upgrade` after the migrations). A path the catalogue drops, or one first seen
  in the feed, keeps its row under its derived name (`named = false`).
* `add_feed_paths`: the exchange_prices writer's call for the paths of a window, so every
  stored market has a catalogue row with a readable name (even in a warehouse migrated by a bare
  `alembic upgrade`, which does not run `sync_catalogue`).
* `read_catalogue` / `find_items`: the rows, as `CatalogueItem`s.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from tradewatch.currency_exchange.catalogue import (
    GAMES, CatalogueItem, catalogue_index, load_catalogue, unlisted_item)
from tradewatch.currency_exchange.catalog import item_storage_key

_COLUMNS = ("game", "item_key", "item_path", "id", "name", "category", "trade_id", "image", "gold_fee", "named")
_TYPES = ("text", "bigint", "text", "text", "text", "text", "text", "text", "float8", "boolean")
_SELECT = "SELECT game, item_path, id, name, category, trade_id, image, gold_fee, named FROM warehouse.exchange_catalogue"


def _row(item: CatalogueItem) -> tuple:
    return (item.game, item_storage_key(item.metadata_path), item.metadata_path, item.id, item.name, item.category,
            item.trade_id, item.image, item.gold_fee, item.named)


def _upsert(conn, rows: Sequence[tuple], update: bool) -> int:
    """Insert rows (unnest of one array per column); `update`: replace a differing row of the same key."""
    if not rows:
        return 0
    columns = list(zip(*rows))
    arrays = ", ".join(f"%s::{t}[]" for t in _TYPES)
    names = ", ".join(_COLUMNS)
    if update:
        changed = ", ".join(f"{c} = EXCLUDED.{c}" for c in _COLUMNS[2:])
        conflict = (f"DO UPDATE SET {changed} WHERE ({', '.join('exchange_catalogue.' + c for c in _COLUMNS[2:])}) "
                    f"IS DISTINCT FROM ({', '.join('EXCLUDED.' + c for c in _COLUMNS[2:])})")
    else:
        conflict = "DO NOTHING"
    return conn.execute(f"INSERT INTO warehouse.exchange_catalogue ({names}) SELECT * FROM unnest({arrays}) "
                        f"ON CONFLICT (game, item_key) {conflict}", [list(c) for c in columns]).rowcount


def sync_catalogue(conn, games: Iterable[str] = GAMES) -> int:
    """Bring `warehouse.exchange_catalogue` to the packaged catalogue; returns the rows written
    (0 when it was current). Runs in the caller's transaction."""
    written = 0
    for game in games:
        wanted = {item.metadata_path: item for item in load_catalogue(game)}
        have = {r[0]: (r[1], r[2]) for r in conn.execute(
            "SELECT item_path, id, named FROM warehouse.exchange_catalogue WHERE game = %s", (game,))}
        # a path the catalogue no longer lists keeps its row, under its derived name
        for path, (_, named) in have.items():
            if path not in wanted and named:
                wanted[path] = unlisted_item(game, path)
        # ids are unique per game: a row whose id moves to another path first takes its own path as
        # id (a path is nobody else's id), so the upsert below never meets the old holder
        moving = [path for path, (old_id, _) in have.items() if path in wanted and wanted[path].id != old_id]
        if moving:
            conn.execute("UPDATE warehouse.exchange_catalogue SET id = item_path "
                         "WHERE game = %s AND item_path = ANY(%s)", (game, moving))
        written += _upsert(conn, [_row(item) for path, item in sorted(wanted.items())
                                  if path not in have or item.named or have[path][1]], update=True)
    return written


def add_feed_paths(conn, game: str, paths: Iterable[str]) -> int:
    """A row for each path that has none yet: the packaged entry, else the derived name with
    `named = false`; returns how many were added. Existing rows are left alone.

    Runs with every hour the writer prices (~800 distinct paths): when the table already holds
    the packaged catalogue (one count), only the paths the catalogue lacks are sent."""
    known = catalogue_index(game).by_path
    wanted = set(paths)
    loaded = conn.execute("SELECT count(*) FROM warehouse.exchange_catalogue WHERE game = %s AND named",
                          (game,)).fetchone()[0]
    if loaded >= len(known):
        wanted = {p for p in wanted if p not in known}
    rows = [_row(known.get(p) or unlisted_item(game, p)) for p in sorted(wanted)]
    return _upsert(conn, rows, update=False)


def _item(r: tuple) -> CatalogueItem:
    return CatalogueItem(game=r[0], metadata_path=r[1], id=r[2], name=r[3], category=r[4], trade_id=r[5], image=r[6],
                         gold_fee=r[7], named=r[8])


def read_catalogue(conn, game: str) -> list[CatalogueItem]:
    """Every row of `game`, by metadata path."""
    return [_item(r) for r in conn.execute(f"{_SELECT} WHERE game = %s ORDER BY item_path", (game,))]


def find_items(conn, game: str, texts: Sequence[str]) -> list[CatalogueItem]:
    """The rows whose id, path or (case-insensitive) name is one of `texts` (for what the packaged
    catalogue cannot resolve: paths first seen in the feed)."""
    folded = [t.strip().lower() for t in texts]
    return [_item(r) for r in conn.execute(
        f"{_SELECT} WHERE game = %s AND (id = ANY(%s) OR item_path = ANY(%s) OR lower(name) = ANY(%s)) "
        "ORDER BY item_path", (game, list(texts), list(texts), folded))]

