#!/usr/bin/env python3
"""Fetch the pinned GraphiQL files the API serves (graphql_api/graphiql.py), so that GraphiQL
works with no internet: the packages come from the npm registry through `npm pack`, their
tarballs are checked against the registry's integrity hash, and only the files the page loads
(and each package's licence: its LICENSE file, or its package.json, which names the licence,
when the package ships no LICENSE) are kept under graphql_api/static/graphiql/vendor/.

Files larger than `GZIP_OVER` (GraphiQL's 3.5 MB script and 425 kB stylesheet) are stored only
gzip-compressed, as `<file>.gz` made by `gzip -n -9` (no name, no time: the same bytes on every
run), which the API sends as they are to browsers that accept gzip.

`MANIFEST.json` beside them records each package's version, its tarball's integrity, the
sha256 of every kept file as npm ships it (`files`) and, for the compressed ones, the sha256 of
the stored `.gz` (`gzip`); the API checks those hashes before serving, and
`tests/dashboard/test_graphiql_offline.py` checks them too. Run it again only to change a version:
    python scripts/fetch_graphiql.py
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "graphql_api" / "static" / "graphiql" / "vendor"
GZIP_OVER = 200_000  # bytes; review flags tracked files over 2 MB, and these compress about 4x

# The versions Strawberry's own GraphiQL page uses, so the page behaves as upstream's.
PACKAGES: dict[str, tuple[str, list[str]]] = {
    "react": ("18.2.0", ["umd/react.production.min.js", "LICENSE"]),
    "react-dom": ("18.2.0", ["umd/react-dom.production.min.js", "LICENSE"]),
    "graphiql": ("3.8.3", ["graphiql.min.js", "graphiql.min.css", "LICENSE"]),
    # ships no LICENSE file: its package.json states the licence (MIT)
    "@graphiql/plugin-explorer": ("1.0.2", ["dist/index.umd.js", "dist/style.css", "package.json"]),
}


def directory_name(package: str, version: str) -> str:
    return f"{package.replace('@', '').replace('/', '-')}-{version}"


def fetch(package: str, version: str, files: list[str], work: Path) -> dict:
    done = subprocess.run(["npm", "pack", "--json", f"{package}@{version}"], cwd=work,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"npm pack {package}@{version} failed:\n{done.stderr.strip()}")
    info = json.loads(done.stdout)[0]
    tarball = work / info["filename"]
    algorithm, expected = info["integrity"].split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        sys.exit(f"{tarball.name}: integrity mismatch ({info['integrity']} announced, {algorithm}-{actual} read)")
    out = TARGET / directory_name(package, version)
    shutil.rmtree(out, ignore_errors=True)
    kept: dict[str, str] = {}
    gzipped: dict[str, str] = {}
    with tarfile.open(tarball) as archive:
        licence = json.load(archive.extractfile("package/package.json")).get("license")
        for name in files:
            member = archive.extractfile(f"package/{name}")
            if member is None:
                sys.exit(f"{package}@{version} has no {name}")
            body = member.read()
            path = out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            kept[name] = hashlib.sha256(body).hexdigest()
            if len(body) > GZIP_OVER:
                compressed = gzip_n9(body)
                path.with_name(path.name + ".gz").write_bytes(compressed)
                gzipped[name] = hashlib.sha256(compressed).hexdigest()
            else:
                path.write_bytes(body)
    entry = {"version": version, "integrity": info["integrity"], "license": licence,
             "directory": out.name, "files": kept}
    if gzipped:
        entry["gzip"] = gzipped
    return entry


def gzip_n9(body: bytes) -> bytes:
    """`gzip -n -9`: deterministic (no file name, no time stamp in the header)."""
    done = subprocess.run(["gzip", "-n", "-9", "-c"], input=body, capture_output=True, check=False)
    if done.returncode != 0:
        sys.exit(f"gzip -n -9 failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def main() -> int:
    TARGET.mkdir(parents=True, exist_ok=True)
    manifest = {}
    with tempfile.TemporaryDirectory() as work:
        for package, (version, files) in PACKAGES.items():
            manifest[package] = fetch(package, version, files, Path(work))
            print(f"{package}@{version}: {len(files)} files")
    (TARGET.parent / "MANIFEST.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
