"""Benchmark: a realm's whole Currency Exchange history in one backfill, and the market on top of it.

    .venv/bin/python bench/full_history.py --realm pc                 # every hour since 2024-07-26 20:00 UTC
    .venv/bin/python bench/full_history.py --realm poe2 --hours 2000  # the newest 2,000 hours
    TRADEWATCH_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/full_history.py --hours 2000 --keep-db tw_full_pc   # keep the database

What a user does, measured phase by phase (figures in build/full_history.json):
0. The realm's documents are prebuilt once under build/cx_cache (`python -m trade_sim.cx_cache`,
   with the league calendar, 1,600 markets an hour on PC): the simulator's own cost is kept out
   of the measured path. The simulator then runs as its own process (`python -m trade_sim`,
   gzip like the CDN), serving the calendar's history: launches, empty launch hours, variants,
   private leagues.
1. `tradewatch exchange backfill --realm R --from A --to B --local`: ONE single-run backfill of
   `raw_currency_exchange`, then one of `exchange_prices` and the market rollups, in its own
   process. Per phase (from the Dagster runs' own start and end times): wall; and for the whole
   command: CPU time and peak RSS of its process tree (sampled every 0.2 s, attributed to the
   phase running at the time), bytes received (decoded) and stored, and then the database's size
   per table and index.
2. The API over real HTTP (uvicorn, the read-only role): p50 and p95 over `--queries` requests of
   the first page of `market`, a search, `marketItem`, a 2-year DAY series, a 30-day HOUR series
   and `alignBy: LEAGUE_DAY` over three leagues.
3. The Dagster webserver (its own process, same instance): the asset page's partition status of
   `raw_currency_exchange` (the `assetPartitionStatuses` query the UI makes).
4. Resume, in a second database over the newest `--resume-hours` hours: the raw backfill is
   killed with SIGKILL a third of the way in, the same command is launched again; the
   simulator's request log must show no hour fetched twice with a 200, every hour stored once,
   and every stored body's SHA-256 equal to the document's.

Uses TRADEWATCH_BENCH_DATABASE_URL (a maintenance database URL on a server you own) when set, else
an embedded PostgreSQL under $TMPDIR. Prints the load average and the commit beside the figures.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# bench/ itself must not be on the path: bench/graphql.py would shadow the graphql package
sys.path = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import requests  # noqa: E402

from bench._context import RunContext  # noqa: E402
from bench._databases import bench_server, fresh_database, kept_database, with_database  # noqa: E402
from tests.helpers.databases import with_user  # noqa: E402
from tests.helpers.servers import ServedApp, free_port  # noqa: E402
from tradewatch.cli.exchange_backfill import asset_path  # noqa: E402
from tradewatch.warehouse.db import psycopg2_url  # noqa: E402
from tradewatch.warehouse.migrate import upgrade  # noqa: E402

HOUR = timedelta(hours=1)
CACHE = ROOT / "build" / "cx_cache"
OUT = ROOT / "build" / "full_history.json"
SIM_KNOBS = {"cx_calendar": "true", "cx_markets_per_hour": "1600"}
GOALS = {"raw wall s": 8 * 60, "derived wall s": 5 * 60, "stored / received": 0.065, "database GB": 6.0,
         "peak RSS MB": 600, "market first page p50 ms": 25, "market search p50 ms": 25,
         "series 2 years DAY p50 ms": 10, "series 30 days HOUR p50 ms": 10, "dagster partition status s": 2.0}


# --------------------------------------------------------------------------- the simulator


def _prebuild(realm: str, hours: list[int], jobs: int) -> dict[str, Any]:
    from trade_sim import SimConfig
    from trade_sim.config import parse_field
    from trade_sim.cx_cache import build

    config = SimConfig(**{k: parse_field(k, v) for k, v in SIM_KNOBS.items()})
    started = time.perf_counter()
    written, size = build(CACHE, realm, config, hours, jobs)
    return {"documents built": written, "built GB": round(size / 1e9, 3), "seconds": round(time.perf_counter() - started, 1)}


def _start_sim(request_log: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    args = [sys.executable, "-m", "trade_sim", "--port", str(port), "--cx-cache-dir", str(CACHE), "--cx-gzip", "true",
            "--cx-publish-delay-seconds", "0", "--cx-request-log", str(request_log)]
    for name, value in SIM_KNOBS.items():
        args += ["--" + name.replace("_", "-"), value]
    proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api/currency-exchange"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the simulator exited at start")
        try:
            requests.get(url, timeout=5)
            return proc, url
        except requests.ConnectionError:
            time.sleep(0.1)
    _stop(proc)
    raise SystemExit("the simulator did not start within 60 s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _fetched(request_log: Path, realm: str) -> list[int]:
    """Hours (unix seconds) the simulator answered 200 for, one entry per answer."""
    if not request_log.exists():
        return []
    out = []
    for line in request_log.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == realm and parts[2] == "200" and parts[1].isdigit():
            out.append(int(parts[1]))
    return out


# --------------------------------------------------------------------------- the backfill


class _Sampler:
    """CPU seconds and RSS of a process tree, sampled every 0.2 s; each pid's last CPU reading counts."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.cpu: dict[int, float] = {}
        self.samples: list[tuple[float, int]] = []  # (unix time, tree RSS bytes)

    def sample(self) -> None:
        rss = 0
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        for p in procs:
            try:
                with p.oneshot():
                    rss += p.memory_info().rss
                    times = p.cpu_times()
                    self.cpu[p.pid] = times.user + times.system
            except psutil.Error:
                pass  # exited between the listing and the reading
        self.samples.append((time.time(), rss))

    def peak(self, start: float = 0.0, end: float = float("inf")) -> int:
        return max((rss for t, rss in self.samples if start <= t <= end), default=0)


