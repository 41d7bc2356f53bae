"""Trigger TradeWatch's Dagster from outside, through a running webserver's GraphQL API.

`tradewatch backfill` recomputes the derived assets over a range of stored hours and
`tradewatch refresh` materializes the current hour (raw fetch + derived) — the same as
the buttons in the Dagster UI, so they work against any TradeWatch webserver (the demo,
`tradewatch run`, a server elsewhere) without touching its database.

Wire format: plain HTTP POSTs of GraphQL to `<webserver>/graphql`, the same requests the
README shows with `curl`. Dagster's own Python client (dagster_graphql) has no backfill
call and drags in Dagster; this module needs only `requests`.

* A backfill is `launchPartitionBackfill` with one `partitionsByAssets` entry per asset,
  each a key range (first and last hour, both included). The derived assets use
  `BackfillPolicy.single_run()`, so Dagster's backfill daemon covers the whole range of
  both assets in one run, whatever its length.
* A refresh is `launchRun` of Dagster's implicit asset job `__ASSET_JOB` (what the UI's
  "Materialize" button launches) for all three assets and the current hour's partition:
  one run whose end means the derived rows exist too. Launching `fetch_raw_hour` and
  letting the eager automation sensor follow would also work, but it returns before
  the derived rows are written, adds up to a sensor interval, and depends on the sensor
  being switched on.

Requests for raw partitions of past hours are refused here with the ingestion's own
message (`tradewatch.bulk_exchange.ingest.plan_hour`): the past market cannot be observed again.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import requests

from tradewatch.errors import TradeWatchError
from tradewatch.hours import HOUR, floor_hour, parse_partition_key, partition_key, utc_now

DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
DAGSTER_URL_ENV = "TRADEWATCH_DAGSTER_URL"
RAW_ASSET = "raw_trade_responses"
DERIVED_ASSETS: tuple[str, ...] = ("price_snapshots", "reroll_profitability")
ALL_ASSETS: tuple[str, ...] = (RAW_ASSET, *DERIVED_ASSETS)
# Dagster's implicit job over every asset of a repository; asset-selection runs go through it.
ASSET_JOB = "__ASSET_JOB"

BACKFILL_SUCCESS = frozenset({"COMPLETED_SUCCESS", "COMPLETED"})
BACKFILL_FINAL = BACKFILL_SUCCESS | {"COMPLETED_FAILED", "FAILED", "CANCELED"}
RUN_SUCCESS = "SUCCESS"
RUN_FINAL = frozenset({"SUCCESS", "FAILURE", "CANCELED"})

_HOW_TO_START = ("start TradeWatch with `make demo` (or `tradewatch demo` / `tradewatch run`), or pass "
                 f"--dagster-url / set {DAGSTER_URL_ENV} to where its webserver runs")

_LAUNCH_BACKFILL = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""

_LAUNCH_RUN = """
mutation LaunchRun($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}"""

_BACKFILL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status error { message } runs(limit: 100) { runId status } }
    ... on Error { message }
  }
}"""

_RUN = """
query Run($id: ID!) {
  runOrError(runId: $id) {
    __typename
    ... on Run { status }
    ... on Error { message }
  }
}"""

_RUN_FAILURES = """
query RunFailures($id: ID!) {
  logsForRun(runId: $id, limit: 1000) {
    __typename
    ... on EventConnection {
      events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey error { message } }
        ... on RunFailureEvent { message }
      }
    }
    ... on Error { message }
  }
}"""

_WORKSPACE = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
    ... on Error { message }
  }
}"""

_ASSETS = """
query TradeWatchAssets {
  assetNodes {
    assetKey { path }
    repository { name location { name } }
    first: partitionKeyConnection(limit: 1, ascending: true) { results }
    last: partitionKeyConnection(limit: 1, ascending: false) { results }
  }
}"""


def dagster_url(explicit: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The webserver to talk to: `--dagster-url`, else TRADEWATCH_DAGSTER_URL, else the local default."""
    env = os.environ if environ is None else environ
    url = (explicit or env.get(DAGSTER_URL_ENV, "").strip() or DEFAULT_DAGSTER_URL).rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise TradeWatchError(f"the Dagster webserver URL {_shown(url)!r} is not an http(s) URL; "
                              f"use e.g. {DEFAULT_DAGSTER_URL}")
    return url


