"""The local process set behind `tradewatch demo` and `tradewatch run`.

One foreground command owns everything it starts: the embedded PostgreSQL (when no
`TRADEWATCH_DATABASE_URL` is given), the trade simulator (demo only), the Dagster
webserver and daemon on that PostgreSQL, and the GraphQL API. The demo also fills the
last days with simulated history, fetches the current hour from the simulator, derives their
snapshots, profitability and alerts (cli/demo_data.py), and reports all of it to Dagster as
materializations with their checks' outcomes (cli/dagster_history.py) while the services
load; it prints its URLs only when the API serves a latest price for every watched item.
Ctrl-C, SIGTERM or
SIGHUP (a closed terminal) stops every process it started, PostgreSQL last; data stays in
`TRADEWATCH_HOME`, so the next start resumes with it.

Nothing is left behind: once stopping has begun further signals only hurry it, a closed
output pipe never aborts it, the services die with the supervisor even when it is killed
(`lifeline`), and what a run started is recorded so the next start or `tradewatch stop`
can stop what a crash left (`stack_record`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from tradewatch.cli import lifeline
from tradewatch.cli.stack_record import MARK, StackRecord, check_previous_run, port_holder, stop_leftovers
from tradewatch.warehouse.embedded_pg import port_is_free
from tradewatch.errors import TradeWatchError
from tradewatch.settings import set_dagster_event_switches

ROOT = Path(__file__).resolve().parents[2]
# The demo's simulator announces the real limits at 1/100 of their periods (10 requests per 0.9 s
# instead of 90 s), so the current hour's books are fetched at start in seconds, not minutes.
DEMO_SIM_TIME_SCALE = 0.01
BIN = Path(sys.executable).parent
T = TypeVar("T")


@dataclass(frozen=True)
class Ports:
    dagster: int = 3000
    api: int = 8000
    sim: int = 8090


def require_free(port: int, what: str, option: str, home: Path | None = None) -> None:
    if not port_is_free(port):
        ours = port_holder(port, home) if home is not None else None
        if ours:
            raise TradeWatchError(f"port {port} is taken by TradeWatch's own {ours}, left by an earlier "
                                  f"start from this checkout, so {what} cannot start; stop it with "
                                  f"`tradewatch stop` or pass {option} with another port")
        raise TradeWatchError(f"port {port} is already taken, so {what} cannot start; "
                              f"stop the program using it or pass {option} with another port")


class _Output:
    """The supervisor's progress: on stdout, else on stderr, and always in `logs/supervisor.log`.

    A closed pipe (`| tee` killed by the same Ctrl-C) or a full disk never raises: the stop it
    would interrupt matters more than the line."""

    def __init__(self) -> None:
        self.streams = [sys.stdout, sys.stderr]
        self.log: Path | None = None

    def write(self, text: str, end: str = "\n") -> None:
        for stream in list(self.streams):
            try:
                stream.write(text + end)
                stream.flush()
                break
            except (OSError, ValueError):
                self.streams.remove(stream)
                _silence(stream)
        if self.log is not None:
            try:
                with open(self.log, "a") as out:
                    out.write(text + end)
            except OSError:
                pass


def _silence(stream) -> None:
    # what the stream still buffers would fail again at exit ("Exception ignored ... BrokenPipeError")
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


output = _Output()


def say(text: str, end: str = "\n") -> None:
    output.write(text, end)


class _Signals:
    """SIGINT, SIGTERM and SIGHUP stop the stack. The first one interrupts whatever runs (a start
    step, the watch); once stopping has begun, later ones never interrupt it: a repeat more than a
    second later (a second Ctrl-C) only shortens the services' grace period. A repeat within the
    second is the same request arriving twice (make passing on a signal to its whole group).

    The interruption is a KeyboardInterrupt raised by the handler, which Python discards when the
    handler happens to run inside a fork's at-fork callbacks (each service start forks): so a
    handler running during a fork only records the request, and `check` — called between start
    steps, after each spawn and in every wait loop — raises it in ordinary code."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, clock=time.monotonic) -> None:
        self.stopping = False  # a stop was asked for
        self.hurry = False
        self._begun = False  # the stop itself runs: nothing may interrupt it any more
        self._forking = False
        self._clock, self._first = clock, 0.0
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.stopping:
            if self._clock() - self._first > 1:
                self.hurry = True
            return
        self.stopping, self._first = True, self._clock()
        if not self._forking:
            raise KeyboardInterrupt

    def check(self) -> None:
        """Raise the interruption a stop request is owed, if the handler could not raise it."""
        if self.stopping and not self._begun:
            raise KeyboardInterrupt

    def begin_stop(self) -> None:
        if not self.stopping:
            self.stopping, self._first = True, self._clock()
        self._begun = True

    def install(self) -> None:
        global _active
        # a signal ignored at start stays ignored: `nohup tradewatch demo &` outlives its terminal
        self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS
                          if signal.getsignal(signum) != signal.SIG_IGN}
        _active = self

    def restore(self) -> None:
        global _active
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        if _active is self:
            _active = None

    @contextlib.contextmanager
    def kept(self) -> Iterator[None]:
        """Our handlers stay ours across code that replaces them: Dagster's `capture_interrupts`
        sets SIGTERM to whatever SIGINT does on its way out, which is SIG_IGN when the stack was
        started in the background (`make demo &`), so a later SIGTERM would do nothing."""
        try:
            yield
        finally:
            for signum in self._previous:
                signal.signal(signum, self._handle)