def _command(realm: str, start: datetime, end: datetime) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "tradewatch") if (ROOT / ".venv" / "bin" / "tradewatch").exists()
            else "tradewatch", "exchange", "backfill", "--realm", realm, "--from", start.strftime("%Y-%m-%dT%H:00"),
            "--to", end.strftime("%Y-%m-%dT%H:00"), "--local"]


def _backfill(realm: str, start: datetime, end: datetime, env: dict[str, str], log: Path,
              kill_when=None) -> tuple[int | None, _Sampler, float]:
    """Run the command; (exit code or None when killed, its sampler, wall seconds). `kill_when()` true: SIGKILL."""
    started = time.perf_counter()
    with open(log, "ab") as out:
        proc = subprocess.Popen(_command(realm, start, end), cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        sampler = _Sampler(proc.pid)
        polls = 0
        while True:
            try:
                proc.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                sampler.sample()
                polls += 1
                if kill_when is not None and polls % 5 == 0 and kill_when():
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    return None, sampler, time.perf_counter() - started
    return proc.returncode, sampler, time.perf_counter() - started


def _runs(env: dict[str, str]) -> list[dict[str, Any]]:
    """The Dagster runs of the instance, oldest first: id, assets, start/end (unix), status, step durations."""
    for name in ("DAGSTER_HOME", "TRADEWATCH_DAGSTER_PG_URL"):
        os.environ[name] = env[name]
    from dagster import DagsterInstance

    out = []
    with DagsterInstance.get() as instance:
        for record in reversed(instance.get_run_records()):
            run = record.dagster_run
            steps = {s.step_key: (s.end_time or 0) - (s.start_time or 0) for s in instance.get_run_step_stats(run.run_id)}
            out.append({"run": run.run_id, "status": run.status.value, "start": record.start_time,
                        "end": record.end_time, "assets": sorted(k.to_user_string() for k in run.asset_selection or []),
                        "steps s": {k: round(v, 2) for k, v in steps.items()}})
    return out


def _sizes(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """SELECT n.nspname || '.' || c.relname, c.relkind, pg_total_relation_size(c.oid), pg_relation_size(c.oid),
                      coalesce(pg_indexes_size(c.oid), 0)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname IN ('warehouse', 'analytics') AND c.relkind IN ('r', 'm', 'p')
               ORDER BY pg_total_relation_size(c.oid) DESC""").fetchall()
        indexes = conn.execute(
            """SELECT n.nspname || '.' || c.relname, pg_relation_size(c.oid)
               FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname IN ('warehouse', 'analytics') AND c.relkind = 'i' AND pg_relation_size(c.oid) > 1e6
               ORDER BY 2 DESC""").fetchall()
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return {"database MB": round(database / 1e6, 1),
            "tables MB (total, heap+toast, indexes)": {
                name: [round(total / 1e6, 1), round((total - idx) / 1e6, 1), round(idx / 1e6, 1)]
                for name, _, total, _, idx in rows if total > 1e6},
            "indexes MB": {name: round(size / 1e6, 1) for name, size in indexes}}


def _raw_check(url: str, realm: str, start: datetime, end: datetime, expect_sha: bool) -> dict[str, Any]:
    """Hours stored, duplicates, and (with `expect_sha`) bodies whose SHA-256 differs from the prebuilt document's."""
    from trade_sim import SimConfig
    from trade_sim.config import parse_field
    from trade_sim.cx_cache import cache_folder

    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT extract(epoch FROM observed_hour)::bigint, body_sha256 FROM "
                            "warehouse.raw_currency_exchange WHERE realm = %s AND observed_hour >= %s AND "
                            "observed_hour < %s", (realm, start, end)).fetchall()
    hours = [h for h, _ in rows]
    wrong = 0
    if expect_sha:
        folder = cache_folder(CACHE, realm, SimConfig(**{k: parse_field(k, v) for k, v in SIM_KNOBS.items()}))
        for hour, sha in rows:
            path = folder / f"{hour}.json.gz"
            if path.exists() and hashlib.sha256(gzip.decompress(path.read_bytes())).digest() != bytes(sha):
                wrong += 1
    expected = int((end - start) / HOUR)
    return {"hours expected": expected, "hours stored": len(set(hours)), "duplicates": len(hours) - len(set(hours)),
            "lost": expected - len(set(hours)), "bodies differing": wrong}


