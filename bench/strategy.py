"""Benchmark: one hour's strategy evaluation (`strategy_window.evaluate_window`), today's code
against the baseline before issue 16's speed-up (the core at commit 54b66ae, loaded from git).

    .venv/bin/python bench/strategy.py [--hours 168] [--repeats 5] [--baseline 54b66ae]

No database: a week of synthetic hours in the stored shapes (20 Deafening essences and
primal lifeforce, each a ~25-row `pricing.ladder` book and a robust minimum price, prices
walking from hour to hour), as the stored JSON text (the profitability asset) and as rows
already parsed (the API's worker parses with orjson). Strategies: the default (uniform
weights, top 5), a weighted family (the break-even search iterates) and top 1 with a
cheap reroll. Each figure is the best of `--repeats` runs' CPU time per hour (process time: the
least disturbed by other work on a shared machine), the policy
cache cleared before each repeat (every hour's prices differ, as in real history), plus a
run over hours whose prices repeat (the cache's case). Both versions' results are
compared: the bench fails if they differ by more than 1e-9.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import random
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._context import RunContext  # noqa: E402
from tradewatch.market import strategy as current_strategy  # noqa: E402
from tradewatch.market import strategy_window as current_window  # noqa: E402
from tradewatch.market.strategy import DEAFENING_ESSENCES, StrategySpec  # noqa: E402

START = datetime(2026, 1, 1, tzinfo=timezone.utc)
REROLL_ITEM = "primal-lifeforce"


def load_baseline(commit: str) -> types.SimpleNamespace:
    """The core's pricing, strategy and strategy_window modules as they were at `commit`, as
    a private package (`tw_baseline.market`) next to today's."""
    known = subprocess.run(["git", "cat-file", "-e", f"{commit}^{{commit}}"], cwd=ROOT, capture_output=True)
    if known.returncode != 0:
        raise SystemExit(f"the baseline commit {commit} is not in this checkout ({ROOT}): a shallow clone or an "
                         f"unpacked archive lacks it; fetch the history (git fetch --unshallow) or pass "
                         f"--baseline with a commit it holds")
    folder = Path(tempfile.mkdtemp(prefix="tw-baseline-"))
    package = folder / "tw_baseline" / "market"
    package.mkdir(parents=True)
    (folder / "tw_baseline" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    for name in ("pricing", "strategy", "strategy_window"):
        source = subprocess.run(["git", "show", f"{commit}:tradewatch/market/{name}.py"], cwd=ROOT, check=True,
                                capture_output=True, text=True).stdout
        (package / f"{name}.py").write_text(source.replace("tradewatch.market.", "tw_baseline.market."))
    sys.path.insert(0, str(folder))
    modules = {}
    for name in ("pricing", "strategy", "strategy_window"):
        spec = importlib.util.spec_from_file_location(f"tw_baseline.market.{name}", package / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
        modules[name] = module
    return types.SimpleNamespace(**modules)


def synthetic_hours(count: int, seed: int = 7, repeat_every: int | None = None) -> dict:
    """`count` hours of books (hour → item → (robust min price, ladder rows)); with
    `repeat_every`, the prices of hour i are those of hour i % repeat_every."""
    rng = random.Random(seed)
    items = (*DEAFENING_ESSENCES, REROLL_ITEM)
    level = {item: rng.uniform(0.2, 4.0) for item in items}
    level[REROLL_ITEM] = 0.075
    hours = {}
    drawn = []
    for i in range(count):
        if repeat_every is not None and i >= repeat_every:
            hours[START + timedelta(hours=i)] = drawn[i % repeat_every]
            continue
        books = {}
        for item in items:
            level[item] *= math.exp(rng.gauss(0, 0.03))
            p = level[item]
            rows = [[round(p * (1 + k * 0.01), 6), rng.choice([1, 10, 100]), 1000 + k * 10 + rng.randint(0, 50)]
                    for k in range(1, 26)]
            books[item] = (round(p * 0.99, 6), rows)
        drawn.append(books)
        hours[START + timedelta(hours=i)] = books
    return hours


def as_text(hours: dict) -> dict:
    return {h: {i: (p, json.dumps(rows)) for i, (p, rows) in books.items()} for h, books in hours.items()}


def strategies() -> dict[str, StrategySpec]:
    base = StrategySpec()
    weights = {m: 0.5 + (i % 5) * 0.6 for i, m in enumerate(DEAFENING_ESSENCES)}
    return {"default (uniform, top 5)": base,
            "weighted family": replace(base, name="weighted", weights=weights),
            "top 1, cheap reroll": replace(base, name="top1", top_k=1, reroll_cost_amount=3.0)}


def per_hour_ms(window_module, clear, spec, books, repeats: int) -> tuple[float, list]:
    times, out = [], []
    for _ in range(repeats):
        clear()
        started = time.process_time()
        out = list(window_module.evaluate_window([spec], books))
        times.append((time.process_time() - started) / len(books) * 1000)
    return min(times), out


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return a is b
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def compare(baseline_out: list, current_out: list) -> None:
    from dataclasses import fields
    assert len(baseline_out) == len(current_out)
    for old, new in zip(baseline_out, current_out):
        assert (old.hour, old.unavailable_reason) == (new.hour, new.unavailable_reason), (old, new)
        for r_old, r_new in zip(old.results or (), new.results or ()):
            for f in fields(r_old):
                x, y = getattr(r_old, f.name), getattr(r_new, f.name)
                if not _same(x if not isinstance(x, (int, float)) or isinstance(x, bool) else float(x),
                             y if not isinstance(y, (int, float)) or isinstance(y, bool) else float(y)):
                    raise SystemExit(f"results differ at {old.hour} {r_old.policy} {f.name}: {x!r} != {y!r}")


def _clear_current() -> None:
    for name in ("_optimal_stop_cached", "_solve_cached"):
        cached = getattr(current_strategy, name, None)
        if cached is not None and hasattr(cached, "cache_clear"):
            cached.cache_clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=int, default=168)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", default="54b66ae")
    args = parser.parse_args()
    if args.hours < 1 or args.repeats < 1:
        parser.error(f"--hours {args.hours} --repeats {args.repeats}: both must be at least 1")
    context = RunContext()
    baseline = load_baseline(args.baseline)
    parsed = synthetic_hours(args.hours)
    inputs = {"parsed rows (the API)": parsed, "stored JSON text (the asset)": as_text(parsed),
              "parsed rows, prices repeating every 24 h": synthetic_hours(args.hours, repeat_every=24)}
    print(f"{'strategy':28} {'books':42} {'baseline':>10} {'today':>10} {'ratio':>7}")
    for label, spec in strategies().items():
        old_spec = baseline.strategy.StrategySpec(**{f: getattr(spec, f) for f in spec.__dataclass_fields__})
        for books_label, books in inputs.items():
            old_ms, old_out = per_hour_ms(baseline.strategy_window, lambda: None, old_spec, books, args.repeats)
            new_ms, new_out = per_hour_ms(current_window, _clear_current, spec, books, args.repeats)
            compare(old_out, new_out)
            print(f"{label:28} {books_label:42} {old_ms:8.3f}ms {new_ms:8.3f}ms {old_ms / new_ms:6.1f}x")
    print(context.line())


if __name__ == "__main__":
    main()
