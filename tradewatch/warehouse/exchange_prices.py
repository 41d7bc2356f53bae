"""Exchange prices (silver) computed from stored Currency Exchange documents (bronze).

`compute_exchange_prices` reads the stored documents of a window of hours for a realm,
prices every market one side of which is chaos or divine with the pure rules of
`tradewatch.market.exchange`, and replaces that window of `warehouse.exchange_prices` in
one transaction (delete + COPY): readers see the old hours or the new ones, never a mix.
Every league of a document is kept, private leagues included; items are trade ids via the
shipped catalogue, unknown paths kept under their path and flagged `mapped = false`; every path
of the window gets a `warehouse.exchange_catalogue` row of its realm's game (a path the catalogue
lacks: a name derived from the path, `named = false`).

Speed (a realistic hour is ~1.4 MB and ~1,500 markets; a backfill is thousands of hours):
decompressing, parsing and pricing is CPU work, so hours are priced in worker processes
(one per core, bounded read-ahead so memory stays flat), each returning its rows already
in COPY's binary form; this process only streams them into one COPY. Binary because
formatting nine floats a row as text (`repr`) was a third of a worker's time and parsing
them back a fifth of PostgreSQL's; rows are sorted in primary-key order for the same reason
(see `_price_document`). bench/currency_exchange.py measures it.
"""

from __future__ import annotations

import gc
import struct
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timedelta, timezone
from typing import Callable

import orjson
from psycopg_pool import ConnectionPool

from tradewatch.currency_exchange.catalog import item_key, item_storage_key
from tradewatch.currency_exchange.catalogue import catalogue_index, game_of_realm
from tradewatch.raw_bodies import decompress
from tradewatch.hours import hours_between, partition_key
from tradewatch.market.exchange import DIVINE_PATH, MalformedMarket, market_prices
from tradewatch.warehouse.exchange_catalogue import add_feed_paths
from tradewatch.warehouse.parallel import default_workers, ordered_map

_COLUMNS = ("realm, league, item_key, quote_currency, observed_hour, item_first, vwap_price, min_price, max_price, "
            "volume, quote_volume, item_lowest_stock, item_highest_stock, quote_lowest_stock, quote_highest_stock")
# fewer hours than this are priced in this process: two spawned workers cost ~0.4 s of CPU each to start and
# every document crosses a pipe, which a full-size hour's parse (~15 ms) repays only over a few days
# (measured on 2 cores: 24 hours 1.2 s in this process against 2.5 s with workers, even at 96)
PARALLEL_FROM_HOURS = 72


@dataclass
class ExchangePricesReport:
    realm: str
    start: datetime
    end: datetime
    rows: int = 0
    deleted: int = 0
    hours_with_documents: list[datetime] = field(default_factory=list)
    markets: int = 0
    malformed_markets: dict[str, int] = field(default_factory=dict)  # partition key → count
    leagues: Counter = field(default_factory=Counter)  # league → rows
    unmapped_items: set[str] = field(default_factory=set)
    rows_by_hour: dict[datetime, int] = field(default_factory=dict)
    chaos_per_divine: dict[tuple[str, datetime], float | None] = field(default_factory=dict)
    new_catalogue_paths: int = 0  # rows the window added to warehouse.exchange_catalogue
    uncatalogued_paths: set[str] = field(default_factory=set)  # paths the packaged catalogue of the game lacks

    @property
    def hours_without_documents(self) -> list[datetime]:
        have = set(self.hours_with_documents)
        return [h for h in hours_between(self.start, self.end) if h not in have]


@dataclass
class PricedHour:
    """One hour's rows in COPY binary form (no signature or trailer), with what the report needs from it."""

    hour: datetime
    copy_rows: bytes
    rows: int
    markets: int
    malformed: int
    leagues: Counter
    items: dict[str, tuple[int, str, bool]]  # path → (storage key, item id, mapped)
    chaos_per_divine: dict[str, float | None]

    @property
    def unmapped(self) -> set[str]:
        return {path for path, (_, _, mapped) in self.items.items() if not mapped}


# COPY BINARY: the stream's signature, flags and header extension; each row is a field count
# then (int32 length, bytes) per field, length -1 for null; the stream ends with -1 (int16)
COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
COPY_TRAILER = b"\xff\xff"
_FIELDS = struct.pack(">h", len(_COLUMNS.split(",")))
_NULL = b"\xff\xff\xff\xff"
_INT8 = struct.Struct(">iq")
_FLOAT8 = struct.Struct(">id")
_NINE_FLOAT8 = struct.Struct(">" + "id" * 9)
_BOOL = {True: b"\x00\x00\x00\x01\x01", False: b"\x00\x00\x00\x01\x00"}
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)