_active: _Signals | None = None  # the supervisor's handlers, once installed


def _fork_begins() -> None:
    if _active is not None:
        _active._forking = True


def _fork_ended() -> None:
    if _active is not None:
        _active._forking = False


# registered after logging's (imported above): its after-fork callback, where a KeyboardInterrupt
# would be discarded ("Exception ignored in: _releaseLock"), runs while the flag is set
os.register_at_fork(before=_fork_begins, after_in_parent=_fork_ended, after_in_child=_fork_ended)


def check_stop() -> None:
    """Raise the pending stop (see `_Signals`); nothing when no stop was asked for."""
    if _active is not None:
        _active.check()


def off_main_thread(function: Callable[..., T], *args, **kwargs) -> T:
    """`function(*args, **kwargs)` in a thread of its own, this thread waiting for it.

    For Dagster's instance calls: on the main thread its `capture_interrupts` takes SIGINT and
    SIGTERM for itself, so a stop requested meanwhile would be swallowed; off it, Dagster leaves
    the handlers alone and a signal interrupts the wait here. The thread is a daemon: a stop never
    waits for it."""
    result: dict = {}

    def run() -> None:
        try:
            result["value"] = function(*args, **kwargs)
        except BaseException as exc:  # handed to the waiting thread
            result["error"] = exc

    worker = threading.Thread(target=run, name=getattr(function, "__name__", "worker"), daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)  # short waits: the signal handler runs between them
        check_stop()
    if "error" in result:
        raise result["error"]
    return result["value"]


def _log_tail(proc: subprocess.Popen, lines: int = 15) -> str:
    log = getattr(proc, "log_path", None)
    if log is None or not Path(log).exists():
        return ""
    tail = Path(log).read_text(errors="replace").splitlines()[-lines:]
    return f"\nlast lines of {log}:\n" + "\n".join("  " + line for line in tail)


