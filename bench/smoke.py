"""`make bench-smoke`: every benchmark at its smallest size, each checked for the figures it prints.

    .venv/bin/python bench/smoke.py [--jobs 3] [--only NAME]

Not a measurement (the sizes are too small and three run at once): it proves that each script
under bench/ still runs on a fresh clone and still prints its figures, the load average and the
commit, so that a change that breaks a benchmark turns the test command red at once instead of
when someone next needs the figure. bench/backfill.py runs as a user's default run does, on an
embedded PostgreSQL it starts itself; the others share one server (TRADEWATCH_BENCH_DATABASE_URL
when set, else one embedded PostgreSQL started here), which saves a server start each.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._context import RunContext  # noqa: E402
from bench._databases import SERVER_VARIABLE, bench_server  # noqa: E402

NUMBER = r"\d[\d,]*(?:\.\d+)?"
# what bench._context.RunContext.line() prints
CONTEXT = (rf"load average \(1, 5, 15 min\) at start {NUMBER} {NUMBER} {NUMBER}, at end {NUMBER} {NUMBER} {NUMBER} "
           r"on \d+ cores; commit (?:[0-9a-f]{7,}|unknown)")
TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class Smoke:
    """One benchmark's smallest run: its arguments and the figures (regular expressions) it must print."""

    script: str
    args: tuple[str, ...]
    figures: tuple[str, ...]
    own_server: bool = False  # run without TRADEWATCH_BENCH_DATABASE_URL: the script starts its own server
    context: bool = True  # prints the load average and the commit


def _figures_file(scratch: Path) -> Path:
    """A figures file for bench/reliability_report.py (which renders what the reliability suite measured)."""
    path = scratch / "tw_smoke_reliability.json"
    path.write_text(json.dumps({"generated_at": "smoke", "machine": "smoke", "sections": {
        "load": {"p50 of a page": {"value": 3.25, "unit": "ms", "note": "bench-smoke"}}}}))
    return path


# the longest first, so that those run at once finish together
SMOKES = (
    Smoke("demo_startup.py", ("--history-days", "1", "--starts", "1"),
          (rf"cold start: URLs printed after {NUMBER} s, API answered at {NUMBER} s with latest prices for [1-9]\d* items",
           rf"simulated history for the last 1 day: .*\({NUMBER} s\)")),
    Smoke("full_history.py", ("--hours", "24", "--resume-hours", "6", "--queries", "3", "--jobs", "1"),
          (rf"raw wall s +{NUMBER} \(goal <= 480\)", rf"derived wall s +{NUMBER} \(goal <= 300\)",
           rf"market first page p50 ms +{NUMBER}", rf"series 2 years DAY p50 ms +{NUMBER}",
           rf"dagster partition status s +{NUMBER}", r"resume: \{.*'exact': True\}")),
    Smoke("graphql.py", ("--smoke",),
          (rf"30-day hourly series, 1 item +\| +{NUMBER}ms +{NUMBER}ms +{NUMBER} +{NUMBER}ms \|",
           rf"latest prices, 21 items +\| +{NUMBER}ms", rf"profitability page of 100 +\| +{NUMBER}ms",
           rf"market overview, first page of 100 +\| +{NUMBER}ms",
           rf"evaluateStrategy +7 d \(168 hours\): cold {NUMBER} s")),
    Smoke("market.py", ("--hours", "192", "--markets", "200", "--repeat", "1", "--queries", "3"),
          (rf"market first page +p50 +{NUMBER} ms", rf"marketItem +p50 +{NUMBER} ms",
           rf"keeping current \(median of 1\): exchange_prices {NUMBER} ms")),
    Smoke("backfill.py", ("--days", "1"),
          (rf"simulate-history: [1-9][\d,]* responses in {NUMBER} s",
           rf"backfill \(cli\): one run, {NUMBER} s wall; [1-9]\d* snapshot rows, [1-9]\d* profitability rows; "
           r"24 price_snapshots partitions materialized",
           rf"TOTAL simulate {NUMBER} s \+ backfill {NUMBER} s"), own_server=True),
    Smoke("currency_exchange.py", ("--hours", "1", "--markets", "100"),
          (rf"raw_currency_exchange: 1 hours in {NUMBER} s wall .* {NUMBER} MB stored",
           rf"exchange_prices: [1-9]\d* rows in {NUMBER} s wall",
           rf"projection for the full PC history \({NUMBER} hours\): raw {NUMBER} GB")),
    Smoke("rate_limit.py", ("--scale", "0.01"),
          (rf"one process +{NUMBER} +{NUMBER} +{NUMBER} +\d+", rf"two processes +{NUMBER} +{NUMBER} +{NUMBER} +\d+")),
    Smoke("currency_exchange_sim.py", ("--hours", "2", "--workers", "2"),
          (rf"documents: 2 hours, {NUMBER} ms mean", rf"http: 2 hours with 2 workers in {NUMBER} s")),
    Smoke("strategy.py", ("--hours", "4", "--repeats", "1"),
          (rf"default \(uniform, top 5\) +parsed rows \(the API\) +{NUMBER}ms +{NUMBER}ms +{NUMBER}x",)),
    Smoke("refusals.py", ("--requests", "20"),
          (rf"a known text, refused in admission +{NUMBER} µs CPU per refusal",)),
    Smoke("reliability_report.py", ("--figures", "{figures}", "--out", "{out}"),
          (r"wrote .*tw_smoke_report",), context=False),
)


