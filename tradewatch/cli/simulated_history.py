"""Simulated market history: hourly raw responses from `trade_sim`'s market model.

For development, the demo, the tests and the benchmark, months of hourly order books
are written into `warehouse.raw_trade_responses` exactly as live ingestion stores them
(same table, same columns, same "never overwrite" rule), with `simulated = true` so a
simulated hour is never mistaken for an observed one. Hours and items already stored
(real or simulated) are skipped.

Each hour holds what the hourly fetch stores: the book of every watched item and the book of
divine paid in chaos (`tradewatch.bulk_exchange.ingest.ingest_divine_book`), so the snapshots
of simulated hours carry a divine price in chaos and every chaos/divine conversion has a rate.
`simulate_currency_exchange_history` writes the Currency Exchange documents of the same hours.

The market model lives in `trade_sim` (which the core does not otherwise depend on):
it is imported only when `simulate_history` runs without an explicit `respond`.
Generating a book costs about 0.5 ms, so the work is spread over worker processes
while the main process streams the rows into PostgreSQL with COPY.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from psycopg_pool import ConnectionPool

from tradewatch.hours import hours_between
from tradewatch.bulk_exchange.ingest import DIVINE_ITEM, divine_book_key
from tradewatch.bulk_exchange.raw_store import BulkRawRow, RawKey, insert_responses_bulk
from tradewatch.bulk_exchange.client import exchange_body, exchange_path
from tradewatch.raw_bodies import pack
from tradewatch.watchlist import Watchlist

__all__ = ["SIMULATED_FETCH_OFFSET", "simulate_history"]

# A simulated hour is "fetched" when the hourly schedule would fetch it (:05).
SIMULATED_FETCH_OFFSET = timedelta(minutes=5)
# Hours per COPY batch: big enough to amortize a round trip, small enough to keep memory low
# (22 books x ~36 kB per book x 24 h ≈ 19 MB).
_BATCH_HOURS = 24

Respond = Callable[[dict[str, Any], datetime], dict[str, Any]]
# the books of one hour still to write: per key (game, league, paid_with), the items
HourPlan = tuple[datetime, tuple[tuple[RawKey, tuple[str, ...]], ...], int, str]


def _trade_sim_respond(league: str, seed: int) -> Respond:
    from trade_sim.market import exchange_response  # the only place the core reaches the simulator

    def respond(request_body: dict[str, Any], hour: datetime) -> dict[str, Any]:
        return exchange_response(request_body, hour, league=league, seed=seed)

    return respond


def _hour_rows(plan: HourPlan, respond: Respond | None = None) -> list[tuple[RawKey, BulkRawRow]]:
    """Every missing book of one hour as ready-to-COPY rows with their key (runs in a worker process
    unless `respond` is given)."""
    hour, books, seed, path = plan
    rows = []
    for key, items in books:
        model = respond or _trade_sim_respond(key.league, seed)
        rows += [(key, _row(key, hour, item, model, path)) for item in items]
    return rows


def _row(key: RawKey, hour: datetime, item: str, respond: Respond, path: str) -> BulkRawRow:
    request = exchange_body(key.paid_with, item)
    body = json.dumps(respond(request, hour), separators=(",", ":")).encode()
    return BulkRawRow(
        hour=hour, item_id=item, request_path=path, request_body_json=json.dumps(request), status_code=200,
        body=pack(body), rate_limit_headers_json="{}", fetched_at=hour + SIMULATED_FETCH_OFFSET,
        duration_ms=0.0, attempt=1, response_bytes=len(body),
    )


def _stored(pool: ConnectionPool, key: RawKey, start: datetime, end: datetime) -> set[tuple[datetime, str]]:
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT observed_hour, item_id FROM warehouse.raw_trade_responses "
            "WHERE game = %s AND league = %s AND paid_with = %s AND observed_hour >= %s AND observed_hour < %s",
            (key.game, key.league, key.paid_with, start, end),
        ).fetchall()
    return {(hour, item) for hour, item in rows}


def simulate_history(
    pool: ConnectionPool,
    watchlist: Watchlist,
    start: datetime,
    end: datetime,
    seed: int = 7,
    progress: Callable[[int, int], None] | None = None,
    respond: Respond | None = None,
    workers: int | None = None,
    divine_book: bool = True,
) -> int:
    """Write simulated raw responses for every watched item and hour in [start, end), and the
    hour's book of divine paid in chaos as the hourly fetch does (unless `divine_book` is false).

    Returns how many responses were written (divine books included). (hour, item) pairs already
    stored are left alone, so real observations are never overwritten and a re-run only fills gaps.
    `progress(hours_done, hours_total)` is called after every committed batch.
    `respond(request_body, hour)` replaces the market model (tests); with it, the work
    stays in this process. `workers` defaults to the CPU count (1 disables the pool).
    """
    keys = {RawKey(watchlist.game, watchlist.league, watchlist.paid_with): tuple(watchlist.items)}
    if divine_book:
        divine = divine_book_key(watchlist)
        # a watchlist paying chaos for divine has the book among its items already
        keys[divine] = tuple(dict.fromkeys(keys.get(divine, ()) + (DIVINE_ITEM,)))
    path = exchange_path(watchlist.game, watchlist.league)
    stored = {key: _stored(pool, key, start, end) for key in keys}
    plan: list[HourPlan] = []
    for hour in hours_between(start, end):
        books = tuple((key, missing) for key, items in keys.items()
                      if (missing := tuple(i for i in items if (hour, i) not in stored[key])))
        if books:
            plan.append((hour, books, seed, path))
    total_hours = len(hours_between(start, end))
    skipped_hours = total_hours - len(plan)
    if progress:
        progress(skipped_hours, total_hours)
    if not plan:
        return 0

    workers = workers or min(os.cpu_count() or 1, 4)
    written = 0

    def batches(results: Iterator[list[tuple[RawKey, BulkRawRow]]]) -> Iterator[list[tuple[RawKey, BulkRawRow]]]:
        batch: list[tuple[RawKey, BulkRawRow]] = []
        hours = 0
        for rows in results:
            batch.extend(rows)
            hours += 1
            if hours == _BATCH_HOURS:
                yield batch
                batch, hours = [], 0
        if batch:
            yield batch

    def write(results: Iterator[list[tuple[RawKey, BulkRawRow]]]) -> None:
        nonlocal written
        done = skipped_hours
        for batch in batches(results):
            with pool.connection() as conn:  # one commit per key and batch: an interruption keeps what is done
                for key in keys:
                    rows = [row for k, row in batch if k == key]
                    if rows:
                        written += insert_responses_bulk(conn, key, rows, simulated=True)
            done += len({row.hour for _, row in batch})
            if progress:
                progress(done, total_hours)

    if respond is not None or workers == 1:
        model = respond or _trade_sim_respond(watchlist.league, seed)
        write(_hour_rows(hour_plan, model) for hour_plan in plan)
    else:
        with ProcessPoolExecutor(max_workers=workers) as executor:
            write(executor.map(_hour_rows, plan, chunksize=8))
    return written


def simulate_currency_exchange_history(pool: ConnectionPool, start: datetime, end: datetime, realm: str = "pc",
                                       *, derive: bool = True, stop: Callable[[], bool] = lambda: False) -> int:
    """Store `trade_sim`'s Currency Exchange documents for the hours of [start, end) not stored yet.

    Rows go through the same raw store as fetched ones (compressed bytes, checksum, never
    overwritten), marked `simulated`; with `derive` the window's exchange prices are computed
    too, so the demo shows executed prices at once. Returns how many hours were written. `stop()`
    is asked between hours (the demo runs this in a thread, which a Ctrl-C must end too).
    """
    from datetime import timezone

    from trade_sim import currency_exchange_document

    from tradewatch.currency_exchange.client import PUBLISHED, HourAnswer, hour_url, read_envelope
    from tradewatch.currency_exchange.raw_store import insert_hour, prepare, stored_hours
    from tradewatch.warehouse.exchange_prices import compute_exchange_prices

    with pool.connection() as conn:
        have = stored_hours(conn, realm, start, end)
    written = 0
    for hour in hours_between(start, end):
        if hour in have:
            continue
        if stop():
            return written
        body = currency_exchange_document(hour, realm)
        next_id, markets = read_envelope(body)
        answer = HourAnswer(realm=realm, hour=hour, kind=PUBLISHED, url=hour_url("simulated:", realm, hour),
                            status_code=200, body=body, headers={"Content-Type": "application/json"},
                            fetched_at=datetime.now(timezone.utc), attempt=1, response_bytes=len(body),
                            next_change_id=next_id, market_count=markets)
        with pool.connection() as conn:
            written += insert_hour(conn, prepare(answer), simulated=True)
    if derive and written:
        # in this process: worker processes would take the Ctrl-C of a demo that is stopping meanwhile
        compute_exchange_prices(pool, realm, start, end, workers=1)
    return written
