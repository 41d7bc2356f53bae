"""Rebuild the packaged exchange catalogue (tradewatch/data/catalogue_poe1.json, catalogue_poe2.json).

Input: catalogue/poe1_items.json.gz and catalogue/poe2_items.json.gz, gzip copies of the reference
files in the project's shared/catalogue/ (see catalogue/SOURCES.md for their sources, method and gaps).
Output: for each game, only the fields TradeWatch serves (metadata path, name, trade id, category, gold
fee, image), items sorted by metadata path, one item a line; and the simulator's own copy
(trade_sim/data/cx_items.json: per game each path, its kind and whether the in-game exchange lists it;
trade_sim imports nothing of ours). The output is deterministic: two runs give identical bytes, and
`--check` fails when the committed files differ from what the inputs give.

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
SIM_TARGET = ROOT / "trade_sim" / "data" / "cx_items.json"
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
                         "provenance": "catalogue/SOURCES.md (the reference's README: sources, method, gaps)",
                         "fields": list(FIELDS), "count": len(items)}, ensure_ascii=False)
    # one item a line: a refreshed catalogue shows up as a readable diff
    return header[:-1] + ', "items": [\n' + ",\n".join(rows) + "\n]}\n"


def simulator_items(references: dict[str, dict]) -> str:
    """trade_sim's subset: [path, kind, listed] per item, where kind is the catalogue's category (else
    the path's folder) and listed says whether the in-game exchange layout lists it (it has a gold
    fee): the simulator trades unlisted items rarely."""
    games = {}
    for game, reference in sorted(references.items()):
        rows = []
        for item in sorted(reference["items"], key=lambda i: i["metadata_path"]):
            folder = item["metadata_path"].split("/")[2] if item["metadata_path"].count("/") >= 3 else "Other"
            rows.append(json.dumps([item["metadata_path"], item.get("category") or folder,
                                    item.get("gold_fee") is not None], ensure_ascii=False))
        games[game] = rows
    body = ",\n".join(f'"{game}": [\n' + ",\n".join(rows) + "\n]" for game, rows in games.items())
    return ('{"about": "Real Currency Exchange items for the simulator, built by scripts/build_catalogue.py: '
            '[metadata path, kind, listed in the in-game exchange]",\n' + body + "}\n")


def reference(game: str) -> dict:
    with gzip.open(SOURCES / f"{game}_items.json.gz", "rt", encoding="utf-8") as source:
        reference = json.load(source)
    if not isinstance(reference.get("items"), list):
        raise SystemExit(f"{SOURCES / f'{game}_items.json.gz'} has no list of items; copy shared/catalogue/{game}_items.json")
    return reference


def build(game: str) -> str:
    data = reference(game)
    # the reference names the game in prose ("Path of Exile 1 (PC realm of the feed)"); ours is the short key
    return compact({**data, "game": game, "game_description": data.get("game")})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when a file is out of date")
    args = parser.parse_args(argv)
    stale = []
    outputs = [(TARGET / f"catalogue_{game}.json", build(game)) for game in GAMES]
    outputs.append((SIM_TARGET, simulator_items({game: reference(game) for game in GAMES})))
    for target, text in outputs:
        if args.check:
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                stale.append(str(target.relative_to(ROOT)))
        else:
            target.write_text(text, encoding="utf-8")
            print(f"{target.relative_to(ROOT)}: {len(text)} characters")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/build_catalogue.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
