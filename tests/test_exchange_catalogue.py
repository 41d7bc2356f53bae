"""The exchange catalogue: the packaged files, derived names, resolving ids/paths/names with
"did you mean", and its warehouse table (migration 0016, the idempotent loader, the writer)."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import psycopg
import pytest

from tradewatch.currency_exchange.catalog import item_storage_key
from tradewatch.currency_exchange.catalogue import (
    AmbiguousItem, CatalogueIndex, UnknownItem, derived_name, game_of_realm, load_catalogue, resolve_item,
    resolve_items, unlisted_item)
from tradewatch.errors import TradeWatchError
from tradewatch.warehouse.exchange_catalogue import add_feed_paths, find_items, read_catalogue, sync_catalogue
from tradewatch.warehouse.migrate import upgrade

ROOT = Path(__file__).resolve().parents[1]
EXALTED = "Metadata/Items/Currency/CurrencyAddModToRare"
CHAOS = "Metadata/Items/Currency/CurrencyRerollRare"


# --- the packaged catalogue -------------------------------------------------------------------

def test_the_packaged_catalogue_holds_every_item_of_both_games():
    poe1, poe2 = load_catalogue("poe1"), load_catalogue("poe2")
    assert (len(poe1), len(poe2)) == (1539, 1178)
    for items in (poe1, poe2):
        assert len({i.id for i in items}) == len(items)  # ids are unique per game
        assert all(i.named and i.name and not i.name.startswith("Metadata/") for i in items)
        assert all(i.id == (i.trade_id or i.metadata_path) for i in items)
    exalted = next(i for i in poe1 if i.metadata_path == EXALTED)
    assert (exalted.id, exalted.name, exalted.category) == ("exalted", "Exalted Orb", "Currency")
    assert exalted.image.startswith("/gen/image/") and exalted.gold_fee > 0


def test_the_packaged_files_are_what_the_build_script_makes_of_the_vendored_reference():
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_catalogue.py"), "--check"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_the_build_is_deterministic_and_keeps_only_the_served_fields():
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import build_catalogue
    finally:
        sys.path.pop(0)
    first, second = build_catalogue.build("poe2"), build_catalogue.build("poe2")
    assert first == second
    reference = {"game": "poe2", "built": "x", "items": [
        {"metadata_path": "Metadata/B", "name": "B", "trade_id": None, "category": None, "gold_fee": None,
         "image": None, "note": "dropped"},
        {"metadata_path": "Metadata/A", "name": "A", "trade_id": "a", "category": "Currency", "gold_fee": 5,
         "image": "/a.png", "item_class": "dropped"}]}
    text = build_catalogue.compact(reference)
    assert text.index("Metadata/A") < text.index("Metadata/B") and "dropped" not in text
    with pytest.raises(SystemExit, match="occurs twice"):
        build_catalogue.compact({**reference, "items": reference["items"] * 2})


# --- pure rules --------------------------------------------------------------------------------

@pytest.mark.parametrize("realm, game", [("pc", "poe1"), ("xbox", "poe1"), ("sony", "poe1"), ("poe2", "poe2")])
def test_a_realm_belongs_to_its_game(realm, game):
    assert game_of_realm(realm) == game


@pytest.mark.parametrize("path, name", [
    ("Metadata/Items/Currency/CurrencyProbeUnlisted1", "Currency Probe Unlisted 1"),
    ("Metadata/Items/Currency/DNTInternalItem", "DNT Internal Item"),
    ("Metadata/Items/MapFragments/Primordial/QuestBlight12Boss", "Quest Blight 12 Boss"),
    ("Metadata/Items/Currency/Currency_rare_orb", "Currency rare orb"),
    ("Metadata/Items/Currency/CurrencyX/", "Currency X"),
    ("Metadata/", "Metadata"),
])
def test_a_path_the_catalogue_lacks_gets_a_readable_name(path, name):
    assert derived_name(path) == name
    assert "/" not in derived_name(path)


def test_an_unlisted_path_is_its_own_id_and_not_named():
    item = unlisted_item("poe1", "Metadata/Items/Currency/CurrencyProbeUnlisted1")
    assert (item.id, item.name, item.named) == (item.metadata_path, "Currency Probe Unlisted 1", False)
    assert item.item_key == item_storage_key(item.metadata_path)


# --- resolving what a user typed ---------------------------------------------------------------

@pytest.mark.parametrize("text", ["exalted", EXALTED, "Exalted Orb", "exalted orb", "  EXALTED   ORB "])
def test_an_item_is_found_by_id_path_or_name(text):
    assert resolve_item("poe1", text).metadata_path == EXALTED


def test_an_item_without_a_trade_id_is_found_by_its_path_and_its_name():
    item = next(i for i in load_catalogue("poe1") if i.trade_id is None and i.named
                and sum(j.name == i.name for j in load_catalogue("poe1")) == 1)
    assert resolve_item("poe1", item.metadata_path) == item
    assert resolve_item("poe1", item.name.upper()) == item
    assert item.id == item.metadata_path


def test_each_game_resolves_in_its_own_catalogue():
    poe2 = resolve_item("poe2", "Exalted Orb")
    assert poe2.game == "poe2" and poe2 in load_catalogue("poe2")
    with pytest.raises(UnknownItem, match="poe2"):
        resolve_item("poe2", "deafening-essence-of-greed")  # a PoE 1 id


def test_an_unknown_item_says_what_was_given_and_what_was_meant():
    with pytest.raises(UnknownItem) as caught:
        resolve_item("poe1", "Exalted Orbb")
    message = str(caught.value)
    assert "'Exalted Orbb'" in message and "did you mean" in message and "'Exalted Orb'" in message
    assert caught.value.suggestions[0] == "Exalted Orb"
    assert isinstance(caught.value, TradeWatchError)
    with pytest.raises(UnknownItem, match="did you mean.*'divine'"):
        resolve_item("poe1", "divin")


def test_a_part_of_a_name_is_offered_when_nothing_is_close():
    with pytest.raises(UnknownItem) as caught:
        resolve_item("poe1", "Deafening Essence")
    assert caught.value.suggestions and all("Deafening Essence" in s for s in caught.value.suggestions)


def test_nonsense_gets_no_suggestion_but_still_a_clear_message():
    with pytest.raises(UnknownItem, match="no catalogue id, metadata path or item name") as caught:
        resolve_item("poe1", "zzzzqqqq")
    assert caught.value.suggestions == ()
    with pytest.raises(UnknownItem, match="empty"):
        resolve_item("poe1", "   ")
    with pytest.raises(UnknownItem, match="unknown game"):
        resolve_item("poe3", "chaos")


def test_a_name_several_items_share_asks_for_an_id():
    with pytest.raises(AmbiguousItem) as caught:
        resolve_item("poe1", "Sacrifice at Dawn")
    assert len(caught.value.suggestions) >= 2
    assert all(s.startswith("Metadata/") for s in caught.value.suggestions)
    assert resolve_item("poe1", caught.value.suggestions[0]).metadata_path == caught.value.suggestions[0]


def test_an_unlisted_path_resolves_only_when_asked_to():
    path = "Metadata/Items/Currency/CurrencyProbeUnlisted1"
    with pytest.raises(UnknownItem):
        resolve_item("poe1", path)
    assert resolve_item("poe1", path, unlisted_paths=True) == unlisted_item("poe1", path)
    with pytest.raises(UnknownItem):
        resolve_item("poe1", "Metadata/has a space", unlisted_paths=True)


def test_resolving_against_given_rows_and_deduplicating():
    extra = unlisted_item("poe1", "Metadata/Items/Currency/CurrencyProbeUnlisted1")
    index = CatalogueIndex("poe1", [*load_catalogue("poe1"), extra])
    assert resolve_item("poe1", "currency probe unlisted 1", index) == extra
    assert [i.id for i in resolve_items("poe1", ["chaos", "Chaos Orb", CHAOS, "divine"])] == ["chaos", "divine"]


# --- the warehouse table -----------------------------------------------------------------------

def _count(url: str, sql: str, params=()) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchone()[0]


def test_a_fresh_warehouse_holds_the_whole_catalogue(database_url):
    assert _count(database_url, "SELECT count(*) FROM warehouse.exchange_catalogue WHERE game = 'poe1'") == 1539
    assert _count(database_url, "SELECT count(*) FROM warehouse.exchange_catalogue WHERE game = 'poe2'") == 1178
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT id, name, category, trade_id, named, item_key, image IS NOT NULL "
                           "FROM warehouse.exchange_catalogue WHERE game = 'poe1' AND item_path = %s",
                           (EXALTED,)).fetchone()
        assert row == ("exalted", "Exalted Orb", "Currency", "exalted", True, item_storage_key(EXALTED), True)
        assert conn.execute("SELECT warehouse.realm_game('poe2'), warehouse.realm_game('pc'), "
                            "warehouse.realm_game('sony')").fetchone() == ("poe2", "poe1", "poe1")
        assert conn.execute("SELECT count(*) FROM analytics.exchange_catalogue").fetchone()[0] == 1539 + 1178


def test_the_loader_is_idempotent_and_repairs_what_changed(database_url):
    with psycopg.connect(database_url) as conn:
        assert sync_catalogue(conn) == 0
        conn.execute("UPDATE warehouse.exchange_catalogue SET name = 'wrong', category = NULL "
                     "WHERE game = 'poe1' AND item_path = %s", (EXALTED,))
        conn.execute("DELETE FROM warehouse.exchange_catalogue WHERE game = 'poe2' AND item_path = %s", (CHAOS,))
        assert sync_catalogue(conn) == 2
        assert sync_catalogue(conn) == 0
        assert conn.execute("SELECT name, category FROM warehouse.exchange_catalogue WHERE game = 'poe1' "
                            "AND item_path = %s", (EXALTED,)).fetchone() == ("Exalted Orb", "Currency")
    upgrade(database_url)  # `tradewatch db upgrade` on a current warehouse changes nothing
    assert _count(database_url, "SELECT count(*) FROM warehouse.exchange_catalogue") == 1539 + 1178


def test_an_id_that_moves_to_another_path_and_a_dropped_path_are_loaded_without_conflict(database_url):
    with psycopg.connect(database_url) as conn:
        # as if an older catalogue had given 'exalted' to another path and named a path it dropped since
        conn.execute("UPDATE warehouse.exchange_catalogue SET id = 'exalted-old' WHERE game = 'poe1' AND item_path = %s",
                     (EXALTED,))
        conn.execute("UPDATE warehouse.exchange_catalogue SET id = 'exalted' WHERE game = 'poe1' AND item_path = %s",
                     (CHAOS,))
        gone = "Metadata/Items/Currency/CurrencyRemovedLastLeague"
        conn.execute("INSERT INTO warehouse.exchange_catalogue (game, item_key, item_path, id, name, named) "
                     "VALUES ('poe1', %s, %s, 'removed-orb', 'Removed Orb', true)", (item_storage_key(gone), gone))
        sync_catalogue(conn)
        ids = dict(conn.execute("SELECT item_path, id FROM warehouse.exchange_catalogue WHERE game = 'poe1' "
                                "AND item_path = ANY(%s)", ([EXALTED, CHAOS, gone],)).fetchall())
        assert ids == {EXALTED: "exalted", CHAOS: "chaos", gone: gone}
        assert conn.execute("SELECT name, named FROM warehouse.exchange_catalogue WHERE item_path = %s",
                            (gone,)).fetchone() == ("Currency Removed Last League", False)


def test_paths_seen_in_the_feed_get_a_row_with_a_derived_name(database_url):
    path = "Metadata/Items/Currency/CurrencyProbeUnlisted1"
    with psycopg.connect(database_url) as conn:
        assert add_feed_paths(conn, "poe2", [path, CHAOS, path]) == 1  # chaos has its row already
        assert add_feed_paths(conn, "poe2", [path]) == 0
        (item,) = find_items(conn, "poe2", ["currency probe unlisted 1"])
        assert (item.id, item.name, item.named, item.game) == (path, "Currency Probe Unlisted 1", False, "poe2")
        assert find_items(conn, "poe1", [path]) == []
        sync_catalogue(conn)  # the loader keeps what the feed added
        assert path in {i.metadata_path for i in read_catalogue(conn, "poe2")}


def test_the_api_role_may_read_the_catalogue(database_url):
    with psycopg.connect(database_url) as conn:
        granted = conn.execute("SELECT has_table_privilege('tradewatch_api', 'warehouse.exchange_catalogue', "
                               "'SELECT'), has_table_privilege('tradewatch_reader', 'analytics.exchange_catalogue', "
                               "'SELECT'), has_table_privilege('tradewatch_api', 'warehouse.exchange_catalogue', "
                               "'INSERT')").fetchone()
    assert granted == (True, True, False)


def test_the_migration_goes_down_and_up_again(empty_database_url):
    from alembic import command

    from tradewatch.warehouse.migrate import _config

    upgrade(empty_database_url)
    command.downgrade(_config(empty_database_url), "0016-1")  # below the catalogue, whatever comes after it
    assert _count(empty_database_url, "SELECT count(*) FROM pg_tables WHERE tablename = 'exchange_catalogue'") == 0
    upgrade(empty_database_url)
    assert _count(empty_database_url, "SELECT count(*) FROM warehouse.exchange_catalogue") == 1539 + 1178


def test_exchange_prices_of_an_unlisted_path_are_named_from_the_path(database_url):
    """The writer: a window with a path the catalogue lacks adds its derived row for the realm's game."""
    import zlib

    import orjson

    from tradewatch.warehouse.db import get_pool
    from tradewatch.warehouse.exchange_prices import compute_exchange_prices

    hour = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)
    path = "Metadata/Items/Currency/CurrencyProbeUnlisted1"
    market = {"league": "Keepers", "market_id": f"{path}|{CHAOS}", "market_pair": [path, CHAOS],
              "volume_traded": {path: 10, CHAOS: 40}, "lowest_stock": {path: 1, CHAOS: 1},
              "highest_stock": {path: 5, CHAOS: 50}, "lowest_ratio": {path: 1, CHAOS: 3},
              "highest_ratio": {path: 1, CHAOS: 5}}
    body = orjson.dumps({"next_change_id": int(hour.timestamp()) + 3600, "markets": [market]})
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO warehouse.raw_currency_exchange (realm, observed_hour, request_url, status_code, headers, "
            "fetched_at, duration_ms, attempt, response_bytes, stored_bytes, next_change_id, market_count, "
            "compression, body_sha256, body) VALUES ('poe2', %s, 'http://x', 200, '{}', now(), 1, 1, %s, %s, %s, 1, "
            "'zlib', '\\x00', %s)",
            (hour, len(body), len(body), int(hour.timestamp()) + 3600, zlib.compress(body)))
    report = compute_exchange_prices(get_pool(database_url), "poe2", hour, hour.replace(hour=11), workers=1)
    assert report.rows >= 1 and report.new_catalogue_paths == 1
    with psycopg.connect(database_url) as conn:
        names = conn.execute("SELECT DISTINCT item_name FROM analytics.exchange_prices WHERE realm = 'poe2'").fetchall()
        assert names == [("Currency Probe Unlisted 1",)]
        assert conn.execute("SELECT named FROM warehouse.exchange_catalogue WHERE game = 'poe2' AND item_path = %s",
                            (path,)).fetchone() == (False,)
