"""What a local stack (`tradewatch demo` / `run`) started, and stopping it without touching anything else.

A running stack records itself in `<TRADEWATCH_HOME>/stack.json`: its supervisor, its lifeline
watcher and each service (pid and start time), its ports, and whether the embedded PostgreSQL is
the stack's to stop. Every service also carries `TRADEWATCH_STACK=<home>#<run id>` in its
environment, which what it starts in turn (Dagster's code servers, run workers) inherits.

A pid is acted on only when it still is the process that was recorded (same start time) or it
carries this run's mark, so a pid the system has since handed to another program is never
signalled. The embedded PostgreSQL is never killed: it gets a fast shutdown through `pg_ctl`,
so the next start needs no recovery. The supervisor's own stop, the lifeline watcher (after a
crash of the supervisor), the next start (after a crash of both) and `tradewatch stop` all stop
a stack with `stop_leftovers`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import psutil

from tradewatch.errors import TradeWatchError

MARK = "TRADEWATCH_STACK"
RECORD = "stack.json"

Say = Callable[[str], None]


def _quiet(text: str) -> None:
    pass


def start_time(pid: int) -> float | None:
    """When `pid` started (seconds since the epoch), None when no such process runs."""
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return None


def _same_process(pid: int, started: float) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        if abs(proc.create_time() - started) < 0.05 and proc.status() != psutil.STATUS_ZOMBIE:
            return proc
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        pass
    return None


def marked(prefix: str) -> list[psutil.Process]:
    """Live processes whose TRADEWATCH_STACK mark starts with `prefix` (a run's mark, or `<home>#`)."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        try:
            mark = proc.environ().get(MARK, "")
            if mark.startswith(prefix) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied, OSError):
            continue
    return found


def describe(proc: psutil.Process) -> str:
    try:
        words = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        words = []
    # `python -m uvicorn graphql_api.app:app` reads better as `uvicorn graphql_api.app:app`,
    # `python3 /…/bin/dagster-webserver -w …` as `dagster-webserver`
    if words and Path(words[0]).name.startswith("python"):
        words = words[1:]
        while words and words[0].startswith("-") and words[0] not in ("-m", "-c"):
            words = words[1:]
        if words and words[0] == "-m":
            words = words[1:]
    name = " ".join([Path(words[0]).name, *words[1:2]])[:40] if words else "?"
    return f"{name} (pid {proc.pid})"


def terminate(procs: list[psutil.Process], grace: float, hurry: Callable[[], bool] = lambda: False) -> None:
    """SIGTERM each process, SIGKILL what is left after `grace` s (or at once when `hurry()` says so)."""
    for proc in procs:
        try:
            proc.send_signal(signal.SIGTERM)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            pass
    deadline = time.monotonic() + grace
    alive = procs
    while alive and time.monotonic() < deadline and not hurry():
        _, alive = psutil.wait_procs(alive, timeout=0.2)
    for proc in alive:
        try:
            proc.kill()
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            pass
    psutil.wait_procs(alive, timeout=5)


@dataclass
class StackRecord:
    """`<home>/stack.json`: one run of the local stack."""

    home: Path
    data: dict = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return self.home / RECORD

    @property
    def mark(self) -> str:
        return f"{self.home}#{self.data['run']}"

    @classmethod
    def new(cls, home: Path, command: str, root: Path, ports: dict[str, int]) -> "StackRecord":
        me = os.getpid()
        record = cls(home, {
            "run": uuid.uuid4().hex, "command": command, "root": str(root), "home": str(home),
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "supervisor": {"pid": me, "started": start_time(me)},
            "ports": ports, "services": [], "watcher": None, "postgres": None,
        })
        record.save()
        return record

    @classmethod
    def load(cls, home: Path) -> "StackRecord | None":
        try:
            data = json.loads((home / RECORD).read_text())
            data["run"], data["supervisor"]["pid"]  # the fields everything relies on
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return cls.unknown(home)
        return cls(home, data)

    @classmethod
    def unknown(cls, home: Path) -> "StackRecord":
        """A run whose record is lost or unreadable: it names nothing that could be verified, so
        it stands for every process carrying a mark of this home."""
        return cls(home, {"run": "", "supervisor": {"pid": 0, "started": 0}, "command": "demo",
                          "services": [], "ports": {}, "postgres": None, "watcher": None})

    def save(self) -> None:
        """Atomically: a crash mid-write leaves the previous version, never half a file."""
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.home.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(self.data, indent=1))
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise TradeWatchError(f"cannot write {self.path} ({exc.strerror}), where the stack records "
                                  "what it starts so that nothing outlives it; free some space or fix "
                                  "the permissions of TRADEWATCH_HOME") from None

    def clear(self) -> None:
        """Remove the record, unless it has meanwhile become another run's."""
        current = StackRecord.load(self.home)
        if current is not None and current.data.get("run") == self.data.get("run"):
            self.path.unlink(missing_ok=True)

    def add_service(self, name: str, pid: int) -> None:
        self.data["services"].append({"name": name, "pid": pid, "started": start_time(pid)})
        self.save()

    def set_watcher(self, pid: int) -> None:
        self.data["watcher"] = {"pid": pid, "started": start_time(pid)}
        self.save()

    def set_postgres(self, pgdata: Path, port: int, owned: bool) -> None:
        """`owned`: this run started the embedded server (or is starting it), so it stops it too."""
        self.data["postgres"] = {"pgdata": str(pgdata), "port": port, "owned": owned}
        self.save()

    # --- what is alive -----------------------------------------------------------------------

    def supervisor(self) -> psutil.Process | None:
        entry = self.data["supervisor"]
        return _same_process(entry["pid"], entry["started"]) if entry.get("started") else None

    def watcher(self) -> psutil.Process | None:
        entry = self.data.get("watcher")
        return _same_process(entry["pid"], entry["started"]) if entry and entry.get("started") else None

    def services(self) -> list[psutil.Process]:
        """The run's live service processes: the recorded ones that still are what was recorded,
        and whatever carries the run's mark (code servers, run workers, a service started just
        before a crash left no time to record it)."""
        # a record without a run id (half-written) falls back to every mark of this home
        found = {p.pid: p for p in marked(self.mark)}
        for entry in self.data["services"]:
            proc = _same_process(entry["pid"], entry["started"]) if entry.get("started") else None
            if proc is not None:
                found.setdefault(proc.pid, proc)
        found.pop(os.getpid(), None)
        return list(found.values())

    def postgres(self):
        """The embedded server this run owns, when it still runs."""
        from tradewatch.warehouse.embedded_pg import EmbeddedPostgres

        entry = self.data.get("postgres")
        if not entry or not entry.get("owned"):
            return None
        server = EmbeddedPostgres(Path(entry["pgdata"]), int(entry["port"]))
        return server if server.is_running() else None

    def describe(self) -> str:
        supervisor = self.data["supervisor"]
        ports = ", ".join(f"{name} {port}" for name, port in self.data.get("ports", {}).items())
        return (f"`tradewatch {self.data.get('command', 'demo')}` (pid {supervisor['pid']}, started "
                f"{self.data.get('started_at', '?')}{', ports ' + ports if ports else ''})")


