"""Prebuilt Currency Exchange documents on disk, so a benchmark does not measure the simulator.

Building a full-size hour costs the simulator 15–30 ms of CPU; over a 20,000-hour backfill that
is minutes of the same two cores the pipeline is measured on. `build` writes each hour's
document ahead of time, gzipped, under `<dir>/<realm>-<key>/<unix seconds>.json.gz`, where `key`
is a digest of every knob that changes a document's bytes (seed, markets per hour, calendar,
leagues, first hours): a cache built with other knobs is never read. The server (`cx_api`) reads
a cached hour instead of generating it; the decoded bytes are exactly
`currency_exchange_document`'s, and a client that accepts gzip gets the stored bytes as they are.

    python -m trade_sim.cx_cache --dir build/cx_cache --realm pc --cx-calendar true [--hours N] [--jobs 2]

builds the realm's whole history up to the last complete hour (or its newest N hours).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from .config import SimConfig, parse_field
from .currency_exchange import REALMS, currency_exchange_document, first_hour

__all__ = ["build", "cache_folder", "history_hours", "load"]

_KNOBS = ("seed", "cx_markets_per_hour", "cx_calendar", "cx_leagues", "cx_leagues_poe2", "cx_first_hour",
          "cx_first_hour_poe2", "cx_empty_hours")


def cache_folder(directory: str | Path, realm: str, config: SimConfig) -> Path:
    """Where the documents of `realm` built with `config`'s knobs live."""
    text = "|".join(f"{name}={getattr(config, name)!r}" for name in _KNOBS)
    if isinstance(config.cx_empty_hours, frozenset):
        text += "|" + ",".join(map(str, sorted(config.cx_empty_hours)))
    key = hashlib.blake2b(text.encode(), digest_size=6).hexdigest()
    return Path(directory) / f"{realm}-{key}"


def load(realm: str, hour: int, config: SimConfig) -> bytes | None:
    """The gzipped document of `hour` (unix seconds) from `config.cx_cache_dir`, or None."""
    if not config.cx_cache_dir:
        return None
    try:
        return (cache_folder(config.cx_cache_dir, realm, config) / f"{hour}.json.gz").read_bytes()
    except FileNotFoundError:
        return None


def history_hours(realm: str, config: SimConfig, newest: int | None = None, now: float | None = None) -> list[int]:
    """Unix seconds of the realm's complete hours, oldest first (the newest `newest` of them)."""
    first = first_hour(realm, config)
    now = time.time() if now is None else now
    end = (int(config.fixed_hour.timestamp()) if config.fixed_hour else int(now) // 3600 * 3600)
    hours = list(range(first, end, 3600))
    return hours[-newest:] if newest else hours


def _build_one(args: tuple[str, int, SimConfig, str]) -> int:
    realm, hour, config, folder = args
    target = Path(folder) / f"{hour}.json.gz"
    if target.exists():
        return 0
    body = currency_exchange_document(datetime.fromtimestamp(hour, timezone.utc), realm, config)
    partial = target.with_suffix(f".tmp{os.getpid()}")
    partial.write_bytes(gzip.compress(body, 6, mtime=0))
    partial.replace(target)  # never a half-written hour, even if interrupted
    return len(body)


def build(directory: str | Path, realm: str, config: SimConfig, hours: list[int], jobs: int = 1) -> tuple[int, int]:
    """Write the missing documents of `hours`; (documents written, their decoded bytes)."""
    folder = cache_folder(directory, realm, config)
    folder.mkdir(parents=True, exist_ok=True)
    work = [(realm, hour, config, str(folder)) for hour in hours]
    if jobs <= 1:
        sizes = [_build_one(item) for item in work]
    else:
        with ProcessPoolExecutor(jobs) as pool:
            sizes = list(pool.map(_build_one, work, chunksize=64))
    written = [size for size in sizes if size]
    return len(written), sum(written)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trade_sim.cx_cache", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", required=True, help="cache folder (e.g. build/cx_cache)")
    parser.add_argument("--realm", default="pc", choices=REALMS)
    parser.add_argument("--hours", type=int, default=None, help="only the newest N complete hours")
    parser.add_argument("--jobs", type=int, default=1, help="processes building documents")
    for name in _KNOBS + ("fixed_hour",):
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None, metavar="VALUE")
    args = parser.parse_args(argv)
    try:
        overrides = {name: parse_field(name, getattr(args, name)) for name in _KNOBS + ("fixed_hour",)
                     if getattr(args, name) is not None}
        config = SimConfig.from_env(**overrides)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.hours is not None and args.hours < 1:
        print("error: --hours must be >= 1", file=sys.stderr)
        return 2
    started = time.perf_counter()
    count, size = build(args.dir, args.realm, config, history_hours(args.realm, config, args.hours), args.jobs)
    print(f"{count} documents ({size / 1e9:.2f} GB decoded) built in {time.perf_counter() - started:.1f} s "
          f"under {cache_folder(args.dir, args.realm, config)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
