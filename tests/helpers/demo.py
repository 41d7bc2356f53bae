"""`tradewatch demo` as the tests run it: a TRADEWATCH_HOME of its own outside the repository, free
ports, its output collected line by line, and what is left of it afterwards (processes whose
environment names that home, the embedded PostgreSQL's cluster state).

Imported as `helpers.demo` by the tests (tests/conftest.py puts tests/ on sys.path)."""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

import psutil

from helpers.servers import free_port

ROOT = Path(__file__).resolve().parents[2]


def demo_home() -> tuple[Path, dict[str, int], dict[str, str]]:
    """A directory outside the repo (no .env), free ports, and the environment for the demo."""
    # not pytest's tmp_path: pytest keeps its base folder at mode 0700, which the embedded
    # PostgreSQL (running as its own user when the tests run as root) could not enter
    tmp_path = Path(tempfile.mkdtemp(prefix="tw-demo-test-"))
    tmp_path.chmod(0o755)
    ports = {"dagster": free_port(), "api": free_port(), "sim": free_port(), "pg": free_port()}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRADEWATCH_", "DAGSTER_", "POESESSID", "CF_CLEARANCE"))}
    env.update({"TRADEWATCH_HOME": str(tmp_path / "home"), "TRADEWATCH_PG_PORT": str(ports["pg"]),
                "PYTHONPATH": str(ROOT)})
    return tmp_path, ports, env


def default_signals() -> None:
    """In the child before exec: SIGINT, SIGTERM and SIGHUP as a user's shell hands them over.

    Ignored dispositions are inherited across exec, and the test process may have them: started
    in the background, SIGINT is ignored, and Dagster's `capture_interrupts` (run by the in-process
    tests) then leaves SIGTERM ignored too; the demo keeps a signal that was ignored at its start
    ignored (`nohup` semantics), so it would not stop on the tests' SIGTERM."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def demo_command(ports: dict[str, int], history_days: int = 2) -> list[str]:
    return [sys.executable, "-m", "tradewatch.cli", "demo", "--history-days", str(history_days),
            "--dagster-port", str(ports["dagster"]), "--api-port", str(ports["api"]),
            "--sim-port", str(ports["sim"])]


class Demo:
    """One `tradewatch demo` process (or a command wrapping it: make, a shell pipeline) in a
    session of its own, with its output collected line by line."""

    def __init__(self, cwd: Path, env: dict[str, str], ports: dict[str, int],
                 command: list[str] | None = None) -> None:
        self.ports = ports
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            command or demo_command(ports), cwd=cwd, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True, preexec_fn=default_signals)
        # a thread drains the pipe so the demo never blocks on a full pipe and reads never hang
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def _read(self) -> None:
        if self.proc.poll() is not None:
            self._reader.join(timeout=5)

    def wait_for(self, text: str, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._read()
            for line in self.lines:
                if text in line:
                    return line
            if self.proc.poll() is not None:
                self._read()
                break
            time.sleep(0.2)
        raise AssertionError(f"`{text}` not printed within {seconds} s (exit code {self.proc.poll()}):\n"
                             + "\n".join(self.lines[-40:]))

    @property
    def output(self) -> str:
        self._read()
        return "\n".join(self.lines)

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self, seconds: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=seconds)
        self._read()
        return code

    def kill(self) -> None:
        for child in self.descendants():
            child.kill()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


class TerminalDemo(Demo):
    """The demo on a terminal of its own (a pseudo-terminal as its controlling terminal), which
    `hang_up` closes as a closed terminal window or a dropped SSH session does: the kernel sends
    SIGHUP, and every later write to the terminal fails."""

    def __init__(self, cwd: Path, env: dict[str, str], ports: dict[str, int],
                 command: list[str] | None = None) -> None:
        self.ports = ports
        self.lines = []
        self._master, slave = os.openpty()
        self._closing = threading.Event()
        self.proc = subprocess.Popen(
            command or demo_command(ports), cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
            start_new_session=True, preexec_fn=lambda: (default_signals(), fcntl.ioctl(0, termios.TIOCSCTTY, 0)))
        os.close(slave)
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        # never blocked in read: the terminal hangs up only once the last reference to it is closed
        pending = b""
        while not self._closing.is_set():
            if not select.select([self._master], [], [], 0.1)[0]:
                continue
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: nobody has the terminal open any more
                break
            if not chunk:
                break
            *complete, pending = (pending + chunk).split(b"\n")
            self.lines.extend(line.decode(errors="replace").rstrip("\r") for line in complete)
        os.close(self._master)

    def hang_up(self) -> None:
        self._closing.set()
        self._reader.join(timeout=5)


def processes_of(home: Path) -> list[psutil.Process]:
    """Every live process whose environment names `home` as its TRADEWATCH_HOME: the demo, what it
    started (PostgreSQL included) and anything wrapping it."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.pid != os.getpid() and proc.status() != psutil.STATUS_ZOMBIE \
                    and proc.environ().get("TRADEWATCH_HOME") == str(home):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
            continue
    return found


def remove_demo_home(tmp_path: Path, pg_port: int) -> None:
    """After a test, even a failed one: nothing of the home keeps running, then the folder goes."""
    home = tmp_path / "home"
    for proc in processes_of(home):
        if "postgres" not in proc.name():  # the server gets its clean stop below
            try:
                proc.kill()
            except psutil.NoSuchProcess:
                pass
    if (home / "pg" / "postmaster.pid").exists():
        from tradewatch.warehouse.embedded_pg import EmbeddedPostgres

        EmbeddedPostgres(home / "pg", pg_port).stop()
    shutil.rmtree(tmp_path, ignore_errors=True)
