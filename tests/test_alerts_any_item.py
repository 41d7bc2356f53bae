"""Alert rules on any catalogue item: named by id, metadata path or display name, of the
watchlist's realm or their own (PoE 2), priced from the stored executed trades; unknown items
are refused at load time with "did you mean"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import yaml

from helpers.databases import insert_exchange_price
from tradewatch.currency_exchange.catalogue import resolve_item
from tradewatch.errors import ConfigError
from tradewatch.warehouse.alerts import AlertRow, alert_payload, compute_alerts
from tradewatch.watchlist import DEFAULT_WATCHLIST, parse_watchlist

START = datetime(2026, 3, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
GREED = "deafening-essence-of-greed"
UNLISTED = "Metadata/Items/Currency/CurrencyProbeUnlisted1"


def _watchlist(alerts: list, path: Path = Path("/tmp/alerts.yaml")):
    data = yaml.safe_load(DEFAULT_WATCHLIST.read_text())
    data["alerts"] = alerts
    return parse_watchlist(data, path)


@pytest.mark.parametrize("given", ["exalted", "Metadata/Items/Currency/CurrencyAddModToRare", "Exalted Orb",
                                   "exalted orb"])
def test_an_exchange_rule_names_an_unwatched_item_by_id_path_or_name(given):
    (rule,) = _watchlist([{"name": "x", "item": given, "below": 1, "source": "exchange"}]).alerts
    assert rule.item == "exalted"


def test_a_book_rule_may_name_a_watched_item_by_its_name():
    (rule,) = _watchlist([{"name": "x", "item": "Deafening Essence of Greed", "below": 1}]).alerts
    assert rule.item == GREED
    with pytest.raises(ConfigError, match=r"'Exalted Orb' \(Exalted Orb\) is not in `items`"):
        _watchlist([{"name": "x", "item": "Exalted Orb", "below": 1}])


def test_an_unknown_item_is_refused_with_did_you_mean():
    with pytest.raises(ConfigError) as caught:
        _watchlist([{"name": "x", "item": "Exalted Orbb", "below": 1, "source": "exchange"}])
    message = str(caught.value)
    assert "alerts[0] ('x').item: unknown item id 'Exalted Orbb'" in message
    assert "did you mean 'Exalted Orb'" in message


def test_a_poe2_rule_resolves_in_the_poe2_catalogue():
    poe2_only = resolve_item("poe2", "Exalted Orb")
    (rule,) = _watchlist([{"name": "x", "item": "Exalted Orb", "below": 1, "source": "exchange", "realm": "poe2",
                           "league": "Dawn of the Hunt"}]).alerts
    assert rule.item == poe2_only.id
    with pytest.raises(ConfigError, match="realm` and `league` are for exchange rules"):
        _watchlist([{"name": "x", "item": GREED, "below": 1, "realm": "poe2"}])
    with pytest.raises(ConfigError, match=r"alerts\[0\] \('x'\).realm"):
        _watchlist([{"name": "x", "item": GREED, "below": 1, "source": "exchange", "realm": "mars"}])


def test_an_exchange_rule_fires_on_an_item_of_its_own_realm_and_league(pool, database_url):
    item = resolve_item("poe2", "Exalted Orb")
    league = "Dawn of the Hunt"
    with psycopg.connect(database_url) as conn:
        for i, price in enumerate([30.0, 12.0, 11.0, 40.0]):
            insert_exchange_price(conn, league, START + i * HOUR, item.id, item.metadata_path, "chaos", price, 5,
                                  realm="poe2")
        # the same path in the PoE 1 realm must not count
        insert_exchange_price(conn, "Standard", START, "x", item.metadata_path, "chaos", 1.0, 5, realm="pc")
    wl = _watchlist([{"name": "cheap-ex", "item": "exalted orb", "below": 20, "currency": "chaos",
                      "source": "exchange", "realm": "poe2", "league": league,
                      "allow_low_confidence": True}])  # four thin hours: the confidence gate is another test's
    report = compute_alerts(pool, wl, START, START + 4 * HOUR)
    assert [(r.hour, r.value, r.item_id) for r in report.rows] == [(START + HOUR, 12.0, item.id)]
    assert report.hours_with_value["cheap-ex"] == 4


def test_an_exchange_rule_on_a_path_the_catalogue_lacks(pool, database_url):
    with psycopg.connect(database_url) as conn:
        for i, price in enumerate([1.0, 9.0]):
            insert_exchange_price(conn, "Standard", START + i * HOUR, UNLISTED, UNLISTED, "chaos", price, 5)
    wl = _watchlist([{"name": "probe", "item": UNLISTED, "above": 5, "currency": "chaos", "source": "exchange",
                      "allow_low_confidence": True}])  # two thin hours: the confidence gate is another test's
    (row,) = compute_alerts(pool, wl, START, START + 2 * HOUR).rows
    assert (row.hour, row.item_id) == (START + HOUR, UNLISTED)
    payload = alert_payload(row)
    assert payload["alert"]["item_name"] == "Currency Probe Unlisted 1"
    assert "Metadata/" not in payload["content"]


def test_the_payload_names_a_catalogue_item_by_its_name():
    row = AlertRow("poe1", "Standard", "r", START, "price", "exalted", None, None, "exchange", "below", 1.0, 0.5,
                   "chaos")
    assert alert_payload(row)["alert"]["item_name"] == "Exalted Orb"
