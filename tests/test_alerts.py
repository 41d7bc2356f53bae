"""Alerts: the firing semantics over a synthetic history (exact crossings), the rules in the
watchlist, the stored crossings on a real PostgreSQL, and delivery to a real local HTTP receiver."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import yaml

from helpers.databases import insert_exchange_price
from tradewatch.errors import ConfigError
from tradewatch.market.alerts import crossings
from tradewatch.warehouse.alerts import compute_alerts, deliver_alerts
from tradewatch.watchlist import DEFAULT_WATCHLIST, parse_watchlist

START = datetime(2026, 3, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
GREED = "deafening-essence-of-greed"


def hours(n: int, start: datetime = START) -> list[datetime]:
    return [start + i * HOUR for i in range(n)]


# --- semantics -------------------------------------------------------------------------------


def test_a_rule_fires_when_its_condition_becomes_true_and_again_only_after_a_false_hour():
    values = [5, 4, 2.9, 2.5, 2.0, 3.5, 2.8, 2.7, 3.0, 1.0]
    #         -  -  fire  .    .   false fire  .   false(=3 is not below 3) fire
    fired = crossings(zip(hours(10), values), "below", 3.0)
    assert [(c.hour, c.value) for c in fired] == [(START + 2 * HOUR, 2.9), (START + 6 * HOUR, 2.8),
                                                  (START + 9 * HOUR, 1.0)]
    assert all(c.threshold == 3.0 and c.comparison == "below" for c in fired)


def test_an_hour_without_a_value_neither_fires_nor_rearms():
    values = [1.0, None, 1.0, None, 5.0, None, 1.0]
    fired = crossings(zip(hours(7), values), "below", 3.0)
    assert [c.hour for c in fired] == [START, START + 6 * HOUR]


def test_above_is_strict_and_a_rule_true_before_the_window_does_not_fire_at_its_start():
    values = [0.0, 0.5, 0.5, -1.0, 0.1]
    assert [c.hour for c in crossings(zip(hours(5), values), "above", 0.0)] == [START + HOUR, START + 4 * HOUR]
    assert [c.hour for c in crossings(zip(hours(5), [1, 1, 0, 1, 1]), "above", 0.0, armed=False)] == [START + 3 * HOUR]


# --- rules in the watchlist ------------------------------------------------------------------


def _watchlist(alerts: list, path: Path = Path("/tmp/alerts.yaml")):
    data = yaml.safe_load(DEFAULT_WATCHLIST.read_text())
    data["alerts"] = alerts
    return parse_watchlist(data, path)


def test_rules_are_read_with_their_defaults():
    wl = _watchlist([{"name": "cheap-greed", "item": GREED, "below": 3, "currency": "chaos"},
                     {"name": "reroll-pays", "strategy": "deafening-top5", "profit_per_unit_above": 0}])
    cheap, pays = wl.alerts
    assert (cheap.comparison, cheap.threshold, cheap.source, wl.alert_currency(cheap)) == ("below", 3.0, "book", "chaos")
    assert (pays.policy, pays.threshold, wl.alert_currency(pays)) == ("optimal", 0.0, "divine")


@pytest.mark.parametrize("rule, message", [
    ({"name": "x", "item": "no-such-item", "below": 1}, "alerts[0] ('x').item: unknown item id 'no-such-item'"),
    ({"name": "x", "strategy": "nope", "profit_per_unit_above": 0}, "alerts[0] ('x').strategy: unknown strategy 'nope'"),
    ({"name": "x", "item": GREED}, "alerts[0] ('x'): has no threshold"),
    ({"name": "x", "item": GREED, "below": 1, "above": 2}, "alerts[0] ('x'): give `below` or `above`, not both"),
    ({"name": "x", "strategy": "deafening-top5"}, "alerts[0] ('x'): has no threshold"),
    ({"name": "x", "item": GREED, "below": 1, "colour": "red"}, "alerts[0] ('x').colour: unknown key"),
    ({"name": "x", "item": GREED, "below": "cheap"}, "alerts[0] ('x').below:"),
    ({"name": "x", "item": GREED, "below": 1, "currency": "exalted"}, "alerts[0] ('x').currency:"),
    ({"name": "x", "item": "divine-orb", "below": 1}, "alerts[0] ('x').item:"),
])
def test_a_bad_rule_is_refused_at_load_naming_the_file_and_the_entry(rule, message):
    with pytest.raises(ConfigError) as error:
        _watchlist([rule], Path("/tmp/my-watchlist.yaml"))
    assert str(error.value).startswith("watchlist /tmp/my-watchlist.yaml: ")
    assert message in str(error.value)


def test_two_rules_with_one_name_are_refused():
    with pytest.raises(ConfigError, match=r"alerts: the name\(s\) \['a'\] are used twice"):
        _watchlist([{"name": "a", "item": GREED, "below": 1}, {"name": "a", "item": GREED, "above": 9}])


# --- stored crossings --------------------------------------------------------------------------


def _snapshots(url: str, item: str, prices: list[float | None], start: datetime = START) -> None:
    with psycopg.connect(url) as conn:
        for hour, price in zip(hours(len(prices), start), prices):
            conn.execute(
                "INSERT INTO warehouse.price_snapshots (game, league, paid_with, observed_hour, item_id, observed_at, "
                "listing_count, total_stock, min_price, robust_min_price, target_quantity, bought, spent, avg_price, "
                "book, raw_response_id) VALUES ('poe1', 'Standard', 'divine', %s, %s, %s, 10, 100, %s, %s, 500, 0, 0, "
                "NULL, '[]', 1)", (hour, item, hour, price, price))


def _divine_prices(url: str, rates: list[float], start: datetime = START, league: str = "Standard") -> None:
    with psycopg.connect(url) as conn:
        for hour, rate in zip(hours(len(rates), start), rates):
            insert_exchange_price(conn, league, hour, "divine", "Metadata/Items/Currency/CurrencyModValues", "chaos",
                                  rate, 100)


def _stored(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT rule, observed_hour, value, threshold, currency, league, source "
                            "FROM warehouse.alerts ORDER BY observed_hour, rule").fetchall()


def test_crossings_are_stored_in_the_rules_currency_and_a_window_gives_what_a_longer_run_gives(pool, database_url):
    # greed in divine; the divine is worth 200 chaos, then 100: 0.012 div = 2.4 chaos, then 1.2 chaos
    _snapshots(database_url, GREED, [0.02, 0.012, 0.012, 0.02, 0.02, 0.02])
    _divine_prices(database_url, [200, 200, 200, 200, 100, 100])
    wl = _watchlist([{"name": "cheap-greed", "item": GREED, "below": 3, "currency": "chaos"},
                     {"name": "greed-div", "item": GREED, "above": 0.015}])
    report = compute_alerts(pool, wl, START, START + 6 * HOUR)
    expected = [("greed-div", START, 0.02, 0.015, "divine", "Standard", "book"),
                ("cheap-greed", START + HOUR, pytest.approx(2.4), 3.0, "chaos", "Standard", "book"),
                ("greed-div", START + 3 * HOUR, 0.02, 0.015, "divine", "Standard", "book"),
                ("cheap-greed", START + 4 * HOUR, pytest.approx(2.0), 3.0, "chaos", "Standard", "book")]
    assert _stored(database_url) == expected and len(report.rows) == 4
    # hour by hour, each window on its own: the same crossings (the state comes from the hour before)
    for h in hours(6):
        compute_alerts(pool, wl, h, h + HOUR)
    assert _stored(database_url) == expected


def test_a_strategy_rule_fires_on_the_stored_profit_per_unit(pool, database_url):
    with psycopg.connect(database_url) as conn:
        for hour, profit in zip(hours(5), [-0.1, 0.2, 0.3, -0.2, 0.05]):
            for policy in ("top_k", "optimal"):
                conn.execute(
                    "INSERT INTO warehouse.reroll_profitability (game, league, paid_with, strategy, policy, "
                    "observed_hour, input_item_id, input_unit_cost, quantity, reroll_cost, expected_rerolls, "
                    "expected_sale_value, expected_profit_per_unit, expected_profit_total, stop_set) VALUES "
                    "('poe1', 'Standard', 'divine', 'deafening-top5', %s, %s, %s, 1, 2000, 1, 1, 1, %s, 0, '{}')",
                    (policy, hour, GREED, profit if policy == "optimal" else -1.0))
    wl = _watchlist([{"name": "reroll-pays", "strategy": "deafening-top5", "profit_per_unit_above": 0}])
    compute_alerts(pool, wl, START, START + 5 * HOUR)
    assert [(r[0], r[1], r[2]) for r in _stored(database_url)] == [
        ("reroll-pays", START + HOUR, 0.2), ("reroll-pays", START + 4 * HOUR, 0.05)]


# --- delivery ----------------------------------------------------------------------------------


class Receiver:
    """A real HTTP server on loopback that records every POST; the first `fail_first` answer 500."""

    def __init__(self, fail_first: int = 0, status: int = 204) -> None:
        self.posts: list[dict] = []
        self.paths: list[str] = []
        self.answers = [500] * fail_first
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = receiver.answers.pop(0) if receiver.answers else receiver.status
                if status < 300:
                    receiver.posts.append(json.loads(body))
                    receiver.paths.append(self.path)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, token: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/api/webhooks/123/{token}"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


NOW = START + 10 * HOUR + timedelta(minutes=20)  # hour 10 is the current one


def test_one_post_per_crossing_within_the_lookback_none_outside_and_none_twice(pool, database_url):
    # crossings at hours 1, 5 and 9 (below 3 divine; above in between)
    _snapshots(database_url, GREED, [5, 2, 5, 5, 5, 2, 5, 5, 5, 2, 2])
    wl = _watchlist([{"name": "cheap-greed", "item": GREED, "below": 3}])
    compute_alerts(pool, wl, START, START + 11 * HOUR)
    logs: list[str] = []
    with Receiver() as one, Receiver() as two:
        urls = [one.url("SECRET-TOKEN-1"), two.url("SECRET-TOKEN-2")]
        report = deliver_alerts(pool, wl, urls, 5, user_agent="test", now=NOW, backoff=0.01, log=logs.append)
        # lookback 5 h from the current hour 10: hours 5..10 → crossings 5 and 9, not 1
        assert [p["alert"]["hour"] for p in one.posts] == [(START + 5 * HOUR).isoformat(), (START + 9 * HOUR).isoformat()]
        assert one.posts == two.posts and report.delivered == 4 and report.outside_lookback == 1
        again = deliver_alerts(pool, wl, urls, 5, user_agent="test", now=NOW, backoff=0.01, log=logs.append)
        assert len(one.posts) == 2 and again.delivered == 0 and again.already_delivered == 4
    post = one.posts[0]
    assert post["content"].startswith("TradeWatch alert cheap-greed: Deafening Essence of Greed (book price) is 2 "
                                      "divine, below 3 divine — Standard, 2026-03-01 05:00 UTC")
    assert post["alert"] == {"rule": "cheap-greed", "game": "poe1", "league": "Standard",
                             "hour": "2026-03-01T05:00:00+00:00", "kind": "price", "item_id": GREED,
                             "item_name": "Deafening Essence of Greed", "strategy": None, "policy": None,
                             "source": "book", "comparison": "below", "threshold": 3.0, "value": 2.0,
                             "currency": "divine"}
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT webhook, status, attempts FROM warehouse.alert_deliveries").fetchall()
        dump = conn.execute("SELECT string_agg(t::text, ' ') FROM warehouse.alert_deliveries t").fetchone()[0]
    assert len(stored) == 4 and {s[1] for s in stored} == {"delivered"}
    assert {s[0] for s in stored} == {f"http://127.0.0.1:{one.server.server_port}/…",
                                      f"http://127.0.0.1:{two.server.server_port}/…"}
    assert "SECRET-TOKEN" not in dump and not any("SECRET-TOKEN" in line for line in logs)


def test_a_webhook_answering_500_is_retried_with_backoff_and_a_dead_one_is_recorded(pool, database_url, caplog):
    _snapshots(database_url, GREED, [2.0], start=START + 9 * HOUR)
    wl = _watchlist([{"name": "cheap-greed", "item": GREED, "below": 3}])
    compute_alerts(pool, wl, START + 9 * HOUR, START + 10 * HOUR)
    logs: list[str] = []
    with Receiver(fail_first=2) as flaky, Receiver(status=500) as dead:
        urls = [flaky.url("SECRET-TOKEN-A"), dead.url("SECRET-TOKEN-B")]
        report = deliver_alerts(pool, wl, urls, 2, user_agent="test", now=NOW, backoff=0.01, max_attempts=3,
                                log=logs.append)
        assert len(flaky.posts) == 1 and dead.posts == []
    assert (report.delivered, report.failed) == (1, 1)
    with psycopg.connect(database_url) as conn:
        rows = dict(conn.execute("SELECT status, attempts FROM warehouse.alert_deliveries").fetchall())
    assert rows == {"delivered": 3, "failed": 3}
    assert sum("retrying" in line for line in logs) == 4  # 2 for the flaky one, 2 for the dead one
    text = "\n".join(logs + report.errors + [r.getMessage() for r in caplog.records])
    assert "SECRET-TOKEN" not in text and "/api/webhooks" not in text


def test_an_unreachable_webhook_does_not_raise(pool, database_url):
    _snapshots(database_url, GREED, [2.0], start=START + 9 * HOUR)
    wl = _watchlist([{"name": "cheap-greed", "item": GREED, "below": 3}])
    compute_alerts(pool, wl, START + 9 * HOUR, START + 10 * HOUR)
    from helpers.servers import free_port

    report = deliver_alerts(pool, wl, [f"http://127.0.0.1:{free_port()}/hook/SECRET"], 2, user_agent="t", now=NOW,
                            backoff=0.01, max_attempts=2)
    assert report.failed == 1 and "ConnectionError" in report.errors[0] and "SECRET" not in report.errors[0]


# --- the asset -----------------------------------------------------------------------------------


def test_price_alerts_is_a_gold_single_run_eager_asset_downstream_of_the_prices():
    from dagster import AssetKey, BackfillPolicy

    from tradewatch_assets.alerts.assets import price_alerts

    assert price_alerts.backfill_policy == BackfillPolicy.single_run()
    assert price_alerts.group_names_by_key[price_alerts.key] == "gold"
    assert price_alerts.automation_conditions_by_key[price_alerts.key] is not None
    assert {AssetKey("price_snapshots"), AssetKey("reroll_profitability"),
            AssetKey("exchange_prices")} <= set(price_alerts.dependency_keys)


def test_a_range_run_stores_the_crossings_and_a_refusing_webhook_does_not_fail_it(database_url, tmp_path, monkeypatch):
    from dagster import materialize
    from dagster._core.test_utils import instance_for_test

    from tradewatch.cli.simulated_history import simulate_history
    from tradewatch.hours import floor_hour, partition_key, utc_now
    from tradewatch.warehouse.db import get_pool, psycopg2_url
    from tradewatch_assets.alerts.assets import price_alerts
    from tradewatch_assets.market.assets import price_snapshots, reroll_profitability
    from tradewatch_assets.resources import WarehouseResource, WatchlistResource

    data = yaml.safe_load(DEFAULT_WATCHLIST.read_text())
    data["alerts"] = [{"name": "greed-priced", "item": GREED, "above": 0}]  # true from the first hour on
    path = tmp_path / "watchlist.yaml"
    path.write_text(yaml.safe_dump(data))
    end = floor_hour(utc_now())
    start = end - 3 * HOUR
    wl = parse_watchlist(data, path)
    simulate_history(get_pool(database_url), wl, start, end, workers=1)
    with Receiver(status=404) as refusing, instance_for_test(
            overrides={"storage": {"postgres": {"postgres_url": psycopg2_url(database_url)}}}) as instance:
        monkeypatch.setenv("TRADEWATCH_ALERT_WEBHOOKS", refusing.url("SECRET-TOKEN"))
        monkeypatch.setenv("TRADEWATCH_ALERT_LOOKBACK_HOURS", "5")
        result = materialize(
            [price_snapshots, reroll_profitability, price_alerts], instance=instance, raise_on_error=False,
            tags={"dagster/asset_partition_range_start": partition_key(start),
                  "dagster/asset_partition_range_end": partition_key(end - HOUR)},
            resources={"warehouse": WarehouseResource(database_url=database_url),
                       "watchlist": WatchlistResource(path=str(path))})
        assert result.success
        meta = result.asset_materializations_for_node("price_alerts")[-1].metadata
        assert meta["crossings"].value == 1 and meta["failed"].value == 1
        events = "\n".join(str(e) for e in instance.all_logs(result.run_id))
    assert "SECRET-TOKEN" not in events
    assert [(r[0], r[1]) for r in _stored(database_url)] == [("greed-priced", start)]


def test_an_exchange_rule_compares_the_executed_vwap_in_its_currency_converting_the_other_quote(pool, database_url):
    _divine_prices(database_url, [200, 200, 200, 200])
    with psycopg.connect(database_url) as conn:
        # greed traded for chaos every hour, for divine in hour 2 only (that quote wins there)
        for hour, (chaos, divine) in zip(hours(4), [(5.0, None), (2.0, None), (5.0, 0.009), (5.0, None)]):
            for quote, price in (("chaos", chaos), ("divine", divine)):
                if price is not None:
                    insert_exchange_price(conn, "Standard", hour, GREED, "Metadata/greed", quote, price, 1)
    # one unit an hour is a thin market: the rule asks to be compared all the same
    wl = _watchlist([{"name": "greed-cx", "item": GREED, "below": 0.02, "currency": "divine", "source": "exchange",
                      "allow_low_confidence": True}])
    compute_alerts(pool, wl, START, START + 4 * HOUR)
    # divine values: 0.025, 0.01 (fires), 0.009 (its own quote; still true), 0.025
    assert _stored(database_url) == [("greed-cx", START + HOUR, pytest.approx(0.01), 0.02, "divine", "Standard",
                                      "exchange")]


def test_an_exchange_rule_never_fires_on_a_low_confidence_price_unless_it_asks_to(pool, database_url):
    # greed trades 1 unit an hour for 10 hours (thin), then 5 units an hour: from the hour when the 24 hours
    # ending with it hold 6 traded hours and 10 units, the price is no longer low-confidence
    _divine_prices(database_url, [200] * 16)
    with psycopg.connect(database_url) as conn:
        for i, hour in enumerate(hours(16)):
            insert_exchange_price(conn, "Standard", hour, GREED, "Metadata/greed", "chaos", 2.0 if i != 5 else 9.0,
                                  1 if i < 10 else 5)
    thin = {"name": "greed-cheap", "item": GREED, "below": 3.0, "currency": "chaos", "source": "exchange"}
    compute_alerts(pool, _watchlist([thin]), START, START + 16 * HOUR)
    # hours 0-9: at most 10 units in the window until hour 9 (10 units, 10 hours): hour 9 is the first confident one
    assert [(r[0], r[1]) for r in _stored(database_url)] == [("greed-cheap", START + 9 * HOUR)]
    compute_alerts(pool, _watchlist([{**thin, "allow_low_confidence": True}]), START, START + 16 * HOUR)
    # asked for: fires at once, and again after hour 5 re-armed it
    assert [(r[0], r[1]) for r in _stored(database_url)] == [("greed-cheap", START), ("greed-cheap", START + 6 * HOUR)]
