"""Exchange prices (silver) computed from stored Currency Exchange documents (bronze).

`compute_exchange_prices` reads the stored documents of a window of hours for a realm,
prices every market one side of which is chaos or divine with the pure rules of
`tradewatch.market.exchange`, and replaces that window of `warehouse.exchange_prices` in
one transaction (delete + COPY): readers see the old hours or the new ones, never a mix.
Every league of a document is kept, private leagues included; items are trade ids via the
shipped catalogue, unknown paths kept under their path and flagged `mapped = false`.

Speed (a realistic hour is ~1.4 MB and ~1,500 markets; a backfill is thousands of hours):
decompressing, parsing and pricing is CPU work, so hours are priced in worker processes
(one per core, bounded read-ahead so memory stays flat), each returning its rows already
in COPY text form; this process only streams them into one COPY.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

import orjson
from psycopg_pool import ConnectionPool

from tradewatch.currency_exchange.catalog import item_key, item_storage_key
from tradewatch.raw_bodies import decompress
from tradewatch.hours import hours_between, partition_key
from tradewatch.market.exchange import DIVINE_PATH, MalformedMarket, market_prices
from tradewatch.warehouse.parallel import default_workers, ordered_map

_COLUMNS = ("realm, league, item_key, quote_currency, observed_hour, item_first, vwap_price, min_price, max_price, "
            "volume, quote_volume, item_lowest_stock, item_highest_stock, quote_lowest_stock, quote_highest_stock")
# fewer hours than this are priced in this process (the hourly run): no workers to start
PARALLEL_FROM_HOURS = 24


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

    @property
    def hours_without_documents(self) -> list[datetime]:
        have = set(self.hours_with_documents)
        return [h for h in hours_between(self.start, self.end) if h not in have]


@dataclass
class PricedHour:
    """One hour's rows in COPY text form, with what the report needs from it."""

    hour: datetime
    copy_text: bytes
    rows: int
    markets: int
    malformed: int
    leagues: Counter
    items: dict[str, tuple[int, str, bool]]  # path → (storage key, item id, mapped)
    chaos_per_divine: dict[str, float | None]

    @property
    def unmapped(self) -> set[str]:
        return {path for path, (_, _, mapped) in self.items.items() if not mapped}


def _text(value: str) -> str:
    # COPY text format: backslash, tab, newline and carriage return are escaped
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def _num(value) -> str:
    return "\\N" if value is None else repr(value)


def price_hour(realm: str, hour: datetime, compression: str, body: bytes) -> PricedHour:
    """Decompress, parse and price one stored document (runs in a worker process)."""
    document = orjson.loads(decompress(body, compression))
    texts: dict[str, str] = {}
    items: dict[str, tuple[int, str, bool]] = {}
    keys: dict[str, str] = {}
    lines: list[str] = []
    leagues: Counter = Counter()
    divine: dict[str, float | None] = {}
    prefix = f"{_text(realm)}\t"
    at = hour.isoformat()
    markets = malformed = 0
    for market in document.get("markets", ()):
        markets += 1
        try:
            prices = market_prices(market)
        except MalformedMarket:
            malformed += 1
            continue
        first = market["market_pair"][0]
        for p in prices:
            key = keys.get(p.item_path)
            if key is None:
                trade_id, mapped = item_key(p.item_path)
                storage_key = item_storage_key(p.item_path)
                items[p.item_path] = (storage_key, trade_id, mapped)
                key = keys[p.item_path] = str(storage_key)
            league = texts.get(p.league)
            if league is None:
                league = texts[p.league] = _text(p.league)
            if p.quote_currency == "chaos" and p.item_path == DIVINE_PATH:
                divine[p.league] = p.vwap_price
            leagues[p.league] += 1
            lines.append("\t".join((
                prefix + league, key, p.quote_currency, at, "t" if p.item_path == first else "f",
                _num(p.vwap_price), _num(p.min_price), _num(p.max_price), repr(p.volume), repr(p.quote_volume),
                _num(p.item_lowest_stock), _num(p.item_highest_stock), _num(p.quote_lowest_stock),
                _num(p.quote_highest_stock))))
    text = "\n".join(lines) + "\n" if lines else ""
    return PricedHour(hour, text.encode(), len(lines), markets, malformed, leagues, items, divine)


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
                with sink.copy(f"COPY warehouse.exchange_prices ({_COLUMNS}) FROM STDIN") as copy:
                    tasks = ((realm, hour, compression, bytes(body)) for hour, compression, body in source)
                    for priced in ordered_map(_price_row, tasks, workers):
                        if priced.copy_text:
                            copy.write(priced.copy_text)
                        _add(report, priced)
                        items.update(priced.items)
            _upsert_items(writer, items)
    log(f"exchange prices {realm} {partition_key(start)}…{partition_key(end)}: {report.rows} rows from "
        f"{len(report.hours_with_documents)} stored hours, {report.deleted} replaced, "
        f"{len(report.unmapped_items)} unmapped item paths")
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
