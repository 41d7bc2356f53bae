"""One TRADEWATCH_HOME running real `tradewatch demo` stacks for the tests of the local stack's stops
(tests/test_local_stack_stops.py: signals and pipes; tests/test_local_stack_crashes.py: kills and
crashes). Each of those files has its own home, so the two run on both pytest-xdist workers at once;
within a file the cases share the home, so only its first start is cold."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from helpers.demo import ROOT, Demo, demo_command, demo_home, processes_of, remove_demo_home
from tradewatch.warehouse.embedded_pg import EmbeddedPostgres

READY_WITHIN = 240  # a cold first start: initdb, a day of history, the Dagster webserver
CLEAN_WITHIN = 20  # the services' own graceful shutdown; the Dagster webserver takes seconds on a busy machine
TIMINGS = ROOT / "build" / "local_stack_stops.json"


class Stack:
    """One TRADEWATCH_HOME on free ports, shared by the cases."""

    def __init__(self) -> None:
        self.tmp_path, self.ports, self.env = demo_home()
        self.home = self.tmp_path / "home"
        self.server = EmbeddedPostgres(self.home / "pg", self.ports["pg"])
        self.demos: list[Demo] = []

    def start(self, command: list[str] | None = None) -> Demo:
        demo = Demo(self.tmp_path, self.env, self.ports, command or self.command())
        self.demos.append(demo)
        return demo

    def command(self) -> list[str]:
        return demo_command(self.ports, history_days=1)

    def record(self) -> dict:
        return json.loads((self.home / "stack.json").read_text())

    def supervisor_log(self) -> str:
        path = self.home / "logs" / "supervisor.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def tradewatch(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tradewatch.cli", *args], cwd=self.tmp_path, env=self.env,
                              capture_output=True, text=True, timeout=timeout)

    def wait_clean(self, since: float, seconds: float = CLEAN_WITHIN) -> float:
        """Seconds from `since` until no process of the home is left and PostgreSQL is shut down."""
        deadline = since + seconds
        while True:
            left = processes_of(self.home)
            pg_down = not (self.server.pgdata / "postmaster.pid").exists()
            if not left and pg_down and time.monotonic() <= deadline:
                elapsed = time.monotonic() - since
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"not clean {seconds} s after the event: "
                                     f"{[(p.pid, ' '.join(p.cmdline())[:80]) for p in left if p.is_running()]}, "
                                     f"postmaster.pid {'gone' if pg_down else 'still there'}\n"
                                     f"supervisor.log:\n{self.supervisor_log()[-3000:]}")
            time.sleep(0.1)
        state = self.server.cluster_state()
        assert state == "shut down", f"PostgreSQL was not shut down cleanly: {state}"
        return elapsed

    def assert_next_start_is_clean(self) -> None:
        """The next `tradewatch demo` passes its port checks and starts PostgreSQL without recovery;
        it is then stopped with SIGTERM (in the middle of its start) and leaves nothing either."""
        log = self.server.pgdata / "server.log"
        offset = log.stat().st_size if log.exists() else 0
        demo = self.start()
        # PostgreSQL is up and migrated: what this checks has happened, and the stop comes before the
        # simulator, the webserver and the API start (their starts and stops are the cases' own to check)
        demo.wait_for("] trade simulator on port", 120)
        out = demo.output
        assert "already taken" not in out and "already running" not in out, out
        started = log.read_text(errors="replace")[offset:]
        assert "database system was shut down at" in started, started
        assert "not properly shut down" not in started and "automatic recovery" not in started, started
        since = time.monotonic()
        assert demo.stop() == 0, demo.output
        self.wait_clean(since)

    def ensure_stopped(self) -> None:
        for demo in self.demos:
            if demo.proc.poll() is None:
                demo.kill()
        self.demos.clear()
        for proc in processes_of(self.home):
            if "postgres" not in proc.name():
                try:
                    proc.kill()
                except psutil.NoSuchProcess:
                    pass
        self.server.stop()
        (self.home / "stack.json").unlink(missing_ok=True)


def save_timing(case: str, seconds: float) -> None:
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    with open(TIMINGS.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # both files' cases write it, from two workers
        _save_timing_locked(case, seconds)
    print(f"{case}: clean after {seconds:.1f} s")


def _save_timing_locked(case: str, seconds: float) -> None:
    timings = {}
    if TIMINGS.exists():
        try:
            timings = json.loads(TIMINGS.read_text())
        except ValueError:
            timings = {}
    timings[case] = round(seconds, 2)
    TIMINGS.write_text(json.dumps(timings, indent=1) + "\n")


@pytest.fixture(scope="module")
def shared_stack():
    stack = Stack()
    yield stack
    stack.ensure_stopped()
    remove_demo_home(stack.tmp_path, stack.ports["pg"])


@pytest.fixture
def stack(shared_stack):
    yield shared_stack
    shared_stack.ensure_stopped()  # a failed case leaves nothing to the next one


def ready(stack: Stack, command: list[str] | None = None) -> Demo:
    demo = stack.start(command)
    demo.wait_for("TradeWatch is running", READY_WITHIN)
    return demo


def crash_supervisor_and_watcher(stack: Stack) -> None:
    """What no watcher can help with: both killed. The services still get their parent-death
    signal; PostgreSQL and whatever outlives its parent are left."""
    record = stack.record()
    for who in ("watcher", "supervisor"):
        os.kill(record[who]["pid"], signal.SIGKILL)
    stack.demos[-1].proc.wait(timeout=10)


