"""The local stack never leaves orphans when it is killed or crashes: a SIGKILL of the supervisor (of
`tradewatch demo` and of `tradewatch run`), a second start while one runs, and a crash that killed
the supervisor and its watcher, cleaned up by `tradewatch stop` or by the next start. Each case runs
a real stack to ready and asserts, within a bounded time, that no process of its TRADEWATCH_HOME is
left and that PostgreSQL shut down cleanly (tests/helpers/local_stack.py). The cases share one home,
so only the first start is cold; tests/test_local_stack_stops.py has the signals and pipes, on a home
of its own, so the two files run on both workers at once."""

from __future__ import annotations

import sys
import time

import pytest

from helpers.demo import Demo
from helpers.local_stack import READY_WITHIN, crash_supervisor_and_watcher, ready, save_timing
from helpers.local_stack import shared_stack, stack  # noqa: F401  (fixtures: this module's own home)

slow = pytest.mark.slow


@slow
def test_sigkill_of_the_supervisor_stops_everything(stack):
    demo = ready(stack)
    assert len(demo.descendants()) >= 6  # the watcher, simulator, webserver, API, daemon, code servers
    since = time.monotonic()
    demo.proc.kill()
    demo.proc.wait(timeout=10)
    save_timing("SIGKILL of the supervisor", stack.wait_clean(since))
    log = stack.supervisor_log()
    assert "lifeline: the supervisor of `tradewatch demo`" in log and "PostgreSQL on port" in log, log
    stack.assert_next_start_is_clean()


@slow
def test_a_second_start_refuses_and_tradewatch_stop_stops_what_a_crash_left(stack):
    demo = ready(stack)
    second = stack.start()
    assert second.proc.wait(timeout=60) == 2
    refusal = second.output
    assert f"pid {demo.proc.pid}" in refusal and "`tradewatch stop`" in refusal, refusal
    assert "stop the program using it" not in refusal and "Traceback" not in refusal, refusal

    crash_supervisor_and_watcher(stack)
    assert stack.server.is_running()  # nobody is left to stop it
    since = time.monotonic()
    stopped = stack.tradewatch("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "is no longer running; stopping what it left" in stopped.stdout, stopped.stdout
    assert "PostgreSQL on port" in stopped.stdout, stopped.stdout
    save_timing("supervisor and watcher SIGKILLed, then `tradewatch stop`", stack.wait_clean(since))
    assert "no TradeWatch stack of this checkout is running" in stack.tradewatch("stop").stdout


@slow
def test_the_next_start_stops_what_a_crash_left_and_tradewatch_stop_stops_a_running_stack(stack):
    ready(stack)
    crash_supervisor_and_watcher(stack)
    demo = stack.start()
    demo.wait_for("] simulated history for the last", 120)  # by its text: step numbers change
    out = demo.output
    assert "ended without stopping its services; stopping them" in out and "PostgreSQL on port" in out, out
    assert "already taken" not in out, out

    since = time.monotonic()
    stopped = stack.tradewatch("stop")
    assert stopped.returncode == 0 and "stopped (" in stopped.stdout, stopped.stdout + stopped.stderr
    assert demo.proc.wait(timeout=10) == 0
    save_timing("`tradewatch stop` of a running stack", stack.wait_clean(since))


@slow
def test_tradewatch_run_dies_with_its_supervisor_too(stack):
    # `run` is `demo` without the simulator and its history: the same supervisor, the same stops
    command = [sys.executable, "-m", "tradewatch.cli", "run", "--dagster-port", str(stack.ports["dagster"]),
               "--api-port", str(stack.ports["api"])]
    demo = Demo(stack.tmp_path, {**stack.env, "TRADEWATCH_TRADE_API_URL": f"http://127.0.0.1:{stack.ports['sim']}"},
                stack.ports, command)
    stack.demos.append(demo)
    demo.wait_for("TradeWatch is running", READY_WITHIN)
    assert stack.record()["command"] == "run"
    since = time.monotonic()
    demo.proc.kill()
    demo.proc.wait(timeout=10)
    save_timing("SIGKILL of the supervisor of `tradewatch run`", stack.wait_clean(since))
    stack.assert_next_start_is_clean()
