"""Alerts (gold): the crossings of the watchlist's alert rules, stored and delivered to webhooks.

`compute_alerts` evaluates every rule of the watchlist over every hour of a window with the
pure semantics of `tradewatch.market.alerts` and replaces that window of `warehouse.alerts`
in one transaction. Each rule's series is read from what it watches:

* a book rule: the hour's robust minimum price (`warehouse.price_snapshots`, in the
  watchlist's currency), converted to the rule's currency with the hour's divine price;
* an exchange rule (`source: exchange`, any catalogue item): the executed vwap
  (`analytics.exchange_prices`), in the rule's currency when that market traded, else converted
  from the other quote; an hour whose price is low-confidence (the market overview's rule over
  the 24 hours ending with it: fewer than 6 hours traded or 10 units) has no value unless the
  rule sets `allow_low_confidence: true`, so a thin market never fires it;
* a strategy rule: the expected profit per unit (`warehouse.reroll_profitability`).

The rule's state before the window is that of the last hour before it with a value (true:
disarmed, false or none: armed), so a window gives the same crossings on its own as inside
a longer run. An hour whose value cannot be converted (no divine price) has no value.

`deliver_alerts` posts the crossings of the last `lookback_hours` that a webhook has not
received yet, one POST per crossing and webhook, and records each outcome in
`warehouse.alert_deliveries`; a failing webhook is recorded, never raised.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from psycopg_pool import ConnectionPool

from tradewatch.bulk_exchange.catalog import item_name
from tradewatch.currency_exchange.catalogue import name_of
from tradewatch.hours import floor_hour, partition_key, utc_now
from tradewatch.market.alerts import Crossing, armed_after, crossings
from tradewatch.market.currency import REALM_OF_GAME, convert
from tradewatch.market_overview.windows import trailing_low_confidence
from tradewatch.watchlist import AlertRule, Watchlist
from tradewatch.webhooks import post_json, redact_webhook, webhook_id

__all__ = ["AlertRow", "AlertsReport", "DeliveryReport", "alert_payload", "compute_alerts", "deliver_alerts",
           "divine_prices"]

_COLUMNS = ("game, league, rule, observed_hour, kind, item_id, strategy, policy, source, comparison, threshold, "
            "value, currency")
_DELIVERY_LOCK = 0x7477_616c  # one deliverer at a time: two runs must not post the same crossing twice


@dataclass(frozen=True)
class AlertRow:
    """A stored crossing, as `warehouse.alerts` holds it."""

    game: str
    league: str
    rule: str
    hour: datetime
    kind: str  # 'price' | 'profit'
    item_id: str | None
    strategy: str | None
    policy: str | None
    source: str  # 'book' | 'exchange' | 'profitability'
    comparison: str
    threshold: float
    value: float
    currency: str


@dataclass
class AlertsReport:
    start: datetime
    end: datetime
    rows: list[AlertRow] = field(default_factory=list)
    deleted: int = 0
    hours_with_value: dict[str, int] = field(default_factory=dict)  # rule → hours it could be compared


@dataclass
class DeliveryReport:
    delivered: int = 0
    failed: int = 0
    already_delivered: int = 0
    outside_lookback: int = 0
    webhooks: int = 0
    errors: list[str] = field(default_factory=list)  # "rule hour webhook(redacted): error"


def divine_prices(conn, realm: str, league: str, start: datetime, end: datetime) -> dict[datetime, float]:
    """The league's divine price in chaos per hour of [start, end) (hours where divines traded)."""
    rows = conn.execute(
        "SELECT observed_hour, chaos_per_divine FROM analytics.exchange_divine_price WHERE realm = %s AND league = %s "
        "AND chaos_per_divine IS NOT NULL "
        "AND observed_hour >= %s AND observed_hour < %s", (realm, league, start, end)).fetchall()
    return dict(rows)