# --------------------------------------------------------------------------- the API and Dagster


def _timed(call, n: int) -> dict[str, float]:
    times = []
    for i in range(n + 3):
        started = time.perf_counter()
        call()
        if i >= 3:  # the first answers warm the pool and the caches
            times.append(time.perf_counter() - started)
    times.sort()
    return {"p50 ms": round(1000 * statistics.median(times), 2),
            "p95 ms": round(1000 * times[min(len(times) - 1, int(0.95 * len(times)))], 2), "requests": len(times)}


def _api(url: str, realm: str, end: datetime, queries: int) -> dict[str, Any]:
    from graphql_api.app import create_app
    from graphql_api.config import ApiSettings
    from pydantic import SecretStr
    from tradewatch.warehouse.roles import API_ROLE, apply_api_password
    from tradewatch.watchlist import load_watchlist

    with psycopg.connect(url) as conn:
        leagues = [r[0] for r in conn.execute(
            "SELECT league FROM warehouse.market_latest WHERE realm = %s GROUP BY league ORDER BY count(*) DESC",
            (realm,)).fetchall()]
        by_start = [r[0] for r in conn.execute(
            # the newest three challenge leagues (not their variants, private or permanent leagues)
            "SELECT league FROM warehouse.market_hours WHERE realm = %s AND league NOT LIKE '%%(PL%%' "
            "AND league !~ '^(Hardcore|HC|Ruthless) ' AND league NOT IN ('Standard', 'Hardcore', 'Ruthless') "
            "GROUP BY league HAVING count(DISTINCT observed_hour) > 24 ORDER BY min(observed_hour) DESC LIMIT 3",
            (realm,)).fetchall()]
    if not leagues:
        raise SystemExit("the market holds no league: the rollups were not built")
    league = leagues[0]
    apply_api_password(url, SecretStr("bench-api-pw"))
    api = ServedApp(create_app(with_user(url, API_ROLE, "bench-api-pw"), settings=ApiSettings(),
                               watchlist=load_watchlist()))
    gql_realm = realm.upper() if realm != "poe2" else "POE2"

    def post(query: str, variables: dict) -> dict:
        body = api.client.post("/graphql", json={"query": query, "variables": variables}).json()
        if body.get("errors"):
            raise SystemExit(f"the API refused the bench's query: {body['errors'][0]['message']}")
        return body["data"]

    try:
        market_q = f"""query($league: String!, $search: String) {{ market(realm: {gql_realm}, league: $league,
          search: $search) {{ totalCount hour pageInfo {{ hasNextPage endCursor }}
          nodes {{ item {{ id name category metadataPath tradeId named goldFee image }} price change24h change7d
                  volume24h value24h lowConfidence sparkline }} }} }}"""
        top = post(market_q, {"league": league})["market"]["nodes"][0]["item"]
        item_q = f"""query($id: ID!) {{ marketItem(id: $id, realm: {gql_realm}) {{ item {{ id name goldFee }}
          leagues {{ league price priceDivine volume lowConfidence firstHour lastHour }}
          markets {{ league quoteCurrency hours volume }} }} }}"""
        series_q = """query($league: String!, $items: [ID!], $from: DateTime!, $to: DateTime!, $bucket: Bucket!,
          $realm: String!) { exchangePrices(realm: $realm, league: $league, items: $items, from: $from, to: $to,
          bucket: $bucket) { points time vwap volume } }"""
        series = {"realm": realm, "items": [top["metadataPath"]], "to": end.isoformat()}
        aligned = ["Standard"] if not by_start else by_start
        align_q = "query($items: [ID!], $realm: String!) { " + " ".join(
            f'l{i}: exchangePrices(realm: $realm, league: {json.dumps(name)}, items: $items, '
            f'from: "{(end - 730 * 24 * HOUR).isoformat()}", to: "{end.isoformat()}", bucket: DAY, '
            f'alignBy: LEAGUE_DAY) {{ points time vwap volume }}' for i, name in enumerate(aligned)) + " }"
        figures = {
            "league": league, "item": top["name"], "aligned leagues": aligned,
            "market first page": _timed(lambda: post(market_q, {"league": league}), queries),
            "market search": _timed(lambda: post(market_q, {"league": league, "search": "orb"}), queries),
            "marketItem": _timed(lambda: post(item_q, {"id": top["name"]}), queries),
            "series 2 years DAY": _timed(lambda: post(series_q, {**series, "league": "Standard", "bucket": "DAY",
                                                                 "from": (end - 730 * 24 * HOUR).isoformat()}), queries),
            "series 30 days HOUR": _timed(lambda: post(series_q, {**series, "league": league, "bucket": "HOUR",
                                                                  "from": (end - 720 * HOUR).isoformat()}), queries),
            "LEAGUE_DAY over three leagues": _timed(lambda: post(align_q, {"items": [top["metadataPath"]],
                                                                          "realm": realm}), queries),
        }
    finally:
        api.stop()
    return figures


