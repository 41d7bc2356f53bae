"""The simulator's Currency Exchange trades real catalogue items (PoE 1 on pc/xbox/sony, PoE 2 on
poe2), a few paths no catalogue lists and rarely traded items; priced by the real writer, every
market is named from the catalogue (a derived name for the unlisted paths), never by its path."""

from __future__ import annotations

import json
from collections import Counter
from statistics import median
from datetime import datetime, timedelta, timezone

import psycopg

from trade_sim import SimConfig, currency_exchange_document
from trade_sim.cx_catalogue import CHAOS, DIVINE, RARE_POPULARITY, UNLISTED, catalogue
from tradewatch.currency_exchange.catalogue import catalogue_index, derived_name, game_of_realm

HOUR = datetime(2026, 8, 19, 6, tzinfo=timezone.utc)


def _paths(realm: str, hours: int, step: int = 1) -> Counter:
    seen: Counter = Counter()
    for i in range(0, hours, step):
        for market in json.loads(currency_exchange_document(HOUR + timedelta(hours=i), realm))["markets"]:
            seen.update(market["market_pair"])
    return seen


def test_every_simulated_item_is_a_real_one_of_its_game_or_a_deliberately_unlisted_path():
    for realm in ("pc", "poe2"):
        known = catalogue_index(game_of_realm(realm)).by_path
        items = catalogue(realm)
        assert [i.path for i in items if i.path not in known] == list(UNLISTED[realm])
        # the whole catalogue of the game can trade, not a hand-picked few
        assert len(items) >= len(known)
        seen = _paths(realm, 6)
        assert set(UNLISTED[realm]) <= set(seen)
        assert {p for p in seen if p not in known} == set(UNLISTED[realm])


def test_poe2_trades_its_own_items_in_its_own_leagues():
    pc, poe2 = catalogue("pc"), catalogue("poe2")
    poe2_only = {i.path for i in poe2} - {i.path for i in pc}
    assert len(poe2_only) > 500  # soul cores, runes, PoE 2 essences, ...
    doc = json.loads(currency_exchange_document(HOUR, "poe2"))
    assert {m["league"] for m in doc["markets"]} == set(SimConfig().cx_leagues_poe2.split(","))
    assert any(p in poe2_only for m in doc["markets"] for p in m["market_pair"])


def test_items_the_exchange_does_not_list_trade_rarely():
    hours = 24
    present: Counter = Counter()  # in how many hours' documents a path trades
    for i in range(hours):
        doc = json.loads(currency_exchange_document(HOUR + timedelta(hours=i), "pc"))
        present.update({p for m in doc["markets"] for p in m["market_pair"]})
    rare = [i.path for i in catalogue("pc") if i.popularity == RARE_POPULARITY]
    common = [i.path for i in catalogue("pc") if i.popularity == 1.0 and i.trade_id is None]
    assert len(rare) > 100 and len(common) > 500
    # a typical unlisted item trades about once a day, a typical listed one most hours
    assert median(present[p] / hours for p in rare) < 0.1
    assert median(present[p] / hours for p in common) > 0.4
    assert any(present[p] == 0 for p in rare) and all(present[p] > 0 for p in common)
    assert present[CHAOS] == present[DIVINE] == hours


def test_priced_by_the_writer_every_market_has_a_catalogue_name(database_url, pool):
    from tradewatch.currency_exchange.client import PUBLISHED, HourAnswer, read_envelope
    from tradewatch.currency_exchange.raw_store import insert_hour, prepare
    from tradewatch.warehouse.exchange_prices import compute_exchange_prices

    for realm in ("pc", "poe2"):
        body = currency_exchange_document(HOUR, realm)
        next_id, markets = read_envelope(body)
        with pool.connection() as conn:
            insert_hour(conn, prepare(HourAnswer(
                realm=realm, hour=HOUR, kind=PUBLISHED, url="http://sim", status_code=200, body=body,
                fetched_at=HOUR + timedelta(hours=2), attempt=1, response_bytes=len(body), next_change_id=next_id,
                market_count=markets)))
        report = compute_exchange_prices(pool, realm, HOUR, HOUR + timedelta(hours=1), workers=1)
        assert report.new_catalogue_paths == len(UNLISTED[realm]) and report.uncatalogued_paths == set(UNLISTED[realm])
    with psycopg.connect(database_url) as conn:
        unnamed = conn.execute(
            "SELECT count(*) FROM analytics.exchange_prices WHERE item_name LIKE 'Metadata/%%'").fetchone()[0]
        assert unnamed == 0
        derived = dict(conn.execute("SELECT item_path, name FROM warehouse.exchange_catalogue WHERE NOT named"))
        assert derived == {p: derived_name(p) for realm in ("pc", "poe2") for p in UNLISTED[realm]}
        assert derived[UNLISTED["pc"][0]] == "Currency Probe Unlisted 1"
        leagues = {r[0] for r in conn.execute("SELECT DISTINCT league FROM warehouse.exchange_prices")}
        assert {"Settlers", "Standard", "Runes of Aldur"} <= leagues