def _series(conn, wl: Watchlist, rule: AlertRule, start: datetime, end: datetime,
            ) -> tuple[list[tuple[datetime, float | None]], tuple[datetime, float | None] | None, str]:
    """(hour, value) of [start, end), the last (hour, value) before start, and the source name."""
    currency = wl.alert_currency(rule)
    realm, league = REALM_OF_GAME.get(wl.game, "pc"), wl.league
    keys: list[int] = []
    if rule.strategy is not None:
        sql = ("SELECT observed_hour, expected_profit_per_unit, %(paid)s FROM warehouse.reroll_profitability "
               "WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND strategy = %(strategy)s "
               "AND policy = %(policy)s")
        source = "profitability"
    elif rule.source == "book":
        sql = ("SELECT observed_hour, robust_min_price, %(paid)s FROM warehouse.price_snapshots "
               "WHERE game = %(game)s AND league = %(league)s AND paid_with = %(paid)s AND item_id = %(item)s "
               "AND robust_min_price IS NOT NULL")
        source = "book"
    else:
        # any catalogue item of the rule's realm and league: the rows of its path's key (and of the keys
        # warehouse.exchange_items gives its trade id, for paths stored under that id)
        realm, league = wl.alert_realm(rule), wl.alert_league(rule)
        item = wl.alert_item(rule)
        keys = [item.item_key, *(r[0] for r in conn.execute(
            "SELECT item_key FROM warehouse.exchange_items WHERE item_id = %s", (item.id,)))]
        sql = ("SELECT observed_hour, vwap_price, quote_currency FROM warehouse.exchange_prices "
               "WHERE realm = %(realm)s AND league = %(league)s AND item_key = ANY(%(keys)s) "
               "AND vwap_price IS NOT NULL")
        source = "exchange"
    params = {"game": wl.game, "league": league, "paid": wl.paid_with, "strategy": rule.strategy,
              "policy": rule.policy, "item": rule.item, "realm": realm, "keys": keys, "start": start, "end": end}
    window = conn.execute(sql + " AND observed_hour >= %(start)s AND observed_hour < %(end)s "
                                "ORDER BY observed_hour", params).fetchall()
    # an exchange hour has up to two rows (chaos and divine quotes): the newest two cover it
    before = conn.execute(sql + " AND observed_hour < %(start)s ORDER BY observed_hour DESC LIMIT 2",
                          params).fetchall()
    before = [r for r in before if r[0] == before[0][0]] if before else []
    hours = [r[0] for r in window + before]
    needs_rate = any(r[2] != currency for r in window + before)
    rates = divine_prices(conn, realm, league, min(hours), max(hours) + timedelta(hours=1)) if needs_rate else {}

    def per_hour(rows: list[tuple]) -> list[tuple[datetime, float | None]]:
        # the value quoted in the rule's currency where that market traded, else the other one converted
        chosen: dict[datetime, tuple] = {}
        for row in rows:
            if row[0] not in chosen or row[2] == currency:
                chosen[row[0]] = row
        return [(hour, convert(value, quoted_in, currency, rates.get(hour)))
                for hour, value, quoted_in in sorted(chosen.values())]

    series, last = per_hour(window), per_hour(before)
    if source == "exchange" and not rule.allow_low_confidence and series + last:
        low = _low_confidence_hours(conn, realm, league, keys, [h for h, _ in series + last])
        series = [(h, None if low.get(h, True) else v) for h, v in series]
        last = [(h, None if low.get(h, True) else v) for h, v in last]
    return series, (last[-1] if last else None), source


UNITS_SQL = """
SELECT observed_hour, sum(volume) FROM warehouse.exchange_prices
WHERE realm = %(realm)s AND league = %(league)s AND item_key = ANY(%(keys)s)
  AND observed_hour > %(first)s AND observed_hour <= %(last)s
GROUP BY 1
"""


def _low_confidence_hours(conn, realm: str, league: str, keys: list[int], hours: list[datetime]
                          ) -> dict[datetime, bool]:
    """Hour → whether the item's exchange price of that hour is low-confidence (the 24 hours ending with it)."""
    units = dict(conn.execute(UNITS_SQL, {"keys": keys, "realm": realm, "league": league,
                                          "first": min(hours) - timedelta(hours=24), "last": max(hours)}).fetchall())
    return trailing_low_confidence(units, hours)


def compute_alerts(pool: ConnectionPool, watchlist: Watchlist, start: datetime, end: datetime,
                   log: Callable[[str], None] = lambda _: None) -> AlertsReport:
    """Evaluate every alert rule over [start, end) and replace that window of warehouse.alerts."""
    if not start < end:
        raise ValueError(f"empty window: start {start} is not before end {end}")
    report = AlertsReport(start=start, end=end)
    wl = watchlist
    with pool.connection() as conn:
        for rule in wl.alerts:
            series, before, source = _series(conn, wl, rule, start, end)
            comparison = "above" if rule.strategy is not None else rule.comparison
            armed = armed_after(before[1] if before else None, comparison, rule.threshold)
            report.hours_with_value[rule.name] = sum(1 for _, v in series if v is not None)
            fired: list[Crossing] = crossings(series, comparison, rule.threshold, armed)
            report.rows += [AlertRow(
                game=wl.game, league=wl.league, rule=rule.name, hour=c.hour,
                kind="profit" if rule.strategy is not None else "price", item_id=rule.item,
                strategy=rule.strategy, policy=rule.policy if rule.strategy is not None else None, source=source,
                comparison=c.comparison, threshold=c.threshold, value=c.value, currency=wl.alert_currency(rule),
            ) for c in fired]
    with pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
        report.deleted = cur.execute(
            "DELETE FROM warehouse.alerts WHERE game = %s AND league = %s AND observed_hour >= %s "
            "AND observed_hour < %s", (wl.game, wl.league, start, end)).rowcount
        with cur.copy(f"COPY warehouse.alerts ({_COLUMNS}) FROM STDIN") as copy:
            for r in report.rows:
                copy.write_row((r.game, r.league, r.rule, r.hour, r.kind, r.item_id, r.strategy, r.policy, r.source,
                                r.comparison, r.threshold, r.value, r.currency))
    log(f"price alerts {partition_key(start)}…{partition_key(end)}: {len(report.rows)} crossings of "
        f"{len(wl.alerts)} rules, {report.deleted} replaced")
    return report


