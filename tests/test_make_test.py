"""`make test`'s serial pass collects only the modules the Makefile lists in TIMING_TESTS: every module
with a `@pytest.mark.timing` test must be on that list, or its timing tests would run nowhere (the
parallel pass leaves them out)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the mark in code (a decorator, a pytestmark, a param's marks), not in a docstring or a comment
TIMING_MARK = r"^[^\"'#`\n]*pytest\.mark\.timing\b"


def timing_modules_listed(makefile: str) -> set[str]:
    match = re.search(r"^TIMING_TESTS :=((?:.*\\\n)*.*)$", makefile, re.M)
    assert match, "the Makefile defines no TIMING_TESTS"
    return set(match.group(1).replace("\\\n", " ").split())


def timing_modules_in(tests: Path, root: Path = ROOT) -> set[str]:
    return {str(path.relative_to(root)) for path in tests.rglob("test_*.py")
            if re.search(TIMING_MARK, path.read_text(), re.M)}


def test_every_module_with_timing_tests_is_in_the_serial_pass_of_make_test():
    listed = timing_modules_listed((ROOT / "Makefile").read_text())
    assert timing_modules_in(ROOT / "tests") == listed
    assert all((ROOT / name).is_file() for name in listed)


def test_the_check_sees_a_missing_module(tmp_path):
    assert timing_modules_listed("TIMING_TESTS := a.py \\\n\tb.py\n\nx: y\n") == {"a.py", "b.py"}
    listed = timing_modules_listed((ROOT / "Makefile").read_text())
    assert timing_modules_in(ROOT / "tests") - (listed - {"tests/test_trade_sim.py"}) == {"tests/test_trade_sim.py"}
    (tmp_path / "test_marked.py").write_text("pytestmark = [pytest.mark.slow, pytest.mark.timing]\n")
    (tmp_path / "test_told.py").write_text('"""Not `@pytest.mark.timing`."""\n# pytest.mark.timing\n')
    assert timing_modules_in(tmp_path, tmp_path) == {"test_marked.py"}
