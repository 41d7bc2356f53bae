"""Exchange prices (silver) computed from stored Currency Exchange documents (bronze).

`compute_exchange_prices` reads the stored documents of a window of hours for a realm,
prices every market one side of which is chaos or divine with the pure rules of
`tradewatch.market.exchange`, and replaces that window of `warehouse.exchange_prices` in
one transaction (delete + COPY): readers see the old hours or the new ones, never a mix.
Every league of a document is kept, private leagues included; items are trade ids via the
shipped catalogue, unknown paths kept under their path and flagged `mapped = false`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

import orjson
from psycopg_pool import ConnectionPool

from tradewatch.currency_exchange.catalog import item_key
from tradewatch.currency_exchange.raw_store import decompress
from tradewatch.hours import hours_between, partition_key
from tradewatch.market.exchange import MalformedMarket, market_prices

_COLUMNS = ("realm, league, observed_hour, item_id, item_path, mapped, quote_currency, market_id, vwap_price, "
            "min_price, max_price, volume, quote_volume, item_lowest_stock, item_highest_stock, "
            "quote_lowest_stock, quote_highest_stock")


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


def compute_exchange_prices(pool: ConnectionPool, realm: str, start: datetime, end: datetime,
                            log: Callable[[str], None] = lambda _: None) -> ExchangePricesReport:
    """Price the stored documents of [start, end) for `realm` and replace that window atomically."""
    if not start < end:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    report = ExchangePricesReport(realm=realm, start=start, end=end)
    keys: dict[str, tuple[str, bool]] = {}

    def rows(cursor):
        for hour, compression, body in cursor:
            document = orjson.loads(decompress(bytes(body), compression))
            report.hours_with_documents.append(hour)
            count = 0
            for market in document.get("markets", ()):
                report.markets += 1
                try:
                    prices = market_prices(market)
                except MalformedMarket:
                    key = partition_key(hour)
                    report.malformed_markets[key] = report.malformed_markets.get(key, 0) + 1
                    continue
                for p in prices:
                    item = keys.get(p.item_path)
                    if item is None:
                        item = keys[p.item_path] = item_key(p.item_path)
                        if not item[1]:
                            report.unmapped_items.add(p.item_path)
                    if item[0] == "divine" and p.quote_currency == "chaos":
                        report.chaos_per_divine[(p.league, hour)] = p.vwap_price
                    report.leagues[p.league] += 1
                    count += 1
                    yield (realm, p.league, hour, item[0], p.item_path, item[1], p.quote_currency, p.market_id,
                           p.vwap_price, p.min_price, p.max_price, p.volume, p.quote_volume, p.item_lowest_stock,
                           p.item_highest_stock, p.quote_lowest_stock, p.quote_highest_stock)
            report.rows_by_hour[hour] = count
            report.rows += count

    with pool.connection() as reader, pool.connection() as writer:
        with reader.transaction(), writer.transaction():
            report.deleted = writer.execute(
                "DELETE FROM warehouse.exchange_prices WHERE realm = %s AND observed_hour >= %s AND observed_hour < %s",
                (realm, start, end),
            ).rowcount
            with reader.cursor(name="tradewatch_cx_window") as source, writer.cursor() as sink:
                source.itersize = 20
                source.execute(
                    "SELECT observed_hour, compression, body FROM warehouse.raw_currency_exchange "
                    "WHERE realm = %s AND observed_hour >= %s AND observed_hour < %s ORDER BY observed_hour",
                    (realm, start, end),
                )
                with sink.copy(f"COPY warehouse.exchange_prices ({_COLUMNS}) FROM STDIN") as copy:
                    for row in rows(source):
                        copy.write_row(row)
    log(f"exchange prices {realm} {partition_key(start)}…{partition_key(end)}: {report.rows} rows from "
        f"{len(report.hours_with_documents)} stored hours, {report.deleted} replaced, "
        f"{len(report.unmapped_items)} unmapped item paths")
    return report