def _number(value: float) -> str:
    """A price as a trader reads it: 3 significant digits, no exponent for ordinary sizes."""
    if value == 0 or 0.001 <= abs(value) < 1e6:
        return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{value:.3g}"


def _item_name(row: AlertRow) -> str:
    # a catalogue name for any exchange item (a path is never shown); the trade site's for the rest
    return (name_of(row.game, row.item_id) if row.game in ("poe1", "poe2") else None) or item_name(row.item_id)


def alert_payload(row: AlertRow) -> dict:
    """The JSON posted for one crossing: Discord's `content` line and the structured `alert`."""
    hour = row.hour.strftime("%Y-%m-%d %H:00 UTC")
    if row.kind == "price":
        what = f"{_item_name(row)} ({'executed vwap' if row.source == 'exchange' else 'book price'})"
        content = (f"TradeWatch alert {row.rule}: {what} is {_number(row.value)} {row.currency}, {row.comparison} "
                   f"{_number(row.threshold)} {row.currency} — {row.league}, {hour}")
    else:
        content = (f"TradeWatch alert {row.rule}: strategy {row.strategy} ({row.policy}) makes "
                   f"{_number(row.value)} {row.currency} per unit, above {_number(row.threshold)} {row.currency} "
                   f"— {row.league}, {hour}")
    return {
        "content": content,
        "alert": {
            "rule": row.rule, "game": row.game, "league": row.league, "hour": row.hour.isoformat(),
            "kind": row.kind, "item_id": row.item_id,
            "item_name": _item_name(row) if row.item_id else None,
            "strategy": row.strategy, "policy": row.policy, "source": row.source, "comparison": row.comparison,
            "threshold": row.threshold, "value": row.value, "currency": row.currency,
        },
    }


def deliver_alerts(pool: ConnectionPool, watchlist: Watchlist, urls: Sequence[str], lookback_hours: float, *,
                   user_agent: str, now: datetime | None = None, backoff: float = 1.0, max_attempts: int = 4,
                   timeout: float = 10.0, log: Callable[[str], None] = lambda _: None) -> DeliveryReport:
    """Post every stored crossing of the last `lookback_hours` (counted from the start of the
    current hour) that a webhook has not received; record each outcome. Never raises for a webhook."""
    report = DeliveryReport(webhooks=len(urls))
    if not urls:
        return report
    since = floor_hour(now or utc_now()) - timedelta(hours=lookback_hours)
    with pool.connection() as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_DELIVERY_LOCK,))
        try:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM warehouse.alerts WHERE game = %s AND league = %s "
                "ORDER BY observed_hour, rule", (watchlist.game, watchlist.league)).fetchall()
            done = {(r, h, w) for r, h, w in conn.execute(
                "SELECT rule, observed_hour, webhook_id FROM warehouse.alert_deliveries WHERE game = %s "
                "AND league = %s AND status = 'delivered'", (watchlist.game, watchlist.league)).fetchall()}
            conn.commit()
            for raw in rows:
                row = AlertRow(*raw)
                if row.hour < since:
                    report.outside_lookback += 1
                    continue
                payload = alert_payload(row)
                for url in urls:
                    key = webhook_id(url)
                    if (row.rule, row.hour, key) in done:
                        report.already_delivered += 1
                        continue
                    tried_at = utc_now()
                    outcome = post_json(url, payload, user_agent=user_agent, max_attempts=max_attempts,
                                        backoff=backoff, timeout=timeout, log=log)
                    conn.execute(
                        "INSERT INTO warehouse.alert_deliveries (game, league, rule, observed_hour, webhook_id, "
                        "webhook, status, http_status, attempts, error, first_try_at, last_try_at) "
                        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now()) "
                        "ON CONFLICT (game, league, rule, observed_hour, webhook_id) DO UPDATE SET "
                        "status = EXCLUDED.status, http_status = EXCLUDED.http_status, "
                        "attempts = alert_deliveries.attempts + EXCLUDED.attempts, error = EXCLUDED.error, "
                        "last_try_at = EXCLUDED.last_try_at",
                        (row.game, row.league, row.rule, row.hour, key, redact_webhook(url),
                         "delivered" if outcome.delivered else "failed", outcome.http_status, outcome.attempts,
                         outcome.error, tried_at))
                    conn.commit()
                    if outcome.delivered:
                        report.delivered += 1
                    else:
                        report.failed += 1
                        report.errors.append(f"{row.rule} {partition_key(row.hour)} {redact_webhook(url)}: "
                                             f"{outcome.error} after {outcome.attempts} attempts")
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_DELIVERY_LOCK,))
            conn.commit()
    log(f"alert deliveries: {report.delivered} delivered, {report.failed} failed, {report.already_delivered} "
        f"already delivered, {report.outside_lookback} crossings outside the {lookback_hours:g} h lookback")
    return report