def wait_for_port(port: int, seconds: float, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TradeWatchError(f"{what} exited at start (code {proc.returncode}){_log_tail(proc)}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        check_stop()
        time.sleep(0.2)
    raise TradeWatchError(f"{what} did not answer on port {port} within {seconds:.0f} s{_log_tail(proc)}")


def _wait_alive(proc: subprocess.Popen, seconds: float, what: str) -> None:
    """A service without a port (the daemon) counts as started when it survives its first seconds."""
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return
    raise TradeWatchError(f"{what} exited at start (code {proc.returncode}){_log_tail(proc)}")


def dagster_home(home: Path) -> Path:
    path = home / "dagster_home"
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "dagster.yaml", path / "dagster.yaml")
    return path


def service_environment(database_url: str, home: Path, trade_api_url: str | None = None) -> dict[str, str]:
    """The environment every TradeWatch process of one installation shares."""
    from tradewatch.warehouse.db import psycopg2_url

    env = dict(os.environ)
    env.update({
        "TRADEWATCH_DATABASE_URL": database_url,
        "TRADEWATCH_DAGSTER_PG_URL": psycopg2_url(database_url),
        "DAGSTER_HOME": str(dagster_home(home)),
        "TRADEWATCH_HOME": str(home),
    })
    # the daemon creates backfill runs without loading the code location: it needs them too
    set_dagster_event_switches(env)
    if trade_api_url:
        env["TRADEWATCH_TRADE_API_URL"] = trade_api_url
    return env


def stop_all(processes: list[subprocess.Popen], grace: float = 20, hurry=lambda: False) -> None:
    """SIGTERM every process group (newest first), then SIGKILL what is left after `grace` s
    (after 2 s once `hurry()` turns true)."""
    for proc in reversed(processes):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    hurried = False
    for proc in reversed(processes):
        while proc.poll() is None and time.monotonic() < deadline:
            if not hurried and hurry():
                hurried, deadline = True, min(deadline, time.monotonic() + 2)
            time.sleep(0.05)
        # children of a stopped leader (e.g. a code server) may outlive it: the group goes too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # stuck in the kernel: nothing more a signal can do
            pass


class Progress:
    """Numbered preparation steps with their duration, on stdout."""

    def __init__(self, total: int) -> None:
        self.total, self.n, self.started = total, 0, time.monotonic()
        self._step_started = self.started

    def step(self, text: str) -> None:
        check_stop()
        self.n += 1
        self._step_started = time.monotonic()
        say(f"[{self.n}/{self.total}] {text} ...", end="")

    def done(self, result: str = "ok") -> None:
        check_stop()
        say(f" {result} ({time.monotonic() - self._step_started:.1f} s)")

    def elapsed(self) -> float:
        return time.monotonic() - self.started


def hours_to_derive(database_url: str, start: datetime, end: datetime) -> tuple[datetime, datetime] | None:
    """The smallest [first, last + 1 h) covering stored raw hours in [start, end) without snapshots."""
    from tradewatch.warehouse.db import connect

    with connect(database_url) as conn:
        first, last = conn.execute(
            """SELECT min(r.observed_hour), max(r.observed_hour)
                 FROM (SELECT DISTINCT observed_hour FROM warehouse.raw_trade_responses
                        WHERE observed_hour >= %s AND observed_hour < %s) r
                WHERE NOT EXISTS (SELECT 1 FROM warehouse.price_snapshots s
                                   WHERE s.observed_hour = r.observed_hour)""",
            (start, end)).fetchone()
    return None if first is None else (first, last + timedelta(hours=1))


def run_services(ports: Ports, with_simulator: bool, history_days: int = 7) -> int:
    """Start everything, prepare the demo data, print the URLs and wait for Ctrl-C / SIGTERM."""
    from tradewatch.database import embedded_server, resolve_database_url
    from tradewatch.warehouse.db import get_pool, redact
    from tradewatch.cli.simulated_history import simulate_history
    from tradewatch.cli.dagster_history import CheckOutcome, persisted_history_start, report_stored_hours
    from tradewatch.cli.demo_data import CurrencyExchangeHistory, derive, fetch_current_hour
    from tradewatch.hours import floor_hour, parse_partition_key, partition_key, utc_now
    from tradewatch.warehouse.migrate import upgrade
    from tradewatch.settings import load_settings
    from tradewatch.watchlist import watchlist_from_settings

    settings = load_settings()
    watchlist = watchlist_from_settings(settings)  # fail before starting anything
    from tradewatch.cli.league_check import refuse_unlisted_league
    refuse_unlisted_league(settings, watchlist, with_simulator, say)  # a mistyped league, before anything starts
    home, logs = settings.home, settings.home / "logs"
    # a crashed run's leftovers hold the ports: stopped first (or a running stack refused)
    check_previous_run(home, say)
    # every port is checked before anything starts, so a clash costs nothing to fix
    if with_simulator:
        require_free(ports.sim, "the trade simulator", "--sim-port", home)
    require_free(ports.dagster, "the Dagster UI", "--dagster-port", home)
    require_free(ports.api, "the GraphQL API", "--api-port", home)
    if len({ports.sim if with_simulator else -1, ports.dagster, ports.api}) < 3:
        raise TradeWatchError(f"--dagster-port, --api-port{' and --sim-port' if with_simulator else ''} "
                              "must be different ports")
    output.log = _writable_log(logs / "supervisor.log")

    progress = Progress(11 if with_simulator else 6)
    processes: list[subprocess.Popen] = []
    signals = _Signals()
    record: StackRecord | None = None
    lifeline_end: tuple[subprocess.Popen, int] | None = None
    server = None  # the embedded PostgreSQL when this run started it (and so stops it)
    interrupted = False
    cx_history = None  # the demo's Currency Exchange history, written in a thread
    try:
        signals.install()
        record = StackRecord.new(home, "demo" if with_simulator else "run", ROOT,
                                 {"sim": ports.sim, "dagster": ports.dagster, "api": ports.api}
                                 if with_simulator else {"dagster": ports.dagster, "api": ports.api})
        lifeline_end = lifeline.start_watcher(home, record.data["run"], logs / "supervisor.log")
        record.set_watcher(lifeline_end[0].pid)
        if settings.database_url:
            progress.step(f"PostgreSQL at {redact(settings.database_url)}")
            progress.done("external")
        else:
            embedded = embedded_server(settings)
            progress.step(f"embedded PostgreSQL on port {embedded.port} (data in {embedded.pgdata})")
            if not embedded.is_running():
                # recorded before the start: a crash while it starts still leaves it to stop
                server = embedded
                record.set_postgres(embedded.pgdata, embedded.port, owned=True)
            if not embedded.start() and server is not None:  # another command started it meanwhile
                server = None
                record.set_postgres(embedded.pgdata, embedded.port, owned=False)
            progress.done("started" if server else "already running")
        url = resolve_database_url(settings)
        progress.step("migrating the warehouse")
        revision = upgrade(url)
        progress.done(f"revision {revision}")

        trade_api_url = f"http://127.0.0.1:{ports.sim}" if with_simulator else settings.trade_api_url
        env = service_environment(url, settings.home, trade_api_url=trade_api_url)
        env[MARK] = record.mark  # inherited by everything the services start in turn
        # the partitions start where this installation's data starts, and stay there (dagster_history.py)
        end = floor_hour(utc_now())
        partitions_start = persisted_history_start(
            settings.home, end - timedelta(days=history_days) if with_simulator else end,
            settings.history_start if "history_start" in settings.model_fields_set else None)
        env["TRADEWATCH_HISTORY_START"] = partitions_start
        history_start = max(end - timedelta(days=history_days), parse_partition_key(partitions_start))
        if with_simulator:
            progress.step(f"trade simulator on port {ports.sim}")
            processes.append(_spawn([sys.executable, "-m", "trade_sim", "--port", str(ports.sim),
                                     "--time-scale", str(DEMO_SIM_TIME_SCALE)], env, logs / "simulator.log", record))
            wait_for_port(ports.sim, 30, processes[-1], "the trade simulator")
            progress.done()
            # the hourly Currency Exchange fetch reads the simulator's feed, never the real CDN
            env["TRADEWATCH_CX_URL"] = f"http://127.0.0.1:{ports.sim}/api/currency-exchange"
            # on the second core while the bulk-exchange history is written (demo_data.py)
            cx_history = CurrencyExchangeHistory(get_pool(url), history_start, end).begin()

        # the webserver and the API load while the history is written and derived (2 cores: every second counts)
        workspace = str(ROOT / "workspace.yaml")
        webserver = _spawn([str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1",
                            "-p", str(ports.dagster)], env, logs / "dagster-webserver.log", record)
        processes.append(webserver)
        from tradewatch.cli.api_server import APP, uvicorn_arguments

        api = _spawn([sys.executable, "-m", "uvicorn", APP, "--host", "127.0.0.1",
                      "--port", str(ports.api), *uvicorn_arguments()], env, logs / "graphql-api.log", record)
        processes.append(api)
        checks: list[CheckOutcome] = []
        if with_simulator:
            progress.step(f"simulated history for the last {_plural(history_days, 'day')}")
            written = simulate_history(get_pool(url), watchlist, history_start, end)
            progress.done(f"{written} responses written" if written else "already there")
            # ready means the hour the demo starts in is stored too, fetched as the schedule fetches it
            current = floor_hour(utc_now())
            progress.step(f"current hour {partition_key(current)} fetched from the simulator")
            fetched, raw_check = fetch_current_hour(get_pool(url), watchlist, trade_api_url, settings.user_agent,
                                                    current, utc_now(), timedelta(minutes=settings.fetch_grace_minutes))
            checks += [raw_check] if raw_check else []
            progress.done(f"{len(fetched.fetched)} of {len(watchlist.items)} items fetched"
                          + (f", {len(fetched.already_stored)} already stored" if fetched.already_stored else "")
                          + (f", missing: {', '.join(fetched.missing)}" if fetched.missing else ""))
            progress.step("price snapshots, profitability and alerts of the new hours")
            window = hours_to_derive(url, history_start, current + timedelta(hours=1))
            if fetched.fetched:  # items added to an hour derived before: derived again with them
                window = (min(window[0], current) if window else current, current + timedelta(hours=1))
            if window:
                checks += derive(get_pool(url), watchlist, *window)
                progress.done(f"{_plural(int((window[1] - window[0]).total_seconds() // 3600), 'hour')} derived")
            else:
                progress.done("already derived")
            progress.step(f"simulated Currency Exchange history for the last {_plural(history_days, 'day')}")
            cx = cx_history.result(between=check_stop)
            checks += cx.checks
            # written in a thread since the simulator started: its own duration, then what is left of it
            progress.done(f"{_plural(cx.hours, 'hour')} written in {cx.seconds:.1f} s" if cx.hours
                          else "already there")

        # started once the data is there: its code location would load on the 2 cores the data needs,
        # and it has the report, the webserver and the API to come through its first seconds
        daemon = _spawn([str(BIN / "dagster-daemon"), "run", "-w", workspace], env,
                        logs / "dagster-daemon.log", record)
        processes.append(daemon)
        daemon_started = time.monotonic()
        # what was stored outside runs becomes Dagster's materializations, with its checks
        progress.step("telling Dagster about the partitions stored outside its runs")
        with signals.kept():
            reported = off_main_thread(report_stored_hours, Path(env["DAGSTER_HOME"]), env["TRADEWATCH_DAGSTER_PG_URL"],
                                       url, parse_partition_key(partitions_start), checks, with_alerts=with_simulator)
        progress.done(f"{_plural(reported, 'partition')} reported" if reported else "none new")

        dagster_url = f"http://127.0.0.1:{ports.dagster}"
        progress.step(f"Dagster webserver on port {ports.dagster}")
        wait_for_port(ports.dagster, 120, webserver, "the Dagster webserver")
        progress.done()
        progress.step("Dagster daemon (schedules, sensors, backfills, run queue)")
        _wait_alive(daemon, max(0.0, 3 - (time.monotonic() - daemon_started)), "the Dagster daemon")
        progress.done("started")
        progress.step(f"GraphQL API on port {ports.api}")
        wait_for_port(ports.api, 60, api, "the GraphQL API")
        if with_simulator:
            # ready means the dashboard has data: every watched item has a latest price
            _wait_for_latest_prices(f"http://127.0.0.1:{ports.api}", len(watchlist.items), 60, api)
        progress.done()

        api_url = f"http://127.0.0.1:{ports.api}"
        say(f"\nTradeWatch is running (ready in {progress.elapsed():.0f} s):\n"
            f"  Dagster UI   {dagster_url}\n"
            f"  GraphiQL     {api_url}/graphql\n"
            f"  dashboard    {api_url}/dashboard\n"
            f"  market       {api_url}/dashboard/market\n"
            f"  trade API    {trade_api_url}{' (simulator)' if with_simulator else ''}\n"
            f"  league       {watchlist.league} ({watchlist.game}, {len(watchlist.items)} items)\n"
            f"  database     {redact(url)}\n"
            f"  logs         {logs}/\n"
            "The hourly schedule fetches every hour at :05 (UTC) and the derived assets follow "
            "automatically. Ctrl-C stops everything.")
        _watch(processes)
        return 1
    except KeyboardInterrupt:
        interrupted = True
        return 0
    finally:
        try:
            signals.begin_stop()  # from here on a signal never interrupts: it may only hurry
        except KeyboardInterrupt:
            pass  # the one signal that interrupts arrived just now: stopping has begun anyway
        if cx_history is not None:  # before PostgreSQL stops under it
            cx_history.cancel()
        _stop_stack(processes, record, lifeline_end, server, signals, interrupted)
        signals.restore()


def _stop_stack(processes: list[subprocess.Popen], record: StackRecord | None,
                lifeline_end: tuple[subprocess.Popen, int] | None, server, signals: _Signals,
                interrupted: bool) -> None:
    """Services (newest first), then whatever of the run they left, then PostgreSQL, then the record
    and the watcher. Each step runs even when an earlier one failed."""
    if processes or server:
        say("\nstopping ..." if interrupted else "stopping ...")
    hurry_said = []

    def hurry() -> bool:
        if signals.hurry and not hurry_said:
            hurry_said.append(True)
            say("another signal: the services get 2 s more; PostgreSQL still shuts down cleanly")
        return signals.hurry

    steps = [("the services", lambda: stop_all(processes, hurry=hurry))]
    if record is not None:
        # a service spawned just as the signal came, or a code server outliving its webserver;
        # then PostgreSQL (a fast shutdown: no recovery at the next start), then the record
        steps.append(("what the services left", lambda: stop_leftovers(record, grace=2, hurry=hurry,
                                                                         spare_watcher=True)))
    if server is not None:
        steps.append(("PostgreSQL", server.stop))
    if lifeline_end is not None:
        steps.append(("the lifeline watcher", lambda: _release(*lifeline_end)))
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # noqa: BLE001 - one failed step must not skip the others
            say(f"stopping {what} failed: {exc}")
    if processes or server:
        say("stopped; the data stays for the next start")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _wait_for_latest_prices(api_url: str, items: int, seconds: float, api: subprocess.Popen) -> None:
    """Until the API's latestPrices has every watched item (the API's pool may still be opening)."""
    import requests

    deadline = time.monotonic() + seconds
    answered = 0
    while time.monotonic() < deadline:
        if api.poll() is not None:
            raise TradeWatchError(f"the GraphQL API exited at start (code {api.returncode}){_log_tail(api)}")
        try:
            body = requests.post(f"{api_url}/graphql", json={"query": "{ latestPrices { item { id } } }"},
                                 timeout=5).json()
            answered = len((body.get("data") or {}).get("latestPrices") or [])
            if answered >= items:
                return
        except (requests.RequestException, ValueError):
            pass  # not answering yet
        check_stop()
        time.sleep(0.2)
    raise TradeWatchError(f"the GraphQL API served latest prices for {answered} of {items} watched items "
                          f"after {seconds:.0f} s; see {getattr(api, 'log_path', 'its log')}")


def _release(watcher: subprocess.Popen, write_end: int) -> None:
    """Close the lifeline: the watcher finds the record gone and exits."""
    os.close(write_end)
    try:
        watcher.wait(timeout=10)
    except subprocess.TimeoutExpired:
        watcher.kill()
        watcher.wait(timeout=5)


def _writable_log(path: Path) -> Path | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return path
    except OSError:
        return None


_PDEATHSIG = lifeline.parent_death_signal()


def _spawn(command: list[str], env: dict[str, str], log: Path,
           record: StackRecord | None = None) -> subprocess.Popen:
    # each service logs to its own file so the terminal shows only the progress and the URLs
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        try:
            out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
            out.flush()
        except OSError:  # a full disk: the service itself will say what it can
            pass
        # a session of its own: Ctrl-C in the terminal reaches only this command, which then
        # stops the others in order instead of every process dying at once; the parent-death
        # signal stops it should this command be killed (spawned from the main thread: the
        # signal follows the thread that forked)
        proc = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True, preexec_fn=_PDEATHSIG,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    proc.log_path = log  # type: ignore[attr-defined]
    if record is not None:
        record.add_service(log.stem, proc.pid)
    check_stop()  # a signal that came during the fork: the service is recorded, so it is stopped too
    return proc


def _watch(processes: list[subprocess.Popen]) -> None:
    """Return when a process exits."""
    while all(p.poll() is None for p in processes):
        check_stop()
        time.sleep(0.5)
    failed = next(p for p in processes if p.poll() is not None)
    log = getattr(failed, "log_path", "its log")
    message = f"{' '.join(map(str, failed.args[:3]))} exited (code {failed.returncode}; see {log}); stopping the rest"
    try:
        print(message, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        say(message)
