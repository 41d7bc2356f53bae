"""Figures for docs/reliability.md: each reliability test records what it injected, tried and
checked through the `figures` fixture; the session writes them to `build/reliability.json`
(`TRADEWATCH_RELIABILITY_JSON` overrides) and `bench/reliability_report.py` renders the page."""

from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def figures_path() -> Path:
    return Path(os.environ.get("TRADEWATCH_RELIABILITY_JSON", ROOT / "build" / "reliability.json"))


class Figures:
    """Sections of named figures; a test's figures replace that test's earlier ones."""

    def __init__(self) -> None:
        self.sections: dict[str, dict[str, dict]] = {}

    def record(self, section: str, name: str, value, unit: str = "", note: str = "") -> None:
        self.sections.setdefault(section, {})[name] = {"value": value, "unit": unit, "note": note}

    def save(self, path: Path) -> None:
        existing = {}
        if path.exists():
            try:
                existing = json.loads(path.read_text()).get("sections", {})
            except (ValueError, OSError):
                existing = {}
        existing.update(self.sections)  # a partial run keeps the sections it did not touch
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "sections": existing,
        }, indent=2, default=str))


_FIGURES = Figures()


@pytest.fixture(scope="session")
def figures():
    started = time.monotonic()
    yield _FIGURES
    if _FIGURES.sections:
        _FIGURES.record("run", "reliability suite wall time", round(time.monotonic() - started, 1), "s")
        _FIGURES.save(figures_path())