@dataclass
class Outcome:
    smoke: Smoke
    seconds: float
    output: str
    problems: list[str]


def missing_figures(smoke: Smoke, output: str, returncode: int) -> list[str]:
    """What is wrong with a run's output (empty when it printed every figure and exited 0)."""
    problems = [] if returncode == 0 else [f"exited with status {returncode}"]
    expected = [*smoke.figures, *([CONTEXT] if smoke.context else [])]
    problems += [f"printed nothing matching /{pattern}/" for pattern in expected if not re.search(pattern, output)]
    return problems


def run_one(smoke: Smoke, env: dict[str, str], scratch: Path) -> Outcome:
    """Run one benchmark (killed with whatever it started after TIMEOUT_SECONDS) and judge its output."""
    args = [arg.format(figures=_figures_file(scratch), out=scratch / "tw_smoke_report.md") if "{" in arg else arg
            for arg in smoke.args]
    started = time.monotonic()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / smoke.script), *args], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            returncode = proc.wait(timeout=TIMEOUT_SECONDS)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the script and whatever it started (servers, dagster)
            returncode, timed_out = proc.wait(), True
        out.seek(0)
        output = out.read().decode(errors="replace")
    problems = missing_figures(smoke, output, returncode)
    if timed_out:
        problems.insert(0, f"did not finish within {TIMEOUT_SECONDS:.0f} s")
    return Outcome(smoke, time.monotonic() - started, output, problems)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=3,
                        help="benchmarks run at once (default 3: much of a smoke run waits on process starts)")
    parser.add_argument("--only", help="only the scripts whose name contains this")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: at least 1")
    chosen = [smoke for smoke in SMOKES if not args.only or args.only in smoke.script]
    if not chosen:
        parser.error(f"--only {args.only!r} matches none of: {', '.join(s.script for s in SMOKES)}")
    context = RunContext()
    started = time.monotonic()
    with bench_server() as server, tempfile.TemporaryDirectory(prefix="tw_smoke_") as scratch:
        outcomes = run_all(chosen, args.jobs, server, Path(scratch), on_outcome=lambda outcome: print(
            f"{'ok    ' if not outcome.problems else 'FAILED'} bench/{outcome.smoke.script} "
            f"{' '.join(outcome.smoke.args)} ({outcome.seconds:.1f} s)", flush=True))
    failed = [outcome for outcome in outcomes if outcome.problems]
    if failed:
        print(failure_report(failed))
    print(f"\nbench-smoke: {len(outcomes) - len(failed)} of {len(outcomes)} benchmarks printed their figures in "
          f"{time.monotonic() - started:.1f} s; {context.line()}")
    return 1 if failed else 0


def run_all(chosen, jobs: int, server: str, scratch: Path, on_outcome=None) -> list[Outcome]:
    """Run the chosen benchmarks, `jobs` at once, on `server` (a maintenance database URL) unless
    they start their own; their outcomes in the order chosen (`on_outcome` sees each as it comes)."""
    shared = {**os.environ, SERVER_VARIABLE: server}
    own = {k: v for k, v in os.environ.items() if k != SERVER_VARIABLE}
    with ThreadPoolExecutor(jobs) as pool:
        futures = [pool.submit(run_one, smoke, own if smoke.own_server else shared, scratch) for smoke in chosen]
        outcomes = []
        for future in futures:
            outcomes.append(future.result())
            if on_outcome:
                on_outcome(outcomes[-1])
    return outcomes


def failure_report(failed: list[Outcome]) -> str:
    """What went wrong with each failed benchmark, with its last lines."""
    return "".join(f"\n--- bench/{outcome.smoke.script}: " + "; ".join(outcome.problems) + "\n--- its last lines:\n"
                   + "\n".join(outcome.output.rstrip().splitlines()[-40:]) + "\n" for outcome in failed)


if __name__ == "__main__":
    sys.exit(main())
