"""Figures for docs/reliability.md: each reliability test records what it injected, tried and
checked through the `figures` fixture; the session writes them to `build/reliability.json`
(`TRADEWATCH_RELIABILITY_JSON` overrides) and `bench/reliability_report.py` renders the page.

Also `tradewatch_serve`: the API as deployed (`tradewatch serve`, one uvicorn process), for the
load and overload tests."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, ContextManager, Iterator, Mapping

import httpx
import pytest

from helpers.servers import free_port, stop_process_group

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
        path.parent.mkdir(parents=True, exist_ok=True)
        # pytest-xdist workers each save their sections: one read-merge-write at a time
        with open(path.with_name(path.name + ".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            existing = {}
            if path.exists():
                try:
                    existing = json.loads(path.read_text()).get("sections", {})
                except (ValueError, OSError):
                    existing = {}
            existing.update(self.sections)  # a partial run keeps the sections it did not touch
            path.write_text(json.dumps({
                "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, "
                           f"Python {platform.python_version()}",
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


@dataclass(frozen=True)
class ServedCommand:
    proc: subprocess.Popen
    base: str


@contextmanager
def _tradewatch_serve(workdir: Path, settings: Mapping[str, str]) -> Iterator[ServedCommand]:
    # none of the caller's TRADEWATCH_* settings leak in; the workdir has no stray .env either
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRADEWATCH_")}
    env.update(settings)
    port = free_port()
    log_path = workdir / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "tradewatch"), "serve", "--host", "127.0.0.1",
                                 "--port", str(port)],
                                cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(base + "/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "the API did not answer /health within 60 s"
                time.sleep(0.3)  # polling /health: the process offers nothing else to wait on
            yield ServedCommand(proc, base)
        finally:
            stop_process_group(proc)


@pytest.fixture(scope="session")
def tradewatch_serve() -> Callable[[Path, Mapping[str, str]], ContextManager[ServedCommand]]:
    """`with tradewatch_serve(workdir, {"TRADEWATCH_DATABASE_URL": ...}) as server:` runs `tradewatch
    serve` in `workdir` on a free loopback port with only the given TRADEWATCH_* settings, waits for
    /health, and stops its process group afterwards; `server.base`, `server.proc`."""
    return _tradewatch_serve