def _text(value: str) -> bytes:
    data = value.encode()
    return struct.pack(">i", len(data)) + data


def _numbers(values: tuple) -> bytes:
    """The nine float8 columns of a row (p[4:] of an ExchangePrice, in COPY order).

    Ints become the nearest double, as PostgreSQL reads their digits; orjson yields none beyond 64
    bits (a larger number fails the parse), so none overflows a float8."""
    if None not in values:
        v = values
        return _NINE_FLOAT8.pack(8, v[0], 8, v[1], 8, v[2], 8, v[3], 8, v[4], 8, v[5], 8, v[6], 8, v[7], 8, v[8])
    return b"".join([_NULL if v is None else _FLOAT8.pack(8, v) for v in values])


@lru_cache(maxsize=1 << 16)
def _item(path: str) -> tuple[int, str, bool, bytes]:
    """(storage key, item id, mapped, the key as a COPY field) of a metadata path: the same few thousand
    paths come back every hour, hashed once per process."""
    trade_id, mapped = item_key(path)
    storage_key = item_storage_key(path)
    return storage_key, trade_id, mapped, _INT8.pack(8, storage_key)


def price_hour(realm: str, hour: datetime, compression: str, body: bytes) -> PricedHour:
    """Decompress, parse and price one stored document (runs in a worker process).

    The cyclic garbage collector is paused meanwhile: the ~10,000 dicts and lists of a parsed
    document would trigger a dozen collections that find nothing (none of it forms a cycle, so
    reference counting frees it all), about a tenth of the hour's time.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _price_document(realm, hour, orjson.loads(decompress(body, compression)))
    finally:
        if collecting:
            gc.enable()


def _price_document(realm: str, hour: datetime, document: dict) -> PricedHour:
    """The rows of a parsed document as COPY BINARY rows, sorted in primary-key order.

    Per row only what differs is computed: the fields shared by many rows (realm and league,
    item key, quote and hour) are encoded once per document, and a row's nine numbers are
    packed in one call from its unpacked tuple (attribute access and slicing of the named
    tuple were a third of this loop)."""
    items: dict[str, tuple[int, str, bool]] = {}
    keys: dict[str, tuple[int, bytes]] = {}  # path → its storage key, and as a COPY field
    prefixes: dict[str, bytes] = {}  # league → field count, realm and league fields
    lines: list[tuple[str, int, str, bytes]] = []  # (league, storage key, quote, COPY row)
    append = lines.append
    divine: dict[str, float | None] = {}
    realm_field = _FIELDS + _text(realm)
    micros = (hour - _PG_EPOCH) // timedelta(microseconds=1)  # timestamptz: µs since 2000-01-01 UTC
    # the quote and hour fields, then the item_first flag: one lookup a row
    tails = {(q, first): _text(q) + _INT8.pack(8, micros) + _BOOL[first]
             for q in ("chaos", "divine") for first in (True, False)}
    pack_nine = _NINE_FLOAT8.pack
    markets = malformed = 0
    for market in document.get("markets", ()):
        markets += 1
        try:
            prices = market_prices(market)
        except MalformedMarket:
            malformed += 1
            continue
        if not prices:
            continue
        first = market["market_pair"][0]
        for league, _, path, quote, v0, v1, v2, v3, v4, v5, v6, v7, v8 in prices:
            key = keys.get(path)
            if key is None:
                storage_key, trade_id, mapped, key_text = _item(path)
                items[path] = (storage_key, trade_id, mapped)
                key = keys[path] = (storage_key, key_text)
            prefix = prefixes.get(league)
            if prefix is None:
                prefix = prefixes[league] = realm_field + _text(league)
            if path == DIVINE_PATH and quote == "chaos":
                divine[league] = v0
            if v0 is None or v1 is None or v2 is None or v5 is None or v6 is None or v7 is None or v8 is None \
                    or v3 is None or v4 is None:
                numbers = _numbers((v0, v1, v2, v3, v4, v5, v6, v7, v8))
            else:
                numbers = pack_nine(8, v0, 8, v1, 8, v2, 8, v3, 8, v4, 8, v5, 8, v6, 8, v7, 8, v8)
            append((league, key[0], quote, b"".join((prefix, key[1], tails[quote, path == first], numbers))))
    # in primary-key order (realm, league, item_key, quote_currency): each insert lands next to the
    # last one in the index, which PostgreSQL maintains ~20% faster than in the feed's order
    lines.sort()
    return PricedHour(hour, b"".join([line[3] for line in lines]), len(lines), markets, malformed,
                      Counter([line[0] for line in lines]), items, divine)


def _price_row(args: tuple) -> PricedHour:
    return price_hour(*args)


def compute_exchange_prices(pool: ConnectionPool, realm: str, start: datetime, end: datetime,
                            log: Callable[[str], None] = lambda _: None, workers: int | None = None) -> ExchangePricesReport:
    """Price the stored documents of [start, end) for `realm` and replace that window atomically."""
    if not start < end:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    report = ExchangePricesReport(realm=realm, start=start, end=end)
    if workers is None:
        workers = default_workers((end - start).total_seconds() / 3600, PARALLEL_FROM_HOURS)
    with pool.connection() as reader, pool.connection() as writer:
        with reader.transaction(), writer.transaction():
            report.deleted = writer.execute(
                "DELETE FROM warehouse.exchange_prices WHERE realm = %s AND observed_hour >= %s AND observed_hour < %s",
                (realm, start, end),
            ).rowcount
            with reader.cursor(name="tradewatch_cx_window") as source, writer.cursor() as sink:
                source.itersize = 16
                source.execute(
                    "SELECT observed_hour, compression, body FROM warehouse.raw_currency_exchange "
                    "WHERE realm = %s AND observed_hour >= %s AND observed_hour < %s ORDER BY observed_hour",
                    (realm, start, end),
                )
                items: dict[str, tuple[int, str, bool]] = {}
                with sink.copy(f"COPY warehouse.exchange_prices ({_COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy:
                    tasks = ((realm, hour, compression, bytes(body)) for hour, compression, body in source)
                    started = False
                    for priced in ordered_map(_price_row, tasks, workers):
                        if priced.copy_rows:
                            if not started:  # psycopg sends signature and trailer itself only for no data
                                copy.write(COPY_SIGNATURE)
                                started = True
                            copy.write(priced.copy_rows)
                        _add(report, priced)
                        items.update(priced.items)
                    if started:
                        copy.write(COPY_TRAILER)
            _upsert_items(writer, items)
            game = game_of_realm(realm)
            report.new_catalogue_paths = add_feed_paths(writer, game, items)
            known = catalogue_index(game).by_path
            report.uncatalogued_paths = {path for path in items if path not in known}
    log(f"exchange prices {realm} {partition_key(start)}…{partition_key(end)}: {report.rows} rows from "
        f"{len(report.hours_with_documents)} stored hours, {report.deleted} replaced, "
        f"{len(report.unmapped_items)} unmapped item paths, {len(report.uncatalogued_paths)} not in the catalogue "
        f"({report.new_catalogue_paths} new, named from their path)")
    return report


def _upsert_items(conn, items: dict[str, tuple[int, str, bool]]) -> None:
    """The paths the window's rows refer to (same transaction; the catalogue may have learned some)."""
    if not items:
        return
    paths = list(items)
    conn.execute(
        """
        INSERT INTO warehouse.exchange_items (item_key, item_path, item_id, mapped)
        SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::boolean[])
        ON CONFLICT (item_key) DO UPDATE SET item_id = EXCLUDED.item_id, mapped = EXCLUDED.mapped
        WHERE (exchange_items.item_id, exchange_items.mapped) IS DISTINCT FROM (EXCLUDED.item_id, EXCLUDED.mapped)
        """,
        ([items[p][0] for p in paths], paths, [items[p][1] for p in paths], [items[p][2] for p in paths]),
    )


def _add(report: ExchangePricesReport, priced: PricedHour) -> None:
    report.hours_with_documents.append(priced.hour)
    report.rows += priced.rows
    report.rows_by_hour[priced.hour] = priced.rows
    report.markets += priced.markets
    if priced.malformed:
        report.malformed_markets[partition_key(priced.hour)] = priced.malformed
    report.leagues.update(priced.leagues)
    report.unmapped_items |= priced.unmapped
    for league, value in priced.chaos_per_divine.items():
        report.chaos_per_divine[(league, priced.hour)] = value
