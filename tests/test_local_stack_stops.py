"""The local stack never leaves orphans when it is stopped the ways a user's machine stops it. Each
case runs a real `tradewatch demo` to ready, does to it what a user's machine does (a closed
terminal, a group SIGTERM passed on by make, a closed output pipe), then asserts within a bounded
time that no process of its TRADEWATCH_HOME is left, that PostgreSQL shut down cleanly
(pg_controldata: "shut down", and no recovery in the next start's server log), and that the next
`tradewatch demo` starts without a port complaint (tests/helpers/local_stack.py). The cases share
one home, so only the first start is cold; the kills and crashes are in
tests/test_local_stack_crashes.py, on a home of its own, so the two files run on both workers at once.

How long each case took to be clean goes to build/local_stack_stops.json. The supervisor's
signal and output rules are also checked on their own, without a stack (fast)."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from helpers.demo import TerminalDemo
from helpers.local_stack import CLEAN_WITHIN, READY_WITHIN, ready, save_timing
from helpers.local_stack import shared_stack, stack  # noqa: F401  (fixtures: this module's own home)
from tradewatch.cli.local_stack import _Output, _Signals, stop_all

slow = pytest.mark.slow

@slow
def test_a_closed_terminal_sighup_stops_everything(stack):
    demo = TerminalDemo(stack.tmp_path, stack.env, stack.ports, stack.command())
    stack.demos.append(demo)
    demo.wait_for("TradeWatch is running", READY_WITHIN)
    assert stack.record()["supervisor"]["pid"] == demo.proc.pid
    logged = len(stack.supervisor_log())
    since = time.monotonic()
    demo.hang_up()  # SIGHUP from the kernel; from now on every write to the terminal fails
    assert demo.proc.wait(timeout=CLEAN_WITHIN) == 0
    save_timing("terminal closed (SIGHUP to the supervisor)", stack.wait_clean(since))
    stop_log = stack.supervisor_log()[logged:]
    assert "stopping ..." in stop_log and "stopped; the data stays" in stop_log, stop_log
    assert not (stack.home / "stack.json").exists()
    stack.assert_next_start_is_clean()


@slow
def test_sigterm_twice_to_the_whole_group_under_make_stops_everything(stack):
    # what `timeout`, CI runners and process managers do to `make demo`: make and tradewatch both
    # get SIGTERM, make passes it on, and a second one follows while the stack is stopping
    makefile = stack.tmp_path / "Makefile"
    makefile.write_text(f"demo:\n\t{shlex.join(stack.command())}\n")
    demo = ready(stack, ["make", "-s", "-f", str(makefile), "demo"])
    supervisor = psutil.Process(stack.record()["supervisor"]["pid"])
    assert os.getpgid(supervisor.pid) == demo.proc.pid  # make and the supervisor share the group
    since = time.monotonic()
    os.killpg(demo.proc.pid, signal.SIGTERM)
    demo.wait_for("stopping ...", 10)
    try:
        os.killpg(demo.proc.pid, signal.SIGTERM)
    except ProcessLookupError:  # pragma: no cover - the stop beat the second signal
        pass
    supervisor.wait(timeout=CLEAN_WITHIN)  # not our child: its exit code is make's to see
    save_timing("SIGTERM twice to the process group (make)", stack.wait_clean(since))
    demo.proc.wait(timeout=10)
    assert "stopped; the data stays" in demo.output and "Traceback" not in demo.output, demo.output
    stack.assert_next_start_is_clean()


@slow
def test_a_closed_output_pipe_does_not_abort_the_stop(stack):
    # `tradewatch demo 2>&1 | tee demo.log`, then Ctrl-C: tee dies first, every later line fails
    tee_log = stack.tmp_path / "demo.log"
    demo = ready(stack, ["sh", "-c", f"{shlex.join(stack.command())} 2>&1 | tee {shlex.quote(str(tee_log))}"])
    tee = next(p for p in demo.descendants() if p.name() == "tee")
    tee.kill()
    tee.wait(timeout=10)
    logged = len(stack.supervisor_log())
    since = time.monotonic()
    os.killpg(demo.proc.pid, signal.SIGINT)  # the Ctrl-C reaching the terminal's whole group
    save_timing("closed stdout pipe, then Ctrl-C", stack.wait_clean(since))
    stop_log = stack.supervisor_log()[logged:]
    # the progress the pipe could not take went to the supervisor's log
    assert "stopping ..." in stop_log and "stopped; the data stays" in stop_log, stop_log
    assert "Traceback" not in stop_log, stop_log
    stack.assert_next_start_is_clean()


def test_only_the_first_signal_interrupts_and_a_later_one_only_hurries():
    now = [100.0]
    signals = _Signals(clock=lambda: now[0])
    with pytest.raises(KeyboardInterrupt):
        signals._handle(signal.SIGTERM, None)
    assert signals.stopping
    now[0] += 0.3
    signals._handle(signal.SIGTERM, None)  # the same request twice (make passes it on): no hurry
    signals._handle(signal.SIGHUP, None)
    assert not signals.hurry
    now[0] += 2
    signals._handle(signal.SIGINT, None)  # a second Ctrl-C: never raises, shortens the grace
    assert signals.hurry


def test_a_hurried_stop_kills_a_service_that_ignores_sigterm_within_seconds():
    stubborn = subprocess.Popen(
        [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                               "print('ready', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert stubborn.stdout.readline().strip() == "ready"
    started = time.monotonic()
    stop_all([stubborn], grace=60, hurry=lambda: time.monotonic() - started > 0.5)
    assert stubborn.poll() is not None and time.monotonic() - started < 10


def test_a_closed_pipe_never_raises_and_the_progress_goes_to_the_log(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)
    stdout = os.fdopen(write_end, "w")
    out = _Output()
    out.streams, out.log = [stdout], tmp_path / "supervisor.log"
    out.write("stopping ...")  # EPIPE (SIGPIPE is ignored by Python): swallowed
    out.write("stopped")
    assert out.streams == []
    assert out.log.read_text() == "stopping ...\nstopped\n"
    stdout.close()  # what it still buffered goes to /dev/null now: no error at exit either


def test_signals_stay_ours_after_dagster_swaps_them_even_when_sigint_is_ignored():
    # started in the background (`make demo &`), SIGINT is ignored; Dagster's capture_interrupts
    # (run by the instance calls that report the stored hours) leaves SIGTERM doing what SIGINT
    # does on its way out, i.e. nothing, unless the supervisor puts its handlers back
    from dagster._utils.interrupts import capture_interrupts

    before = {s: signal.getsignal(s) for s in _Signals.SIGNALS}
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as a shell hands it over (this process's may be Dagster's)
    signals = _Signals()
    try:
        signals.install()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN  # an ignored signal stays ignored
        with signals.kept():
            with capture_interrupts():
                pass
            assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN  # what the bug looked like
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs within the sleep; never reached
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def test_a_signal_during_dagsters_instance_calls_still_stops_the_stack():
    # Dagster's capture_interrupts on the main thread would swallow SIGTERM (it only sets a
    # flag); the supervisor makes those calls off the main thread, so its own handler runs
    from dagster._utils.interrupts import capture_interrupts

    from tradewatch.cli.local_stack import off_main_thread

    entered = threading.Event()

    def dagster_call() -> str:
        with capture_interrupts():
            entered.set()
            time.sleep(3)
        return "done"

    before = {s: signal.getsignal(s) for s in _Signals.SIGNALS}
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as a shell hands it over (this process's may be Dagster's)
    signals = _Signals()
    try:
        signals.install()
        assert off_main_thread(dagster_call) == "done"  # the answer comes back
        entered.clear()
        threading.Thread(target=lambda: entered.wait(5) and os.kill(os.getpid(), signal.SIGTERM)).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            off_main_thread(dagster_call)
        assert time.monotonic() - started < 2.5  # at once, not when the call ends
        with pytest.raises(ZeroDivisionError):  # errors reach the caller
            off_main_thread(lambda: 1 / 0)
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


_ARMED: list[bool] = []


def _signal_self_after_fork() -> None:
    # runs in the parent right after a fork, among Python's at-fork callbacks, where an exception
    # (our handler's KeyboardInterrupt) is printed as "Exception ignored" and discarded
    if _ARMED:
        _ARMED.clear()
        os.kill(os.getpid(), signal.SIGTERM)


os.register_at_fork(after_in_parent=_signal_self_after_fork)


# the handler's KeyboardInterrupt in the callback above is the discarded exception this test is about
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_stop_asked_for_during_a_fork_still_interrupts_the_start(tmp_path):
    from tradewatch.cli.local_stack import _spawn, check_stop

    before = {s: signal.getsignal(s) for s in _Signals.SIGNALS}
    for signum in _Signals.SIGNALS:
        signal.signal(signum, signal.SIG_DFL)
    signals = _Signals()
    signals.install()
    children_before = {p.pid for p in psutil.Process().children()}
    try:
        _ARMED.append(True)
        with pytest.raises(KeyboardInterrupt):
            # the service starts (and is recorded, so the stop finds it); the stop is raised after the fork
            _spawn([sys.executable, "-c", "pass"], dict(os.environ), tmp_path / "service.log")
        assert signals.stopping and not _ARMED
        signals.begin_stop()
        check_stop()  # once the stop runs, nothing interrupts it
    finally:
        _ARMED.clear()
        signals.restore()
        for signum, handler in before.items():
            signal.signal(signum, handler)
        for child in psutil.Process().children():
            if child.pid not in children_before:
                child.wait(timeout=10)


def test_a_handler_running_inside_a_fork_records_the_stop_and_check_raises_it():
    signals = _Signals()
    signals._forking = True
    signals._handle(signal.SIGTERM, None)  # must not raise: Python would discard it
    assert signals.stopping
    with pytest.raises(KeyboardInterrupt):
        signals.check()
    signals.begin_stop()
    signals.check()
