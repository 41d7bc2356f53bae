"""The line every benchmark prints beside its figures: the machine's load average (at the start
of the run and at its end) and the commit measured, so that a figure can be read and reproduced.

A figure measured on a busy machine is pessimistic; one measured on uncommitted code cannot be
reproduced from the commit alone: the line says both."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def commit(folder: Path = ROOT) -> str:
    """`git rev-parse --short HEAD` of `folder`, "+ uncommitted changes" when its tracked files
    differ from it; "unknown" outside a git checkout (an unpacked archive) or without git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=folder, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=folder,
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")


def load_average() -> tuple[float, float, float]:
    """The 1-, 5- and 15-minute load averages (0, 0, 0 where the system does not say)."""
    try:
        return os.getloadavg()
    except OSError:
        return (0.0, 0.0, 0.0)


def _loads(values: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in values)


@dataclass
class RunContext:
    """Taken when a benchmark starts (the code it runs is the commit checked out then); `line()`
    at its end says what the machine and the code were."""

    folder: Path = ROOT
    load_at_start: tuple[float, float, float] = field(default_factory=load_average)
    commit: str = field(init=False)

    def __post_init__(self) -> None:
        self.commit = commit(self.folder)

    def line(self) -> str:
        return (f"load average (1, 5, 15 min) at start {_loads(self.load_at_start)}, at end {_loads(load_average())} "
                f"on {os.cpu_count()} cores; commit {self.commit}")
