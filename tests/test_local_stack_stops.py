"""The local stack never leaves orphans. Each case runs a real `tradewatch demo` to ready, does
to it what a user's machine does (a closed terminal, a group SIGTERM passed on by make, a
closed output pipe, a SIGKILL), then asserts within a bounded time that no process of its
TRADEWATCH_HOME is left, that PostgreSQL shut down cleanly (pg_controldata: "shut down", and
no recovery in the next start's server log), and that the next `tradewatch demo` starts
without a port complaint. The cases share one home, so only the first start is cold.

How long each case took to be clean goes to build/local_stack_stops.json. The supervisor's
signal and output rules are also checked on their own, without a stack (fast)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from helpers.demo import ROOT, Demo, TerminalDemo, demo_command, demo_home, processes_of, remove_demo_home
from tradewatch.cli.local_stack import _Output, _Signals, stop_all
from tradewatch.warehouse.embedded_pg import EmbeddedPostgres

slow = pytest.mark.slow

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
        demo.wait_for("] simulated history for the last", 120)  # PostgreSQL, migrations and the simulator are up
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


def _save_timing(case: str, seconds: float) -> None:
    timings = {}
    if TIMINGS.exists():
        try:
            timings = json.loads(TIMINGS.read_text())
        except ValueError:
            timings = {}
    timings[case] = round(seconds, 2)
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    TIMINGS.write_text(json.dumps(timings, indent=1) + "\n")
    print(f"{case}: clean after {seconds:.1f} s")


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


def _ready(stack: Stack, command: list[str] | None = None) -> Demo:
    demo = stack.start(command)
    demo.wait_for("TradeWatch is running", READY_WITHIN)
    return demo


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
    _save_timing("terminal closed (SIGHUP to the supervisor)", stack.wait_clean(since))
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
    demo = _ready(stack, ["make", "-s", "-f", str(makefile), "demo"])
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
    _save_timing("SIGTERM twice to the process group (make)", stack.wait_clean(since))
    demo.proc.wait(timeout=10)
    assert "stopped; the data stays" in demo.output and "Traceback" not in demo.output, demo.output
    stack.assert_next_start_is_clean()


@slow
def test_a_closed_output_pipe_does_not_abort_the_stop(stack):
    # `tradewatch demo 2>&1 | tee demo.log`, then Ctrl-C: tee dies first, every later line fails
    tee_log = stack.tmp_path / "demo.log"
    demo = _ready(stack, ["sh", "-c", f"{shlex.join(stack.command())} 2>&1 | tee {shlex.quote(str(tee_log))}"])
    tee = next(p for p in demo.descendants() if p.name() == "tee")
    tee.kill()
    tee.wait(timeout=10)
    logged = len(stack.supervisor_log())
    since = time.monotonic()
    os.killpg(demo.proc.pid, signal.SIGINT)  # the Ctrl-C reaching the terminal's whole group
    _save_timing("closed stdout pipe, then Ctrl-C", stack.wait_clean(since))
    stop_log = stack.supervisor_log()[logged:]
    # the progress the pipe could not take went to the supervisor's log
    assert "stopping ..." in stop_log and "stopped; the data stays" in stop_log, stop_log
    assert "Traceback" not in stop_log, stop_log
    stack.assert_next_start_is_clean()


@slow
def test_sigkill_of_the_supervisor_stops_everything(stack):
    demo = _ready(stack)
    assert len(demo.descendants()) >= 6  # the watcher, simulator, webserver, API, daemon, code servers
    since = time.monotonic()
    demo.proc.kill()
    demo.proc.wait(timeout=10)
    _save_timing("SIGKILL of the supervisor", stack.wait_clean(since))
    log = stack.supervisor_log()
    assert "lifeline: the supervisor of `tradewatch demo`" in log and "PostgreSQL on port" in log, log
    stack.assert_next_start_is_clean()


def _crash_supervisor_and_watcher(stack: Stack) -> None:
    """What no watcher can help with: both killed. The services still get their parent-death
    signal; PostgreSQL and whatever outlives its parent are left."""
    record = stack.record()
    for who in ("watcher", "supervisor"):
        os.kill(record[who]["pid"], signal.SIGKILL)
    stack.demos[-1].proc.wait(timeout=10)


@slow
def test_a_second_start_refuses_and_tradewatch_stop_stops_what_a_crash_left(stack):
    demo = _ready(stack)
    second = stack.start()
    assert second.proc.wait(timeout=60) == 2
    refusal = second.output
    assert f"pid {demo.proc.pid}" in refusal and "`tradewatch stop`" in refusal, refusal
    assert "stop the program using it" not in refusal and "Traceback" not in refusal, refusal

    _crash_supervisor_and_watcher(stack)
    assert stack.server.is_running()  # nobody is left to stop it
    since = time.monotonic()
    stopped = stack.tradewatch("stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "is no longer running; stopping what it left" in stopped.stdout, stopped.stdout
    assert "PostgreSQL on port" in stopped.stdout, stopped.stdout
    _save_timing("supervisor and watcher SIGKILLed, then `tradewatch stop`", stack.wait_clean(since))
    assert "no TradeWatch stack of this checkout is running" in stack.tradewatch("stop").stdout


@slow
def test_the_next_start_stops_what_a_crash_left_and_tradewatch_stop_stops_a_running_stack(stack):
    _ready(stack)
    _crash_supervisor_and_watcher(stack)
    demo = stack.start()
    demo.wait_for("] simulated history for the last", 120)  # by its text: step numbers change
    out = demo.output
    assert "ended without stopping its services; stopping them" in out and "PostgreSQL on port" in out, out
    assert "already taken" not in out, out

    since = time.monotonic()
    stopped = stack.tradewatch("stop")
    assert stopped.returncode == 0 and "stopped (" in stopped.stdout, stopped.stdout + stopped.stderr
    assert demo.proc.wait(timeout=10) == 0
    _save_timing("`tradewatch stop` of a running stack", stack.wait_clean(since))


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
    _save_timing("SIGKILL of the supervisor of `tradewatch run`", stack.wait_clean(since))
    stack.assert_next_start_is_clean()


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
