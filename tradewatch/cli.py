"""The `tradewatch` command: wires the pieces together. Heavy imports happen per verb."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tradewatch.embedded_pg import port_is_free
from tradewatch.errors import TradeWatchError

ROOT = Path(__file__).resolve().parent.parent


def _require_free(port: int, what: str, option: str) -> None:
    if not port_is_free(port):
        raise TradeWatchError(f"port {port} is already taken, so {what} cannot start; "
                              f"stop the program using it or pass {option} with another port")


def _wait_for_port(port: int, seconds: float, proc: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TradeWatchError(f"{what} exited at start (code {proc.returncode}); see the lines above")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TradeWatchError(f"{what} did not answer on port {port} within {seconds:.0f} s")


def cmd_db(args: argparse.Namespace) -> int:
    from tradewatch.db import embedded_server, redact, resolve_database_url
    from tradewatch.migrate import upgrade
    from tradewatch.settings import load_settings

    settings = load_settings()
    if args.action == "upgrade":
        url = resolve_database_url(settings)
        print(f"warehouse at {redact(url)} is at revision {upgrade(url)}")
        if settings.reader_password:
            from tradewatch.roles import READER_ROLE, apply_reader_password

            apply_reader_password(url, settings.reader_password)
            print(f"role {READER_ROLE} can log in with TRADEWATCH_READER_PASSWORD (read-only: schema analytics)")
        if settings.api_password:
            from tradewatch.roles import API_ROLE, apply_api_password

            apply_api_password(url, settings.api_password)
            print(f"role {API_ROLE} can log in with TRADEWATCH_API_PASSWORD (read-only: what the API serves)")
    elif args.action == "start":
        url = resolve_database_url(settings)
        print(f"PostgreSQL running: {redact(url)}")
    elif args.action == "stop":
        if settings.database_url:
            raise TradeWatchError("TRADEWATCH_DATABASE_URL is set: that server is yours to stop, not TradeWatch's")
        embedded_server(settings).stop()
        print("embedded PostgreSQL stopped")
    elif args.action == "status":
        if settings.database_url:
            print(f"external PostgreSQL: {redact(settings.database_url)}")
        else:
            server = embedded_server(settings)
            state = "running" if server.is_running() else "stopped"
            print(f"embedded PostgreSQL in {server.pgdata}: {state} (port {server.port})")
    elif args.action == "url":
        print(resolve_database_url(settings))
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from trade_sim import SimConfig
    from trade_sim.server import serve

    config = SimConfig.from_env() if hasattr(SimConfig, "from_env") else SimConfig()
    if args.time_scale is not None:
        config.time_scale = args.time_scale
    _require_free(args.port, "the simulator", "--port")
    print(f"trade simulator on http://127.0.0.1:{args.port}")
    serve(args.port, config=config)
    return 0


def _dagster_home(home: Path) -> Path:
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    return dagster_home


def service_environment(database_url: str, home: Path, trade_api_url: str | None = None) -> dict[str, str]:
    """The environment every TradeWatch process of one installation shares."""
    from tradewatch.db import psycopg2_url

    env = dict(os.environ)
    env.update({
        "TRADEWATCH_DATABASE_URL": database_url,
        "TRADEWATCH_DAGSTER_PG_URL": psycopg2_url(database_url),
        "DAGSTER_HOME": str(_dagster_home(home)),
        "TRADEWATCH_HOME": str(home),
    })
    # fast single-run backfills (see tradewatch_assets/definitions.py); the daemon creates
    # backfill runs without loading the code location, so it needs them in its environment
    env.setdefault("DAGSTER_EVENT_BATCH_SIZE", "1000")
    env.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    if trade_api_url:
        env["TRADEWATCH_TRADE_API_URL"] = trade_api_url
    return env


def _stop_all(processes: list[subprocess.Popen]) -> None:
    for proc in reversed(processes):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 20
    for proc in reversed(processes):
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def cmd_demo(args: argparse.Namespace) -> int:
    return _run_services(args, with_simulator=True)


def cmd_run(args: argparse.Namespace) -> int:
    return _run_services(args, with_simulator=False)


def _run_services(args: argparse.Namespace, with_simulator: bool) -> int:
    from tradewatch.db import embedded_server, redact, resolve_database_url
    from tradewatch.migrate import upgrade
    from tradewatch.settings import load_settings
    from tradewatch.watchlist import watchlist_from_settings

    settings = load_settings()
    watchlist = watchlist_from_settings(settings)  # fail before starting anything
    if with_simulator:
        _require_free(args.sim_port, "the trade simulator", "--sim-port")
    _require_free(args.dagster_port, "the Dagster UI", "--dagster-port")
    started_db = False
    if not settings.database_url:
        print("starting the embedded PostgreSQL ...", flush=True)
        server = embedded_server(settings)
        started_db = server.start()
    url = resolve_database_url(settings)
    print(f"migrating the warehouse at {redact(url)} ...", flush=True)
    upgrade(url)
    trade_api_url = f"http://127.0.0.1:{args.sim_port}" if with_simulator else settings.trade_api_url
    env = service_environment(url, settings.home, trade_api_url=trade_api_url)
    processes: list[subprocess.Popen] = []

    def stop(signum=None, frame=None):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        if with_simulator:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "trade_sim", "--port", str(args.sim_port)], env=env, start_new_session=True))
            _wait_for_port(args.sim_port, 30, processes[-1], "the trade simulator")
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", str(ROOT / "workspace.yaml"),
             "-h", "127.0.0.1", "-p", str(args.dagster_port)],
            env=env, cwd=ROOT, start_new_session=True))
        _wait_for_port(args.dagster_port, 120, processes[-1], "the Dagster UI")
        print(f"\nTradeWatch is running:\n  Dagster UI      http://127.0.0.1:{args.dagster_port}\n"
              f"  trade API       {trade_api_url}{' (simulator)' if with_simulator else ''}\n"
              f"  league          {watchlist.league} ({watchlist.game}, {len(watchlist.items)} items)\n"
              f"  database        {redact(url)}\n"
              "The schedule fetches every hour at :05 (UTC); materialize raw_trade_responses for the "
              "current hour in the UI to fetch now. Ctrl-C stops everything.", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(1)
        failed = [p for p in processes if p.poll() is not None]
        print(f"a process exited (code {failed[0].returncode}); stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        _stop_all(processes)
        if started_db:
            embedded_server(settings).stop()


class _ProgressBar:
    """A one-line progress bar on stderr (no dependency; redrawn at most every 1%)."""

    def __init__(self, label: str, width: int = 30) -> None:
        self.label, self.width, self.shown, self.started = label, width, -1, time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        percent = 100 if total == 0 else done * 100 // total
        if percent == self.shown:
            return
        self.shown = percent
        filled = self.width * percent // 100
        elapsed = time.monotonic() - self.started
        sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {percent:3d}% "
                         f"{done}/{total} hours {elapsed:5.1f}s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def cmd_simulate_history(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from tradewatch.db import get_pool, redact, resolve_database_url
    from tradewatch.history import simulate_history
    from tradewatch.hours import floor_hour, partition_key, utc_now
    from tradewatch.migrate import upgrade
    from tradewatch.settings import load_settings
    from tradewatch.watchlist import watchlist_from_settings

    if args.days <= 0:
        raise TradeWatchError(f"--days must be positive, got {args.days}")
    settings = load_settings()
    watchlist = watchlist_from_settings(settings)
    url = resolve_database_url(settings)
    upgrade(url)
    # History ends where live ingestion begins: the current hour is left to the hourly fetch.
    end = floor_hour(utc_now())
    start = end - timedelta(days=args.days)
    print(f"simulating {partition_key(start)} … {partition_key(end - timedelta(hours=1))} "
          f"({len(watchlist.items)} items, league {watchlist.league}) into {redact(url)}", file=sys.stderr)
    written = simulate_history(get_pool(url), watchlist, start, end, seed=args.seed,
                               progress=_ProgressBar("simulate-history"))
    print(f"{written} simulated responses written (simulated = true); stored hours and items were kept as they were")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    _require_free(args.port, "the GraphQL API", "--port")
    print(f"GraphQL API on http://{args.host}:{args.port}/graphql", flush=True)
    uvicorn.run("graphql_api.app:app", host=args.host, port=args.port, workers=args.workers, log_level="info")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradewatch", description="Archive and analyse the PoE bulk-exchange market.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    db = verbs.add_parser("db", help="the warehouse database")
    db.add_argument("action", choices=["upgrade", "start", "stop", "status", "url"])
    db.set_defaults(func=cmd_db)

    sim = verbs.add_parser("sim", help="run the local trade-API simulator")
    sim.add_argument("--port", type=int, default=8090)
    sim.add_argument("--time-scale", type=float, default=None,
                     help="scale the rate-limit windows (e.g. 0.05 for fast tests)")
    sim.set_defaults(func=cmd_sim)

    demo = verbs.add_parser("demo", help="embedded PostgreSQL + simulator + Dagster UI, all in one")
    demo.add_argument("--sim-port", type=int, default=8090)
    demo.add_argument("--dagster-port", type=int, default=3000)
    demo.set_defaults(func=cmd_demo)

    run = verbs.add_parser("run", help="like demo, against TRADEWATCH_TRADE_API_URL (the real site by default)")
    run.add_argument("--dagster-port", type=int, default=3000)
    run.set_defaults(func=cmd_run)

    history = verbs.add_parser(
        "simulate-history",
        help="write N days of simulated hourly raw responses (trade_sim's market model), ending at the current hour")
    history.add_argument("--days", type=int, required=True, help="how many days back from the current hour")
    history.add_argument("--seed", type=int, default=7, help="the market model's seed (default 7)")
    history.set_defaults(func=cmd_simulate_history)

    serve = verbs.add_parser("serve", help="run the GraphQL API (/graphql, /health, /export/price-series.csv)")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    from dotenv import load_dotenv

    load_dotenv(".env", override=False)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except TradeWatchError as exc:
        print(f"tradewatch: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
