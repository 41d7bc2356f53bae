"""`tradewatch exchange backfill`: bring the Currency Exchange assets and the market up to date over a range.

The chain of a realm is `raw_currency_exchange` → `exchange_prices` → `exchange_market_hourly`
→ `exchange_market_latest` (keys prefixed `<realm>/` outside PC), all on the realm's hourly
partitions and single-run, so a range of any length is one run of each step.

* Without `--local` the command launches ONE backfill of the four assets on the running
  webserver (visible in its UI), like `tradewatch backfill`. With `--wait` it waits; when some
  hours could not be stored (the raw step fails, so Dagster skips the steps below it in that
  run), it then launches the derived three over the range, so that the other hours' prices
  and market are still computed by the same command, and exits 1 naming the hours.
* With `--local` the same selection runs in this process against the configured instance
  (DAGSTER_HOME): the raw step first, then the derived steps over the range in a second run
  whatever the first gave. Exit 0 when both succeeded, else 1 with the reason; the hours that
  could not be stored are named (the raw asset's check `every_hour_stored` has them too).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import datetime

from tradewatch.errors import TradeWatchError
from tradewatch.hours import HOUR, floor_hour, parse_partition_key, partition_key, utc_now

CHAIN = ("raw_currency_exchange", "exchange_prices", "exchange_market_hourly", "exchange_market_latest")
REALMS = ("pc", "poe2", "xbox", "sony")


def asset_path(realm: str, name: str) -> list[str]:
    """An asset's key path: bare for PC, under the realm's name otherwise (as the code location names them)."""
    return [name] if realm == "pc" else [realm, name]


@dataclass(frozen=True)
class ExchangeRange:
    realm: str
    start: datetime
    end: datetime  # excluded

    @property
    def first_key(self) -> str:
        return partition_key(self.start)

    @property
    def last_key(self) -> str:
        return partition_key(self.end - HOUR)

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / HOUR)


def exchange_range(realm: str, start_text: str | None, end_text: str | None, everything: bool,
                   now: datetime | None = None) -> ExchangeRange:
    """The range asked for, checked against the realm's partitions: [first published hour, the current hour)."""
    from tradewatch.cli.dagster_remote import parse_hour
    from tradewatch.currency_exchange.history import first_published_hour

    if realm not in REALMS:
        raise TradeWatchError(f"--realm {realm!r} is not a realm; use one of {', '.join(REALMS)}")
    first = first_published_hour(realm)
    newest_end = floor_hour(now or utc_now())  # the feed publishes an hour once it has ended
    if everything:
        if start_text or end_text:
            raise TradeWatchError("give either --all or --from/--to, not both")
        start, end = first, newest_end
    else:
        if not start_text or not end_text:
            raise TradeWatchError("give --from and --to (ISO date or hour, --to excluded), or --all for the realm's "
                                  "whole history")
        start, end = parse_hour(start_text, "--from"), parse_hour(end_text, "--to")
    if start >= end:
        raise TradeWatchError(f"--from {partition_key(start)} must be before --to {partition_key(end)} "
                              "(the range is [from, to): --to is the first hour not included)")
    if start < first:
        raise TradeWatchError(f"--from {partition_key(start)} lies before realm {realm}'s first published hour "
                              f"{partition_key(first)}; start at {first:%Y-%m-%dT%H:00} or later")
    if end > newest_end:
        raise TradeWatchError(f"--to {end:%Y-%m-%dT%H:00} lies after the newest published hour: the feed publishes "
                              f"an hour once it has ended, so --to can be {newest_end:%Y-%m-%dT%H:00} at the latest")
    return ExchangeRange(realm, start, end)


def _range_tags(r: ExchangeRange) -> dict[str, str]:
    return {"dagster/asset_partition_range_start": r.first_key, "dagster/asset_partition_range_end": r.last_key,
            "tradewatch/trigger": "exchange-backfill"}


def _failure_reason(result) -> str:
    """The failed steps' reasons of an in-process result: a Failure's description, else the innermost error's
    first line (Dagster wraps what the asset raised in its own "Error occurred while executing op")."""
    reasons = []
    for event in result.all_events:
        if not event.is_step_failure or not event.step_failure_data:
            continue
        data = event.step_failure_data
        if data.user_failure_data and data.user_failure_data.description:
            message = data.user_failure_data.description
        else:
            error = data.error
            while error is not None and error.cause is not None:
                error = error.cause
            message = error.message if error is not None else "failed"
        reasons.append(f"{event.step_key}: {str(message).strip().splitlines()[0] if str(message).strip() else message}")
    return "; ".join(reasons)[:1200] or "the run failed"