_PARTITION_STATUS_Q = """query AssetPartitionStatus($key: AssetKeyInput!) {
  assetNodeOrError(assetKey: $key) { ... on AssetNode { id partitionKeysByDimension { name }
    assetPartitionStatuses { __typename
      ... on TimePartitionStatuses { ranges { status startTime endTime startKey endKey } }
      ... on DefaultPartitionStatuses { materializedPartitions failedPartitions materializingPartitions } } } } }"""


def _dagster_status(env: dict[str, str], realm: str, repeat: int) -> dict[str, Any]:
    port = free_port()
    web = subprocess.Popen([str(Path(sys.executable).parent / "dagster-webserver"), "-w", str(ROOT / "workspace.yaml"),
                            "-h", "127.0.0.1", "-p", str(port)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}/graphql"
        deadline = time.monotonic() + 180
        variables = {"key": {"path": asset_path(realm, "raw_currency_exchange")}}
        while True:
            if web.poll() is not None or time.monotonic() > deadline:
                return {"error": "the Dagster webserver did not answer within 180 s"}
            try:
                body = requests.post(url, json={"query": _PARTITION_STATUS_Q, "variables": variables}, timeout=60).json()
                node = (body.get("data") or {}).get("assetNodeOrError") or {}
                if "assetPartitionStatuses" in node:
                    break
            except (requests.ConnectionError, ValueError):
                pass
            time.sleep(0.5)
        ranges = node["assetPartitionStatuses"].get("ranges") or []
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            requests.post(url, json={"query": _PARTITION_STATUS_Q, "variables": variables}, timeout=120).raise_for_status()
            times.append(time.perf_counter() - started)
        return {"p50 s": round(statistics.median(times), 3), "max s": round(max(times), 3), "requests": repeat,
                "ranges": [[r["status"], r["startKey"], r["endKey"]] for r in ranges][:10]}
    finally:
        _stop(web)


# --------------------------------------------------------------------------- the run


def _environment(url: str, cx_url: str, home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    return {**os.environ, "DAGSTER_HOME": str(home), "TRADEWATCH_DATABASE_URL": url,
            "TRADEWATCH_DAGSTER_PG_URL": psycopg2_url(url), "TRADEWATCH_CX_URL": cx_url,
            "TRADEWATCH_CX_REALMS": "pc,poe2", "TRADEWATCH_CX_MAX_PER_MINUTE": "100000",
            "TRADEWATCH_CX_MAX_IN_FLIGHT": os.environ.get("TRADEWATCH_CX_MAX_IN_FLIGHT", "8")}


def _phases(runs: list[dict[str, Any]], sampler: _Sampler, realm: str) -> dict[str, Any]:
    raw_key = "/".join(asset_path(realm, "raw_currency_exchange"))
    out = {}
    for run in runs:
        name = "raw" if run["assets"] == [raw_key] else "derived"
        if run["start"] is None or run["end"] is None:
            continue
        out[name] = {"wall s": round(run["end"] - run["start"], 1), "status": run["status"],
                     "peak RSS MB": round(sampler.peak(run["start"], run["end"]) / 1e6, 1), "steps s": run["steps s"]}
    return out


def run(server_url: str, realm: str, hours: int | None, keep_db: str | None, queries: int, resume_hours: int,
        jobs: int, work: Path) -> dict[str, Any]:
    from trade_sim import SimConfig
    from trade_sim.cx_cache import history_hours

    now = time.time()
    all_hours = history_hours(realm, SimConfig(), hours, now)
    start = datetime.fromtimestamp(all_hours[0], timezone.utc)
    end = datetime.fromtimestamp(all_hours[-1], timezone.utc) + HOUR
    report: dict[str, Any] = {"realm": realm, "from": start.isoformat(), "to": end.isoformat(), "hours": len(all_hours),
                              "full history hours": len(history_hours(realm, SimConfig(), None, now))}
    print(f"{realm}: {len(all_hours)} hours {start:%Y-%m-%d %H:00} … {end - HOUR:%Y-%m-%d %H:00} UTC", flush=True)
    report["prebuild"] = _prebuild(realm, all_hours, jobs)
    print(f"documents prebuilt: {report['prebuild']}", flush=True)

    request_log = work / "sim_requests.log"
    sim, cx_url = _start_sim(request_log)
    try:
        with (nullcontext(kept_database(with_database(server_url, keep_db))) if keep_db
              else fresh_database(server_url, "tw_bench_full")) as url:
            upgrade(url)
            env = _environment(url, cx_url, work / "dagster_home")
            code, sampler, wall = _backfill(realm, start, end, env, work / "backfill.log")
            if code != 0:
                print((work / "backfill.log").read_text()[-4000:])
                raise SystemExit(f"tradewatch exchange backfill exited {code} (log {work / 'backfill.log'})")
            with psycopg.connect(url) as conn:
                n, received, stored, markets = conn.execute(
                    "SELECT count(*), sum(response_bytes), sum(stored_bytes), sum(market_count) FROM "
                    "warehouse.raw_currency_exchange WHERE realm = %s", (realm,)).fetchone()
                prices = conn.execute("SELECT count(*) FROM warehouse.exchange_prices WHERE realm = %s",
                                      (realm,)).fetchone()[0]
            report["backfill"] = {
                "command wall s": round(wall, 1), "CPU s (process tree)": round(sum(sampler.cpu.values()), 1),
                "peak RSS MB (process tree)": round(sampler.peak() / 1e6, 1),
                "phases": _phases(_runs(env), sampler, realm),
                "hours stored": n, "markets": int(markets or 0), "exchange_prices rows": prices,
                "received MB": round((received or 0) / 1e6, 1), "stored MB": round((stored or 0) / 1e6, 1),
                "stored / received": round((stored or 0) / max(received or 1, 1), 4)}
            print(json.dumps(report["backfill"], indent=1), flush=True)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("VACUUM ANALYZE")
            report["sizes"] = _sizes(url)
            print(json.dumps(report["sizes"], indent=1), flush=True)
            report["api"] = _api(url, realm, end, queries)
            print(json.dumps(report["api"], indent=1), flush=True)
            report["dagster partition status"] = _dagster_status(env, realm, 5)
            print(f"dagster partition status: {report['dagster partition status']}", flush=True)
            if keep_db:
                print(f"kept database: {url}", flush=True)
        if resume_hours:
            report["resume"] = _resume(server_url, realm, end, min(resume_hours, len(all_hours)), cx_url,
                                       request_log, work)
            print(f"resume: {report['resume']}", flush=True)
    finally:
        _stop(sim)
    return report


def _resume(server_url: str, realm: str, end: datetime, hours: int, cx_url: str, request_log: Path,
            work: Path) -> dict[str, Any]:
    start = end - hours * HOUR
    with fresh_database(server_url, "tw_bench_resume") as url:
        upgrade(url)
        env = _environment(url, cx_url, work / "dagster_home_resume")

        def stored() -> int:
            with psycopg.connect(url) as conn:
                return conn.execute("SELECT count(*) FROM warehouse.raw_currency_exchange WHERE realm = %s",
                                    (realm,)).fetchone()[0]

        request_log.write_text("")
        code, _, _ = _backfill(realm, start, end, env, work / "resume.log", kill_when=lambda: stored() >= hours // 3)
        at_kill = stored()
        with psycopg.connect(url) as conn:
            kept = {h for (h,) in conn.execute("SELECT extract(epoch FROM observed_hour)::bigint FROM "
                                               "warehouse.raw_currency_exchange WHERE realm = %s", (realm,))}
        first_fetches = _fetched(request_log, realm)
        request_log.write_text("")
        code2, _, wall2 = _backfill(realm, start, end, env, work / "resume.log")
        second = _fetched(request_log, realm)
        check = _raw_check(url, realm, start, end, expect_sha=True)
        refetched = len([h for h in second if h in kept])
        result = {"hours": hours, "killed": code is None, "stored at kill": at_kill,
                  "fetched before kill": len(first_fetches), "fetched after relaunch": len(second),
                  "stored hours fetched again": refetched, "relaunch exit": code2, "relaunch wall s": round(wall2, 1),
                  **check}
        result["exact"] = (code is None and code2 == 0 and refetched == 0 and check["duplicates"] == 0
                           and check["lost"] == 0 and check["bodies differing"] == 0)
        return result


def _verdicts(report: dict[str, Any]) -> dict[str, Any]:
    """Each goal's measured figure beside it (None where not measured)."""
    b, api = report.get("backfill", {}), report.get("api", {})
    phases = b.get("phases", {})
    measured = {
        "raw wall s": phases.get("raw", {}).get("wall s"), "derived wall s": phases.get("derived", {}).get("wall s"),
        "stored / received": b.get("stored / received"),
        "database GB": round(report.get("sizes", {}).get("database MB", 0) / 1000, 3) or None,
        "peak RSS MB": b.get("peak RSS MB (process tree)"),
        "market first page p50 ms": api.get("market first page", {}).get("p50 ms"),
        "market search p50 ms": api.get("market search", {}).get("p50 ms"),
        "series 2 years DAY p50 ms": api.get("series 2 years DAY", {}).get("p50 ms"),
        "series 30 days HOUR p50 ms": api.get("series 30 days HOUR", {}).get("p50 ms"),
        "dagster partition status s": report.get("dagster partition status", {}).get("p50 s"),
    }
    out = {k: {"measured": v, "goal": GOALS[k], "met": None if v is None else v <= GOALS[k]}
           for k, v in measured.items()}
    # a partial run: the figures that grow with the hours, projected linearly to the whole history
    full, hours = report.get("full history hours"), report.get("hours")
    if full and hours and hours < full:
        for key in ("raw wall s", "derived wall s", "database GB"):
            if out[key]["measured"] is not None:
                projected = round(out[key]["measured"] * full / hours, 1)
                out[key].update({"projected to the whole history": projected,
                                 "met when projected": projected <= GOALS[key]})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--realm", choices=["pc", "poe2"], default="pc")
    parser.add_argument("--hours", type=int, default=None, help="the newest N hours (default: the whole history)")
    parser.add_argument("--keep-db", metavar="NAME", help="keep database NAME on TRADEWATCH_BENCH_DATABASE_URL's server "
                        "and print its URL")
    parser.add_argument("--queries", type=int, default=50, help="requests per API figure (default 50, at least 50 "
                        "for the goals)")
    parser.add_argument("--resume-hours", type=int, default=1500, help="hours of the resume check (0: skip it; "
                        "default 1500, at most --hours)")
    parser.add_argument("--jobs", type=int, default=2, help="processes prebuilding documents (default 2)")
    args = parser.parse_args()
    if args.hours is not None and args.hours < 24:
        parser.error("--hours must be at least 24 (a day of history for the market's windows)")
    if args.queries < 1 or args.resume_hours < 0:
        parser.error("--queries must be >= 1 and --resume-hours >= 0")
    configured = os.environ.get("TRADEWATCH_BENCH_DATABASE_URL")
    if args.keep_db and not configured:
        parser.error("--keep-db needs TRADEWATCH_BENCH_DATABASE_URL (an embedded server is gone after the run)")
    from trade_sim import SimConfig
    from trade_sim.cx_cache import history_hours

    whole = history_hours(args.realm, SimConfig())
    if args.hours is not None and args.hours > len(whole):
        parser.error(f"--hours {args.hours}: realm {args.realm}'s history has {len(whole)} complete hours (since "
                     f"{datetime.fromtimestamp(whole[0], timezone.utc):%Y-%m-%d %H:00} UTC); ask for at most "
                     f"{len(whole)}, or leave --hours out for all of it")
    context = RunContext()
    work = Path(tempfile.mkdtemp(prefix="tw_bench_full_"))
    with bench_server(configured) as server_url:
        report = run(server_url, args.realm, args.hours, args.keep_db, args.queries, args.resume_hours, args.jobs, work)
    report["goals"] = _verdicts(report)
    report["load average"] = [round(x, 2) for x in os.getloadavg()]
    report["cores"] = os.cpu_count()
    report["commit"] = context.commit
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=1, default=str))
    for goal, verdict in report["goals"].items():
        projected = verdict.get("projected to the whole history")
        print(f"{goal:30s} {verdict['measured']!s:>10} (goal <= {verdict['goal']}) "
              f"{'' if verdict['met'] is None else 'met' if verdict['met'] else 'NOT met'}"
              + ("" if projected is None else f"; {projected} projected to {report['full history hours']} hours"))
    print(f"figures in {OUT}\n{context.line()}", flush=True)


if __name__ == "__main__":
    main()