def stop_leftovers(record: StackRecord, say: Say = _quiet, grace: float = 4,
                   hurry: Callable[[], bool] = lambda: False, spare_watcher: bool = False) -> list[str]:
    """Stop what `record`'s run left running: its services (whole trees), then its PostgreSQL with a
    fast shutdown, then its watcher (unless `spare_watcher`: the supervisor releases it itself);
    remove the record. Returns what was stopped."""
    stopped: list[str] = []
    # later passes catch what a stopping service started meanwhile (a code server it was
    # spawning, a run's step process): it gets a second, not another grace period
    for attempt in range(3):
        services = record.services()
        if not services:
            break
        stopped += [describe(p) for p in services]
        terminate(services, grace if attempt == 0 else 1, hurry)
    server = record.postgres()
    if server is not None:
        stopped.append(f"PostgreSQL on port {server.port}")
        server.stop()
    watcher = record.watcher()
    if watcher is not None and watcher.pid != os.getpid() and not spare_watcher:
        stopped.append(describe(watcher))
        terminate([watcher], grace=2)
    record.clear()
    if stopped:
        say(f"stopped {len(stopped)}: " + ", ".join(stopped))
    return stopped


def check_previous_run(home: Path, say: Say) -> None:
    """Before a start: refuse when a stack of this home runs; stop what a crashed one left."""
    record = StackRecord.load(home)
    if record is None:
        return
    supervisor = record.supervisor()
    if supervisor is not None:
        raise TradeWatchError(
            f"TradeWatch is already running from {record.data.get('root', 'this checkout')}: "
            f"{record.describe()}; stop it with `tradewatch stop` (or Ctrl-C in its terminal)")
    if record.services() or record.postgres() is not None:
        say(f"the previous {record.describe()} ended without stopping its services; stopping them")
    stop_leftovers(record, say)


def port_holder(port: int, home: Path) -> str | None:
    """Which process of this home's stacks listens on 127.0.0.1:`port`, if one does."""
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for conn in connections:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
            try:
                proc = psutil.Process(conn.pid)
                if proc.environ().get(MARK, "").startswith(f"{home}#"):
                    return describe(proc)
            except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
                continue
    return None


def _gone(proc: psutil.Process, seconds: float) -> bool:
    """Whether `proc` (not our child: psutil's wait would count a zombie as alive) ends within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def stop_stack(home: Path, say: Say, wait: float = 90) -> int:
    """`tradewatch stop`: stop the running stack of this home (through its supervisor, which stops
    everything in order) or what a crashed one left."""
    record = StackRecord.load(home)
    if record is None:
        orphans = marked(f"{home}#")
        if not orphans:
            say(f"no TradeWatch stack of this checkout is running (nothing recorded in {home})")
            return 0
        record = StackRecord.unknown(home)
    supervisor = record.supervisor()
    started = time.monotonic()
    if supervisor is not None:
        say(f"stopping {record.describe()} ...")
        try:
            supervisor.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            pass
        if not _gone(supervisor, wait):
            say(f"it did not stop within {wait:.0f} s; stopping its services directly")
            supervisor.kill()
        if StackRecord.load(home) is None:
            say(f"stopped ({time.monotonic() - started:.1f} s)")
            return 0
    elif record.data["run"]:
        say(f"{record.describe()} is no longer running; stopping what it left")
    if not stop_leftovers(record, say):
        say("nothing was left running")
    else:
        say(f"done ({time.monotonic() - started:.1f} s)")
    return 0