def run_local(r: ExchangeRange, out=None) -> int:
    """Both runs in this process against DAGSTER_HOME's instance; the exit code."""
    out = out or sys.stdout
    if not os.environ.get("DAGSTER_HOME"):
        raise TradeWatchError("--local runs against the Dagster instance of DAGSTER_HOME, which is not set; set it "
                              "to the instance's folder (the demo's is .tradewatch/dagster), or leave --local out "
                              "to launch the backfill on the running webserver")
    from dagster import AssetKey, DagsterInstance

    from tradewatch_assets.definitions import defs, settings

    if r.realm not in settings.cx_realms:
        raise TradeWatchError(f"realm {r.realm} is not configured (TRADEWATCH_CX_REALMS={','.join(settings.cx_realms)});"
                              f" add it, e.g. TRADEWATCH_CX_REALMS={','.join((*settings.cx_realms, r.realm))}")
    job = defs.resolve_implicit_global_asset_job_def()
    keys = [AssetKey(asset_path(r.realm, name)) for name in CHAIN]
    tags = _range_tags(r)
    print(f"exchange backfill {r.realm} {r.first_key} … {r.last_key} ({r.hours} hours), in this process", file=out,
          flush=True)
    with DagsterInstance.get() as instance:
        raw = job.execute_in_process(instance=instance, asset_selection=keys[:1], tags=tags, raise_on_error=False)
        raw_problem = None if raw.success else _failure_reason(raw)
        print(f"  {CHAIN[0]}: run {raw.run_id} " + ("succeeded" if raw.success else f"failed: {raw_problem}"),
              file=out, flush=True)
        derived = job.execute_in_process(instance=instance, asset_selection=keys[1:], tags=tags, raise_on_error=False)
        derived_problem = None if derived.success else _failure_reason(derived)
        print(f"  {', '.join(CHAIN[1:])}: run {derived.run_id} "
              + ("succeeded" if derived.success else f"failed: {derived_problem}"), file=out, flush=True)
    if raw.success and derived.success:
        return 0
    problems = [p for p in (raw_problem, derived_problem) if p]
    print(f"tradewatch: exchange backfill {r.realm} {r.first_key} … {r.last_key}: {'; '.join(problems)}"
          + ("" if raw.success or not derived.success else
             " (the stored hours' prices and market were computed; re-run the same command later: only the missing "
             "hours are fetched)"), file=sys.stderr, flush=True)
    return 1


def run_remote(r: ExchangeRange, url: str | None, wait: bool, timeout: float, out=None) -> int:
    """One backfill of the chain on the running webserver; with `wait`, the derived steps again if the raw one failed."""
    from tradewatch.cli.dagster_remote import BACKFILL_SUCCESS, DagsterRemote, WaitProgress, dagster_url

    out = out or sys.stdout
    remote = DagsterRemote(dagster_url(url))
    paths = [asset_path(r.realm, name) for name in CHAIN]
    backfill_id = remote.launch_asset_backfill(paths, r.start, r.end, title=f"tradewatch exchange backfill {r.realm}")
    print(f"backfill {backfill_id} launched: {', '.join('/'.join(p) for p in paths)} for {r.first_key} … "
          f"{r.last_key} ({r.hours} hours)\n  {remote.backfill_ui_url(backfill_id)}", file=out, flush=True)
    if not wait:
        return 0
    status = remote.wait_for_backfill(backfill_id, timeout, progress=WaitProgress(f"backfill {backfill_id}"))
    if status in BACKFILL_SUCCESS:
        print(f"backfill {backfill_id}: {status}", file=out, flush=True)
        return 0
    reason = remote.backfill_error(backfill_id) or status
    print(f"tradewatch: backfill {backfill_id} ended {status}: {reason}", file=sys.stderr, flush=True)
    if CHAIN[0] in reason:
        # the raw step failed, so Dagster skipped the steps below it: derive the stored hours now
        again = remote.launch_asset_backfill(paths[1:], r.start, r.end,
                                             title=f"tradewatch exchange backfill {r.realm} (derived)")
        print(f"backfill {again} launched for the stored hours: {', '.join('/'.join(p) for p in paths[1:])}\n"
              f"  {remote.backfill_ui_url(again)}", file=out, flush=True)
        status = remote.wait_for_backfill(again, timeout, progress=WaitProgress(f"backfill {again}"))
        print(f"backfill {again}: {status}", file=out, flush=True)
    return 1


def exchange_backfill_command(realm: str, start_text: str | None, end_text: str | None, everything: bool,
                              local: bool, url: str | None, wait: bool, timeout: float) -> int:
    r = exchange_range(realm, start_text, end_text, everything)
    if local:
        return run_local(r)
    return run_remote(r, url, wait, timeout)


__all__ = ["CHAIN", "ExchangeRange", "asset_path", "exchange_backfill_command", "exchange_range",
           "parse_partition_key", "run_local", "run_remote"]
