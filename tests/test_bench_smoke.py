"""`make bench-smoke` inside the test pass: every benchmark under bench/ at its smallest size, each
checked for the figures it prints (bench/smoke.py's table and rules).

Run here, the benchmarks overlap with the tests on the other pytest-xdist worker instead of running
before every test; three at once, as `make bench-smoke` runs them, since much of a run waits on
process starts. They share the session's server, except those that start their own."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # bench/ is not installed: the scripts import it from the repository root
    sys.path.insert(0, str(ROOT))

from bench import smoke  # noqa: E402


@pytest.mark.slow
def test_every_benchmark_runs_and_prints_its_figures(pg_server_url, tmp_path):
    outcomes = smoke.run_all(smoke.SMOKES, 3, pg_server_url, tmp_path)
    assert [outcome.smoke.script for outcome in outcomes] == [entry.script for entry in smoke.SMOKES]
    failed = [outcome for outcome in outcomes if outcome.problems]
    assert not failed, smoke.failure_report(failed)
