"""Rebuild the packaged exchange catalogue (tradewatch/data/catalogue_poe1.json, catalogue_poe2.json).

Input: catalogue/poe1_items.json.gz and catalogue/poe2_items.json.gz, gzip copies of the reference
files in the project's shared/catalogue/ (see catalogue/SOURCES.md for their sources, method and gaps).
Output: for each game, only the fields TradeWatch serves (metadata path, name, trade id, category, gold
fee, image), items sorted by metadata path, one item a line. The output is deterministic: two runs give
identical bytes, and `--check` fails when the committed files differ from what the inputs give.

    python scripts/build_catalogue.py            # rewrite the packaged files
    python scripts/build_catalogue.py --check    # exit 1 when they are out of date
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "catalogue"
TARGET = ROOT / "tradewatch" / "data"
GAMES = ("poe1", "poe2")
FIELDS = ("metadata_path", "name", "trade_id", "category", "gold_fee", "image")


def compact(reference: dict) -> str:
    """The packaged file's text for one game's reference catalogue."""
    items = sorted(reference["items"], key=lambda item: item["metadata_path"])
    paths = [item["metadata_path"] for item in items]
    if len(set(paths)) != len(paths):
        raise SystemExit(f"{reference['game']}: a metadata path occurs twice in the reference catalogue")
    for item in items:
        if not item.get("name") or not item["metadata_path"].startswith("Metadata/"):
            raise SystemExit(f"{reference['game']}: item {item!r} has no name or no metadata path")
    rows = [json.dumps({field: item.get(field) for field in FIELDS}, ensure_ascii=False, sort_keys=False)
            for item in items]
    header = json.dumps({"game": reference["game"], "description": reference.get("game_description"), "built": reference["built"], "licence": reference.get("licence"),
                         "fields": list(FIELDS), "count": len(items)}, ensure_ascii=False)
    # one item a line: a refreshed catalogue shows up as a readable diff
    return header[:-1] + ', "items": [\n' + ",\n".join(rows) + "\n]}\n"


def build(game: str) -> str:
    with gzip.open(SOURCES / f"{game}_items.json.gz", "rt", encoding="utf-8") as source:
        reference = json.load(source)
    if not isinstance(reference.get("items"), list):
        raise SystemExit(f"{SOURCES / f'{game}_items.json.gz'} has no list of items; copy shared/catalogue/{game}_items.json")
    # the reference names the game in prose ("Path of Exile 1 (PC realm of the feed)"); ours is the short key
    return compact({**reference, "game": game, "game_description": reference.get("game")})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    for game in GAMES:
        text = build(game)
        target = TARGET / f"catalogue_{game}.json"
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(str(target.relative_to(ROOT)))
        else:
            target.write_text(text, encoding="utf-8")
            print(f"{target.relative_to(ROOT)}: {text.count(chr(10)) - 2} items")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/build_catalogue.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
