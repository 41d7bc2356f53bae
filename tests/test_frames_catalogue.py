"""tradewatch.frames takes any catalogue item by id, metadata path or name (read as the reader role
from a real PostgreSQL) and names items from the catalogue; unknown items get "did you mean"."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from pydantic import SecretStr

from helpers.databases import insert_exchange_price, with_user
from tradewatch import frames
from tradewatch.currency_exchange.catalogue import UnknownItem, resolve_item
from tradewatch.warehouse.roles import READER_ROLE, apply_reader_password
from tradewatch.watchlist import load_watchlist

START = datetime(2026, 3, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
EXALTED = "Metadata/Items/Currency/CurrencyAddModToRare"
UNLISTED = "Metadata/Items/Currency/CurrencyProbeUnlisted1"


@pytest.fixture
def reader(database_url):
    with psycopg.connect(database_url) as conn:
        for i in range(3):
            insert_exchange_price(conn, "Standard", START + i * HOUR, "exalted", EXALTED, "chaos", 10.0 + i, 5)
            insert_exchange_price(conn, "Standard", START + i * HOUR, UNLISTED, UNLISTED, "chaos", 1.0, 2)
        conn.execute("INSERT INTO warehouse.exchange_catalogue (game, item_key, item_path, id, name, named) "
                     "SELECT 'poe1', item_key, item_path, item_path, 'Currency Probe Unlisted 1', false "
                     "FROM warehouse.exchange_items WHERE item_path = %s", (UNLISTED,))
    apply_reader_password(database_url, SecretStr("reader-pw"))
    return with_user(database_url, READER_ROLE, "reader-pw")


@pytest.mark.parametrize("given", ["exalted", EXALTED, "Exalted Orb", "EXALTED ORB"])
def test_exchange_prices_of_an_item_given_by_id_path_or_name(reader, given):
    frame = frames.exchange_prices(given, from_=START, to=START + 3 * HOUR, url=reader, watchlist=load_watchlist())
    assert list(frame["vwap_price"]) == [10.0, 11.0, 12.0]
    assert set(frame["item_id"]) == {"exalted"} and set(frame["item_name"]) == {"Exalted Orb"}


def test_every_traded_item_is_named_never_by_its_path(reader):
    frame = frames.exchange_prices(from_=START, to=START + 3 * HOUR, url=reader, watchlist=load_watchlist())
    names = dict(zip(frame["item_id"], frame["item_name"]))
    assert names == {"exalted": "Exalted Orb", UNLISTED: "Currency Probe Unlisted 1"}
    probe = frames.exchange_prices(UNLISTED, from_=START,
                                   to=START + 3 * HOUR, url=reader, watchlist=load_watchlist())
    assert len(probe) == 3


def test_an_unknown_item_raises_with_did_you_mean(reader):
    with pytest.raises(UnknownItem, match="did you mean 'Exalted Orb'"):
        frames.exchange_prices("Exalted Orbb", url=reader, watchlist=load_watchlist())
    with pytest.raises(UnknownItem, match="did you mean"):
        frames.prices("Deafening Essence of Gred", url=reader, watchlist=load_watchlist())


def test_book_prices_take_a_watched_items_name_and_refuse_an_unwatched_one(reader):
    frame = frames.prices("Deafening Essence of Greed", from_=START, to=START + 3 * HOUR, url=reader,
                          watchlist=load_watchlist())
    assert frame.empty and list(frame.columns)[:2] == ["item_id", "open"]
    with pytest.raises(ValueError, match="'Exalted Orb' is not a watched item"):
        frames.prices("Exalted Orb", url=reader, watchlist=load_watchlist())
    assert resolve_item("poe1", "Deafening Essence of Greed").trade_id == "deafening-essence-of-greed"