def _shown(url: str) -> str:
    # a URL may carry basic-auth credentials: never print the password
    from tradewatch.warehouse.db import redact

    return redact(url)


_ISO_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}$")


def parse_hour(text: str, option: str = "--from") -> datetime:
    """An ISO date or hour as an aware UTC datetime on a whole hour; naive means UTC.

    Accepts 2026-11-20, 2026-11-20T13, 2026-11-20T13:00, 2026-11-20 13:00:00+02:00,
    2026-11-20T13:00Z and the partition key form 2026-11-20-13:00.
    """
    raw = text.strip()
    example = "e.g. 2026-11-20, 2026-11-20T13:00 or 2026-11-20T13:00+02:00 (no offset = UTC)"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}-\d{2}:\d{2}", raw):
        moment = parse_partition_key(raw)
    else:
        try:
            # Python's ISO parser wants minutes after a bare hour ("T13" → "T13:00")
            moment = datetime.fromisoformat(raw + ":00" if _ISO_HOUR.match(raw) else raw)
        except ValueError:
            raise TradeWatchError(f"{option} {text!r} is not an ISO date or hour; {example}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = moment.astimezone(timezone.utc)
    if moment != floor_hour(moment):
        raise TradeWatchError(f"{option} {text!r} is not on a whole hour: partitions are whole UTC hours; "
                              f"use {floor_hour(moment):%Y-%m-%dT%H:00} or {floor_hour(moment) + HOUR:%Y-%m-%dT%H:00}")
    return moment


def _hour(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # naive means UTC, as everywhere in TradeWatch
    return moment.astimezone(timezone.utc)


def _grace(grace: timedelta | None) -> timedelta:
    if grace is not None:
        return grace
    from tradewatch.settings import load_settings

    return timedelta(minutes=load_settings().fetch_grace_minutes)


def refuse_past_raw(hour: datetime, now: datetime, grace: timedelta) -> None:
    """Raise the ingestion's own PastHourError when raw partition `hour` cannot be fetched now."""
    from tradewatch.bulk_exchange.ingest import plan_hour

    # With nothing stored, plan_hour raises exactly when the fetch window is closed (or the
    # hour lies ahead), with the message the asset itself would fail with.
    plan_hour(hour, now, grace, (), set())


def validate_backfill(start: datetime, end: datetime, assets: Sequence[str], now: datetime,
                      grace: timedelta) -> tuple[datetime, datetime, tuple[str, ...]]:
    """Check a backfill request before anything is launched; returns it normalized (UTC, unique assets)."""
    start, end = _hour(start), _hour(end)
    for option, moment in (("--from", start), ("--to", end)):
        if moment != floor_hour(moment):
            raise TradeWatchError(f"{option} {moment.isoformat()} is not on a whole hour: "
                                  "partitions are whole UTC hours")
    names = tuple(dict.fromkeys(a.strip() for a in assets if a.strip()))
    if not names:
        raise TradeWatchError(f"no assets given; valid assets: {', '.join(ALL_ASSETS)}")
    unknown = [a for a in names if a not in ALL_ASSETS]
    if unknown:
        raise TradeWatchError(f"unknown asset{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                              f"valid assets: {', '.join(ALL_ASSETS)}")
    if start >= end:
        raise TradeWatchError(f"--from {partition_key(start)} must be before --to {partition_key(end)} "
                              "(the range is [from, to): --to is the first hour not included)")
    current = floor_hour(now)
    if end > current + HOUR:
        raise TradeWatchError(
            f"--to {end:%Y-%m-%dT%H:00} lies in the future: the last hour that exists is the current one, "
            f"{partition_key(current)}, so --to can be {current + HOUR:%Y-%m-%dT%H:00} at the latest")
    if RAW_ASSET in names:
        # the earliest hour is the one whose fetch window closed first
        refuse_past_raw(start, now, grace)
    return start, end, names


class WaitProgress:
    """While `--wait` waits: a line on stderr when the status changes, and every `every` s the
    elapsed time, so a long run never looks stuck."""

    def __init__(self, what: str, every: float = 15.0, out=None) -> None:
        self.what, self.every, self.out = what, every, out
        self.started = time.monotonic()
        self.last_status: str | None = None
        self.last_line = self.started

    def __call__(self, status: str) -> None:
        now = time.monotonic()
        if status != self.last_status or now - self.last_line >= self.every:
            print(f"{self.what}: {status} ({now - self.started:.0f} s)", file=self.out or sys.stderr, flush=True)
            self.last_status, self.last_line = status, now


def _wait_until_final(status_of: Callable[[], str], final: frozenset[str], seconds: float, poll: float,
                      what: str, page: str, progress: Callable[[str], None] | None = None) -> str:
    deadline = time.monotonic() + seconds
    while True:
        status = status_of()
        if progress is not None:
            progress(status)
        if status in final:
            return status
        if time.monotonic() >= deadline:
            raise TradeWatchError(f"{what} is still {status} after {seconds:g} s; it goes on without us: {page}")
        time.sleep(poll)


class DagsterRemote:
    """A running Dagster webserver of TradeWatch, driven over its GraphQL API."""

    def __init__(self, url: str = DEFAULT_DAGSTER_URL, timeout: float = 30) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    # --- transport -------------------------------------------------------------------

    def _graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        try:
            response = self._session.post(f"{self.url}/graphql", json={"query": query, "variables": variables or {}},
                                          timeout=self.timeout)
        except requests.ConnectionError:
            raise TradeWatchError(
                f"the Dagster webserver at {_shown(self.url)} is not reachable; {_HOW_TO_START}") from None
        except requests.Timeout:
            raise TradeWatchError(f"the Dagster webserver at {_shown(self.url)} did not answer within "
                                  f"{self.timeout:g} s; is it overloaded or stuck?") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise TradeWatchError(
                f"{_shown(self.url)}/graphql answered HTTP {response.status_code} without GraphQL "
                f"({response.text[:200].strip()!r}); is this a Dagster webserver? {_HOW_TO_START}")
        if body.get("errors"):
            messages = "; ".join(str(e.get("message", e)) for e in body["errors"])
            if "Cannot query field" in messages and body.get("data") is None:
                # a GraphQL server, but another schema (TradeWatch's own API, say)
                raise TradeWatchError(
                    f"{_shown(self.url)} is a GraphQL server but not a Dagster webserver (its schema has "
                    f"no Dagster fields); {_HOW_TO_START}")
            raise TradeWatchError(f"Dagster at {_shown(self.url)} rejected the request: {messages}")
        if response.status_code != 200 or body.get("data") is None:
            raise TradeWatchError(f"Dagster at {_shown(self.url)} answered HTTP {response.status_code} without data")
        return body["data"]

    @staticmethod
    def _error(what: str, result: Mapping[str, Any]) -> TradeWatchError:
        # Dagster answers with a typed error (PythonError, PartitionSetNotFoundError, ...);
        # its type and first lines are what a user can act on, the stack trace is not
        kind = result.get("__typename", "error")
        message = str(result.get("message") or result.get("errors") or "").strip()
        first_lines = "\n".join(message.splitlines()[:3])
        return TradeWatchError(f"{what} failed: Dagster answered {kind}: {first_lines}")

    # --- readiness and the code location ---------------------------------------------

    def _locations(self) -> list[dict[str, Any]]:
        result = self._graphql(_WORKSPACE)["workspaceOrError"]
        if result["__typename"] != "Workspace":
            raise self._error("reading the workspace", result)
        entries = result["locationEntries"]
        for entry in entries:
            loaded = entry.get("locationOrLoadError") or {}
            if loaded.get("__typename") == "PythonError":
                first = "\n".join(str(loaded.get("message", "")).strip().splitlines()[:3])
                raise TradeWatchError(f"Dagster at {_shown(self.url)} could not load the code location "
                                      f"{entry['name']!r}: {first}")
        return entries

    def wait_until_ready(self, seconds: float) -> None:
        """Wait until the webserver answers and its code location is loaded."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                entries = self._locations()
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    return
                problem = (f"the Dagster webserver at {_shown(self.url)} is still loading its code location"
                           if entries else f"the Dagster webserver at {_shown(self.url)} has no code location; "
                           "start it with the repository's workspace.yaml")
            except TradeWatchError as exc:
                if "could not load the code location" in str(exc):
                    raise  # a broken code location does not heal by waiting
                problem = str(exc)
            if time.monotonic() >= deadline:
                raise TradeWatchError(f"{problem} (waited {seconds:g} s)")
            time.sleep(0.5)

    def _assets(self) -> dict[str, dict[str, Any]]:
        """TradeWatch's asset nodes by name, once the code location has loaded."""
        entries = self._locations()
        if any(e["loadStatus"] != "LOADED" for e in entries):
            self.wait_until_ready(self.timeout)
        nodes = {"/".join(n["assetKey"]["path"]): n for n in self._graphql(_ASSETS)["assetNodes"]}
        missing = [a for a in ALL_ASSETS if a not in nodes]
        if missing:
            raise TradeWatchError(f"the Dagster webserver at {_shown(self.url)} does not define "
                                  f"{', '.join(missing)}: is it serving TradeWatch's workspace.yaml?")
        return {a: nodes[a] for a in ALL_ASSETS}

    def _check_history(self, nodes: Mapping[str, Mapping[str, Any]], assets: Sequence[str],
                       start: datetime, end: datetime) -> None:
        # The code location's own partitions decide what exists: TRADEWATCH_HISTORY_START is
        # read where the webserver runs, which need not be this machine.
        for name in assets:
            first = (nodes[name]["first"] or {}).get("results") or []
            last = (nodes[name]["last"] or {}).get("results") or []
            if not first or not last:
                raise TradeWatchError(f"asset {name} has no partitions at {_shown(self.url)}")
            if start < parse_partition_key(first[0]):
                raise TradeWatchError(
                    f"--from {partition_key(start)} lies before the history's first hour {first[0]} of {name} "
                    f"(TRADEWATCH_HISTORY_START of the code location); start at {first[0]} or later")
            if end - HOUR > parse_partition_key(last[0]):
                raise TradeWatchError(f"--to {end:%Y-%m-%dT%H:00} lies after the last partition {last[0]} that "
                                      f"the webserver at {_shown(self.url)} knows (is its clock behind?)")

    # --- backfills -------------------------------------------------------------------

    def launch_backfill(self, start: datetime, end: datetime, assets: Sequence[str] = DERIVED_ASSETS, *,
                        now: datetime | None = None, grace: timedelta | None = None) -> str:
        """Launch a backfill of `assets` over the hours [start, end); returns the backfill id."""
        start, end, names = validate_backfill(start, end, assets, now or utc_now(), _grace(grace))
        self._check_history(self._assets(), names, start, end)
        span = {"start": partition_key(start), "end": partition_key(end - HOUR)}  # Dagster's range is inclusive
        params = {
            "partitionsByAssets": [{"assetKey": {"path": [name]}, "partitions": {"range": span}} for name in names],
            "title": f"tradewatch backfill {span['start']} … {span['end']}",
            "tags": [{"key": "tradewatch/trigger", "value": "backfill"}],
        }
        result = self._graphql(_LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise self._error(f"launching the backfill of {', '.join(names)} for {span['start']} … {span['end']}",
                              result)
        return result["backfillId"]

    def launch_asset_backfill(self, paths: Sequence[Sequence[str]], start: datetime, end: datetime, *,
                              title: str) -> str:
        """Launch one backfill of the assets at `paths` (key paths, e.g. ["poe2", "exchange_prices"]) over the
        hours [start, end), after checking the webserver defines them with partitions covering the range."""
        entries = self._locations()
        if any(e["loadStatus"] != "LOADED" for e in entries):
            self.wait_until_ready(self.timeout)
        nodes = {"/".join(n["assetKey"]["path"]): n for n in self._graphql(_ASSETS)["assetNodes"]}
        names = ["/".join(p) for p in paths]
        missing = [n for n in names if n not in nodes]
        if missing:
            raise TradeWatchError(f"the Dagster webserver at {_shown(self.url)} does not define {', '.join(missing)}: "
                                  "is that realm in its TRADEWATCH_CX_REALMS, and is it serving TradeWatch's "
                                  "workspace.yaml?")
        self._check_history(nodes, names, start, end)
        span = {"start": partition_key(start), "end": partition_key(end - HOUR)}  # Dagster's range is inclusive
        params = {
            "partitionsByAssets": [{"assetKey": {"path": list(p)}, "partitions": {"range": span}} for p in paths],
            "title": f"{title} {span['start']} … {span['end']}",
            "tags": [{"key": "tradewatch/trigger", "value": "exchange-backfill"}],
        }
        result = self._graphql(_LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise self._error(f"launching the backfill of {', '.join(names)} for {span['start']} … {span['end']}",
                              result)
        return result["backfillId"]

    def _backfill(self, backfill_id: str) -> dict[str, Any]:
        result = self._graphql(_BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        if result["__typename"] != "PartitionBackfill":
            raise self._error(f"reading backfill {backfill_id}", result)
        return result

    def backfill_status(self, backfill_id: str) -> str:
        """Dagster's status of the backfill: REQUESTED, COMPLETED_SUCCESS, COMPLETED_FAILED, FAILED, CANCELED, ..."""
        return self._backfill(backfill_id)["status"]

    def backfill_runs(self, backfill_id: str) -> list[tuple[str, str]]:
        """(run id, status) of every run the backfill launched so far."""
        return [(r["runId"], r["status"]) for r in self._backfill(backfill_id)["runs"]]

    def backfill_error(self, backfill_id: str) -> str | None:
        """Why the backfill failed: its own error, else the first failed run's reason."""
        backfill = self._backfill(backfill_id)
        if backfill.get("error"):
            return "\n".join(str(backfill["error"]["message"]).strip().splitlines()[:3])
        for run_id, status in ((r["runId"], r["status"]) for r in backfill["runs"]):
            if status != RUN_SUCCESS:
                reason = self.run_failure(run_id)
                return f"run {run_id} {status.lower()}" + (f": {reason}" if reason else "") + \
                       f" ({self.run_ui_url(run_id)})"
        return None

    def wait_for_backfill(self, backfill_id: str, seconds: float, poll: float = 2.0,
                          progress: Callable[[str], None] | None = None) -> str:
        """Wait until the backfill ends; returns its final status (raises when `seconds` pass first)."""
        return _wait_until_final(lambda: self.backfill_status(backfill_id), BACKFILL_FINAL, seconds, poll,
                                 f"backfill {backfill_id}", self.backfill_ui_url(backfill_id), progress)

    def backfill_ui_url(self, backfill_id: str) -> str:
        return f"{_shown(self.url)}/runs/b/{backfill_id}"

    # --- runs ------------------------------------------------------------------------

    def refresh(self, hour: datetime | None = None, *, now: datetime | None = None,
                grace: timedelta | None = None) -> str:
        """Materialize raw_trade_responses, price_snapshots and reroll_profitability for `hour`
        (default: the current hour) in one run; returns the run id."""
        now = now or utc_now()
        target = floor_hour(now) if hour is None else _hour(hour)
        if target != floor_hour(target):
            raise TradeWatchError(f"--hour {target.isoformat()} is not on a whole hour")
        refuse_past_raw(target, now, _grace(grace))
        node = self._assets()[RAW_ASSET]
        key = partition_key(target)
        params = {
            "selector": {
                "repositoryLocationName": node["repository"]["location"]["name"],
                "repositoryName": node["repository"]["name"],
                "jobName": ASSET_JOB,
                "assetSelection": [{"path": [name]} for name in ALL_ASSETS],
            },
            "executionMetadata": {"tags": [{"key": "dagster/partition", "value": key},
                                           {"key": "tradewatch/trigger", "value": "refresh"}]},
        }
        result = self._graphql(_LAUNCH_RUN, {"params": params})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            raise self._error(f"launching the refresh of {key}", result)
        return result["run"]["runId"]

    def run_status(self, run_id: str) -> str:
        """Dagster's status of the run: QUEUED, STARTING, STARTED, SUCCESS, FAILURE, CANCELED, ..."""
        result = self._graphql(_RUN, {"id": run_id})["runOrError"]
        if result["__typename"] != "Run":
            raise self._error(f"reading run {run_id}", result)
        return result["status"]

    def run_failure(self, run_id: str) -> str | None:
        """The failed steps' messages (first lines), or None when the run reports none."""
        result = self._graphql(_RUN_FAILURES, {"id": run_id})["logsForRun"]
        if result["__typename"] != "EventConnection":
            return None
        reasons = []
        for event in result["events"]:
            if event["__typename"] == "ExecutionStepFailureEvent" and event.get("error"):
                first = str(event["error"]["message"]).strip().splitlines()[:2]
                reasons.append(f"{event['stepKey']}: {' '.join(first)}")
        if not reasons:
            reasons = [str(e["message"]).strip() for e in result["events"]
                       if e["__typename"] == "RunFailureEvent" and e.get("message")]
        text = "; ".join(reasons)
        # one failed fetch per item can make this long; the UI has the full story
        return (text if len(text) <= 600 else text[:600] + " …") or None

    def wait_for_run(self, run_id: str, seconds: float, poll: float = 1.0,
                     progress: Callable[[str], None] | None = None) -> str:
        """Wait until the run ends; returns its final status (raises when `seconds` pass first)."""
        return _wait_until_final(lambda: self.run_status(run_id), RUN_FINAL, seconds, poll,
                                 f"run {run_id}", self.run_ui_url(run_id), progress)

    def run_ui_url(self, run_id: str) -> str:
        return f"{_shown(self.url)}/runs/{run_id}"


# --- the `tradewatch backfill` and `tradewatch refresh` verbs ----------------------------


def backfill_command(url: str | None, start_text: str, end_text: str, assets: Sequence[str], wait: bool,
                     timeout: float) -> int:
    """`tradewatch backfill`: launch, print the id and UI URL, optionally wait; the exit code."""
    start, end = parse_hour(start_text, "--from"), parse_hour(end_text, "--to")
    # "--assets a,b" and "--assets a b" both work
    names = list(dict.fromkeys(n.strip() for value in assets for n in value.split(",") if n.strip()))
    remote = DagsterRemote(dagster_url(url))
    backfill_id = remote.launch_backfill(start, end, names)
    hours = int((end - start) / HOUR)
    print(f"backfill {backfill_id} launched: {', '.join(names)} for {partition_key(start)} … "
          f"{partition_key(end - HOUR)} ({hours} hour{'s' if hours != 1 else ''})\n"
          f"  {remote.backfill_ui_url(backfill_id)}", flush=True)
    if not wait:
        return 0
    status = remote.wait_for_backfill(backfill_id, timeout, progress=WaitProgress(f"backfill {backfill_id}"))
    if status in BACKFILL_SUCCESS:
        runs = len(remote.backfill_runs(backfill_id))
        print(f"backfill {backfill_id}: {status} ({runs} run{'s' if runs != 1 else ''})", flush=True)
        return 0
    reason = remote.backfill_error(backfill_id)
    print(f"tradewatch: backfill {backfill_id} ended {status}" + (f": {reason}" if reason else "")
          + f"\n  {remote.backfill_ui_url(backfill_id)}", file=sys.stderr, flush=True)
    return 1


def refresh_command(url: str | None, hour_text: str | None, wait: bool, timeout: float) -> int:
    """`tradewatch refresh`: materialize the hour (default current), print the run, optionally wait."""
    now = utc_now()
    hour = parse_hour(hour_text, "--hour") if hour_text else floor_hour(now)
    remote = DagsterRemote(dagster_url(url))
    run_id = remote.refresh(hour, now=now)
    print(f"run {run_id} launched: {', '.join(ALL_ASSETS)} for {partition_key(hour)}\n"
          f"  {remote.run_ui_url(run_id)}", flush=True)
    if not wait:
        return 0
    status = remote.wait_for_run(run_id, timeout, progress=WaitProgress(f"run {run_id}"))
    if status == RUN_SUCCESS:
        print(f"run {run_id}: {status}", flush=True)
        return 0
    reason = remote.run_failure(run_id)
    print(f"tradewatch: run {run_id} ended {status}" + (f": {reason}" if reason else "")
          + f"\n  {remote.run_ui_url(run_id)}", file=sys.stderr, flush=True)
    return 1
