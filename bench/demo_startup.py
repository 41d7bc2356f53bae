"""How long `tradewatch demo` takes from a fresh home to answering, to derived prices, and to stop.

    .venv/bin/python bench/demo_startup.py [--history-days 7] [--starts 2]
    .venv/bin/python bench/demo_startup.py --history-days 1 --starts 1   # the smallest run (bench-smoke)

Runs the real command in a temporary directory on free ports (nothing of the repo's
`.tradewatch` is touched): a cold start (fresh PostgreSQL data, with its passwords, simulated
history, derived tables) and a warm second start on the same data (`--starts 1`: the cold one
only). Prints one line per milestone, then the load average and the commit.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._context import RunContext  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run_once(workdir: Path, env: dict[str, str], ports: dict[str, int], days: int) -> dict:
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tradewatch.cli", "demo", "--history-days", str(days),
         "--dagster-port", str(ports["dagster"]), "--api-port", str(ports["api"]), "--sim-port", str(ports["sim"])],
        cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    marks: dict = {}
    # the URLs are printed once the API serves a latest price for every watched item (ready = data)
    milestones = {"running": "TradeWatch is running"}
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            out = "".join(lines)
            for name, text in milestones.items():
                if name not in marks and text in out:
                    marks[name] = time.monotonic() - started
            if "running" in marks and "ui" not in marks:
                requests.get(f"http://127.0.0.1:{ports['api']}/health", timeout=10).raise_for_status()
                marks["ui"] = time.monotonic() - started
            if "ui" in marks:
                latest = requests.post(f"http://127.0.0.1:{ports['api']}/graphql", timeout=10,
                                       json={"query": "{ latestPrices { item { id } } }"}).json()
                marks["items"] = len(latest["data"]["latestPrices"])
                break
            time.sleep(0.1)
        stop_started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
        marks["stop"] = time.monotonic() - stop_started
        reader.join(timeout=5)
        out = "".join(lines)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    marks["steps"] = re.findall(r"\[\d+/\d+\] (.*?) \.\.\. (.*?) \((\d+\.\d) s\)", out)
    return marks


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--history-days", type=int, default=7, help="days of simulated history (default 7; "
                        "1 is the smallest)")
    parser.add_argument("--starts", type=int, choices=(1, 2), default=2,
                        help="2: a cold and a warm start (default); 1: the cold start only")
    args = parser.parse_args()
    if args.history_days < 1:
        parser.error(f"--history-days {args.history_days}: the demo needs at least 1 day of history")
    context = RunContext()
    with tempfile.TemporaryDirectory(prefix="tw-demo-bench-") as tmp:
        workdir = Path(tmp)
        ports = {"dagster": _free_port(), "api": _free_port(), "sim": _free_port(), "pg": _free_port()}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADEWATCH_", "DAGSTER_"))}
        env.update({"TRADEWATCH_HOME": str(workdir / "home"), "TRADEWATCH_PG_PORT": str(ports["pg"]),
                    "PYTHONPATH": str(ROOT)})
        for label in ("cold start", "warm start")[:args.starts]:
            marks = _run_once(workdir, env, ports, args.history_days)
            print(f"{label}: URLs printed after {marks['running']:.1f} s, API answered at {marks['ui']:.1f} s "
                  f"with latest prices for {marks['items']} items; stopped in {marks['stop']:.1f} s")
            for step, result, seconds in marks["steps"]:
                print(f"    {step}: {result} ({seconds} s)")
    print(context.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
