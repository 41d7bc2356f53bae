"""The local process set behind `tradewatch demo` and `tradewatch run`.

One foreground command owns everything it starts: the embedded PostgreSQL (when no
`TRADEWATCH_DATABASE_URL` is given), the trade simulator (demo only), the Dagster
webserver and daemon on that PostgreSQL, and the GraphQL API. The demo also fills the
last days with simulated history and backfills the derived assets for it through the
webserver, so a fresh clone has prices to look at within a minute. Ctrl-C or SIGTERM
stops every process it started, PostgreSQL last; data stays in `TRADEWATCH_HOME`, so the
next start resumes with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from tradewatch.warehouse.embedded_pg import port_is_free
from tradewatch.errors import TradeWatchError

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Ports:
    dagster: int = 3000
    api: int = 8000
    sim: int = 8090


def require_free(port: int, what: str, option: str) -> None:
    if not port_is_free(port):
        raise TradeWatchError(f"port {port} is already taken, so {what} cannot start; "
                              f"stop the program using it or pass {option} with another port")


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
    # fast single-run backfills (see tradewatch_assets/definitions.py); the daemon creates
    # backfill runs without loading the code location, so it needs them in its environment
    env.setdefault("DAGSTER_EVENT_BATCH_SIZE", "1000")
    env.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    if trade_api_url:
        env["TRADEWATCH_TRADE_API_URL"] = trade_api_url
    return env


def stop_all(processes: list[subprocess.Popen], grace: float = 20) -> None:
    """SIGTERM every process group (newest first), then SIGKILL what is left after `grace` s."""
    for proc in reversed(processes):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + grace
    for proc in reversed(processes):
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        # children of a stopped leader (e.g. a code server) may outlive it: the group goes too
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            proc.wait(timeout=5)


class Progress:
    """Numbered preparation steps with their duration, on stdout."""

    def __init__(self, total: int) -> None:
        self.total, self.n, self.started = total, 0, time.monotonic()
        self._step_started = self.started

    def step(self, text: str) -> None:
        self.n += 1
        self._step_started = time.monotonic()
        print(f"[{self.n}/{self.total}] {text} ...", end="", flush=True)

    def done(self, result: str = "ok") -> None:
        print(f" {result} ({time.monotonic() - self._step_started:.1f} s)", flush=True)

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
    from tradewatch.hours import floor_hour, utc_now
    from tradewatch.warehouse.migrate import upgrade
    from tradewatch.settings import load_settings
    from tradewatch.watchlist import watchlist_from_settings

    settings = load_settings()
    watchlist = watchlist_from_settings(settings)  # fail before starting anything
    # every port is checked before anything starts, so a clash costs nothing to fix
    if with_simulator:
        require_free(ports.sim, "the trade simulator", "--sim-port")
    require_free(ports.dagster, "the Dagster UI", "--dagster-port")
    require_free(ports.api, "the GraphQL API", "--api-port")
    if len({ports.sim if with_simulator else -1, ports.dagster, ports.api}) < 3:
        raise TradeWatchError(f"--dagster-port, --api-port{' and --sim-port' if with_simulator else ''} "
                              "must be different ports")

    progress = Progress(8 if with_simulator else 5)
    processes: list[subprocess.Popen] = []
    started_db = False
    interrupted = False

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt

    previous_handler = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        if settings.database_url:
            progress.step(f"PostgreSQL at {redact(settings.database_url)}")
            progress.done("external")
        else:
            server = embedded_server(settings)
            progress.step(f"embedded PostgreSQL on port {server.port} (data in {server.pgdata})")
            started_db = server.start()
            progress.done("started" if started_db else "already running")
        url = resolve_database_url(settings)
        progress.step("migrating the warehouse")
        revision = upgrade(url)
        progress.done(f"revision {revision}")

        trade_api_url = f"http://127.0.0.1:{ports.sim}" if with_simulator else settings.trade_api_url
        env = service_environment(url, settings.home, trade_api_url=trade_api_url)
        logs = settings.home / "logs"
        if with_simulator:
            progress.step(f"trade simulator on port {ports.sim}")
            processes.append(_spawn([sys.executable, "-m", "trade_sim", "--port", str(ports.sim)], env,
                                     logs / "simulator.log"))
            wait_for_port(ports.sim, 30, processes[-1], "the trade simulator")
            progress.done()

        end = floor_hour(utc_now())
        history_start = end - timedelta(days=history_days)
        if with_simulator:
            progress.step(f"simulated history for the last {history_days} days")
            written = simulate_history(get_pool(url), watchlist, history_start, end)
            progress.done(f"{written} responses written" if written else "already there")
            # Currency Exchange history from the simulator too; the hourly fetch reads its feed
            from tradewatch.cli.simulated_history import simulate_currency_exchange_history
            progress.step(f"simulated Currency Exchange history for the last {history_days} days")
            env["TRADEWATCH_CX_URL"] = f"http://127.0.0.1:{ports.sim}/api/currency-exchange"
            hours = simulate_currency_exchange_history(get_pool(url), history_start, end)
            progress.done(f"{hours} hours written" if hours else "already there")

        progress.step(f"Dagster webserver on port {ports.dagster}")
        workspace = str(ROOT / "workspace.yaml")
        webserver = _spawn([str(BIN / "dagster-webserver"), "-w", workspace, "-h", "127.0.0.1",
                            "-p", str(ports.dagster)], env, logs / "dagster-webserver.log")
        processes.append(webserver)
        api = _spawn([sys.executable, "-m", "uvicorn", "graphql_api.app:app", "--host", "127.0.0.1",
                      "--port", str(ports.api)], env, logs / "graphql-api.log")
        processes.append(api)
        wait_for_port(ports.dagster, 120, webserver, "the Dagster webserver")
        progress.done()

        dagster_url = f"http://127.0.0.1:{ports.dagster}"
        backfill = None
        if with_simulator:
            # launched before the daemon starts: its first pass picks the backfill up at once,
            # where a running daemon would look again only after 30 s
            progress.step("backfill of the derived assets for the simulated history")
            backfill = _launch_derived_backfill(url, dagster_url, history_start, end)
            progress.done("launched" if backfill else "already derived")

        progress.step("Dagster daemon (schedules, sensors, backfills, run queue)")
        processes.append(_spawn([str(BIN / "dagster-daemon"), "run", "-w", workspace], env,
                                logs / "dagster-daemon.log"))
        _wait_alive(processes[-1], 3, "the Dagster daemon")
        progress.done()
        progress.step(f"GraphQL API on port {ports.api}")
        wait_for_port(ports.api, 60, api, "the GraphQL API")
        progress.done()

        api_url = f"http://127.0.0.1:{ports.api}"
        print(f"\nTradeWatch is running (ready in {progress.elapsed():.0f} s):\n"
              f"  Dagster UI   {dagster_url}\n"
              f"  GraphiQL     {api_url}/graphql\n"
              f"  dashboard    {api_url}/dashboard\n"
              f"  trade API    {trade_api_url}{' (simulator)' if with_simulator else ''}\n"
              f"  league       {watchlist.league} ({watchlist.game}, {len(watchlist.items)} items)\n"
              f"  database     {redact(url)}\n"
              f"  logs         {logs}/\n"
              "The hourly schedule fetches every hour at :05 (UTC) and the derived assets follow "
              "automatically. Ctrl-C stops everything.", flush=True)
        _watch(processes, backfill, dagster_url)
        return 1
    except KeyboardInterrupt:
        interrupted = True
        return 0
    finally:
        if processes or started_db:
            print("\nstopping ..." if interrupted else "stopping ...", flush=True)
        stop_all(processes)
        if started_db:
            embedded_server(settings).stop()
        if processes or started_db:
            print("stopped; the data stays for the next start", flush=True)
        signal.signal(signal.SIGTERM, previous_handler)


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    # each service logs to its own file so the terminal shows only the progress and the URLs
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        out.flush()
        # a session of its own: Ctrl-C in the terminal reaches only this command, which then
        # stops the others in order instead of every process dying at once
        proc = subprocess.Popen(command, env=env, cwd=ROOT, start_new_session=True,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    proc.log_path = log  # type: ignore[attr-defined]
    return proc


def _launch_derived_backfill(database_url: str, dagster_url: str, start: datetime, end: datetime):
    from tradewatch.cli.dagster_remote import DagsterRemote

    window = hours_to_derive(database_url, start, end)
    if window is None:
        return None
    remote = DagsterRemote(dagster_url)
    remote.wait_until_ready(60)
    backfill_id = remote.launch_backfill(window[0], window[1])  # the derived assets
    return remote, backfill_id, window


def _backfill_outcome(remote, backfill_id: str) -> str | None:
    """'ready' once every run of the backfill succeeded, the final status if it ended otherwise."""
    from tradewatch.cli.dagster_remote import BACKFILL_FINAL, BACKFILL_SUCCESS, RUN_FINAL, RUN_SUCCESS

    status = remote.backfill_status(backfill_id)
    runs = remote.backfill_runs(backfill_id)
    # the daemon marks a backfill complete only on its next pass, 30 s after its last run
    # ended; the prices are there as soon as that run succeeded
    if runs and all(state == RUN_SUCCESS for _, state in runs) or status in BACKFILL_SUCCESS:
        return "ready"
    if status in BACKFILL_FINAL or any(state in RUN_FINAL and state != RUN_SUCCESS for _, state in runs):
        return status.lower() if status in BACKFILL_FINAL else "failed"
    return None


def _watch(processes: list[subprocess.Popen], backfill, dagster_url: str) -> None:
    """Return when a process exits; report once when the backfill's prices are ready (or it failed)."""
    next_check = time.monotonic() + 2
    while all(p.poll() is None for p in processes):
        if backfill and time.monotonic() >= next_check:
            remote, backfill_id, (first, last) = backfill
            next_check = time.monotonic() + 2
            try:
                outcome = _backfill_outcome(remote, backfill_id)
            except TradeWatchError:
                outcome = None  # the webserver may be busy; ask again
            if outcome:
                hours = int((last - first).total_seconds() // 3600)
                page = remote.backfill_ui_url(backfill_id)
                if outcome == "ready":
                    print(f"derived assets ready: price snapshots and profitability for {hours} hours "
                          f"(backfill {backfill_id}: {page})", flush=True)
                else:
                    print(f"derived assets backfill {backfill_id} {outcome}; see {page}", flush=True)
                backfill = None
        time.sleep(0.5)
    failed = next(p for p in processes if p.poll() is not None)
    log = getattr(failed, "log_path", "its log")
    print(f"{' '.join(map(str, failed.args[:3]))} exited (code {failed.returncode}; see {log}); "
          "stopping the rest", file=sys.stderr, flush=True)
