"""Executed prices from real Currency Exchange markets, checked against values computed by hand.

The samples are real payloads (tests/data/currency_exchange/, copied from
../shared/currency_exchange/samples/). chaos = CurrencyRerollRare, divine = CurrencyModValues.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tradewatch.currency_exchange.catalog import item_key, metadata_path
from tradewatch.market.exchange import CHAOS_PATH, DIVINE_PATH, MalformedMarket, market_prices

SAMPLES = Path(__file__).parent / "data" / "currency_exchange"


def _markets(name: str) -> list[dict]:
    return json.loads((SAMPLES / name).read_text())["markets"]


def _market(name: str, *suffixes: str) -> dict:
    (market,) = [m for m in _markets(name) if [p.rsplit("/", 1)[-1] for p in m["market_pair"]] == list(suffixes)]
    return market


def _rows(market: dict) -> dict[tuple[str, str], object]:
    return {(r.item_path.rsplit("/", 1)[-1], r.quote_currency): r for r in market_prices(market)}


def test_item_first_pair_lowest_ratio_is_the_highest_price():
    # Cortex|chaos (Standard): 4 Cortex for 245 chaos; lowest 1:65, highest 1:60 (cortex per chaos)
    (row,) = market_prices(_markets("pc_standard_1790474400_cortex_csharp_fixture.json")[0])
    assert row.quote_currency == "chaos" and row.item_path.endswith("CurrencyUberBossKeyCortex")
    assert row.vwap_price == pytest.approx(245 / 4)  # 61.25
    assert row.min_price == pytest.approx(60.0)  # from highest_ratio 1:60
    assert row.max_price == pytest.approx(65.0)  # from lowest_ratio 1:65
    assert (row.volume, row.quote_volume) == (4, 245)
    assert (row.item_lowest_stock, row.item_highest_stock, row.quote_lowest_stock, row.quote_highest_stock) == (
        1311, 1311, 4060, 5260)


def test_chaos_divine_market_gives_divine_in_chaos_and_chaos_in_divine():
    # Allflame chaos|divine: 13,001,051 chaos for 65,361 divine; lowest 196:1, highest 201:1 (chaos per divine)
    rows = _rows(_market("pc_allflame_1787119200_profitofexile.json", "CurrencyRerollRare", "CurrencyModValues"))
    divine = rows[("CurrencyModValues", "chaos")]  # quote written first: the ratio's order is the price's
    assert divine.vwap_price == pytest.approx(13001051 / 65361)  # 198.911…
    assert (divine.min_price, divine.max_price) == (pytest.approx(196.0), pytest.approx(201.0))
    assert (divine.volume, divine.quote_volume) == (65361, 13001051)
    chaos = rows[("CurrencyRerollRare", "divine")]  # item written first: the extremes swap
    assert chaos.vwap_price == pytest.approx(65361 / 13001051)
    assert (chaos.min_price, chaos.max_price) == (pytest.approx(1 / 201), pytest.approx(1 / 196))


def test_reduced_fraction_ratios_priced_in_divine():
    # Allflame Astrolabe|divine: 215 for 69 divine; lowest 2:1, highest 7:2 (astrolabes per divine)
    row = _rows(_market("pc_allflame_1787119200_profitofexile.json", "AstrolabeGeneric", "CurrencyModValues"))[
        ("AstrolabeGeneric", "divine")]
    assert row.vwap_price == pytest.approx(69 / 215)
    assert row.min_price == pytest.approx(2 / 7) and row.max_price == pytest.approx(1 / 2)
    assert row.min_price <= row.vwap_price <= row.max_price
    # Vaal jewellery orb|divine: 1,254 for 82; lowest 14:1, highest 43:2
    row = _rows(_market("pc_allflame_1787119200_profitofexile.json", "CurrencyJewelleryQualityVaal",
                        "CurrencyModValues"))[("CurrencyJewelleryQualityVaal", "divine")]
    assert (row.vwap_price, row.min_price, row.max_price) == (
        pytest.approx(82 / 1254), pytest.approx(2 / 43), pytest.approx(1 / 14))


def test_every_traded_market_of_the_sample_keeps_vwap_between_its_extremes():
    rows = [r for m in _markets("pc_allflame_1787119200_profitofexile.json") for r in market_prices(m)]
    assert len(rows) == 26  # 25 markets, every one touches chaos or divine; chaos|divine gives two rows
    traded = [r for r in rows if r.vwap_price is not None]
    assert len(traded) == 24
    for r in traded:
        assert r.min_price <= r.vwap_price * (1 + 1e-12) and r.vwap_price <= r.max_price * (1 + 1e-12), r


def test_a_market_that_did_not_trade_has_null_prices_never_zero_or_infinity():
    row = _rows(_market("pc_allflame_1787119200_profitofexile.json", "CurrencyHellscapeUpgradeToUnique",
                        "CurrencyModValues"))[("CurrencyHellscapeUpgradeToUnique", "divine")]
    assert (row.vwap_price, row.min_price, row.max_price, row.volume, row.quote_volume) == (None, None, None, 0, 0)
    card = _rows(_market("pc_allflame_1787119200_profitofexile.json", "DivinationCardThunderousSkies",
                         "CurrencyRerollRare"))[("DivinationCardThunderousSkies", "chaos")]
    assert card.vwap_price is None and card.item_lowest_stock == 4444  # stock is kept though


def test_markets_without_chaos_or_divine_give_no_rows_and_float_values_are_accepted():
    settlers = _markets("pc_settlers_1722027600_pathofflipper_fragment.json")
    chromatic_alteration = [m for m in settlers if CHAOS_PATH not in m["market_pair"]
                            and DIVINE_PATH not in m["market_pair"]]
    assert chromatic_alteration and all(market_prices(m) == [] for m in chromatic_alteration)
    market = json.loads(json.dumps(_markets("pc_standard_1790474400_cortex_csharp_fixture.json")[0]))
    market["volume_traded"] = {k: float(v) for k, v in market["volume_traded"].items()}
    assert market_prices(market)[0].vwap_price == pytest.approx(61.25)


def test_a_malformed_market_is_reported_as_such():
    with pytest.raises(MalformedMarket):
        market_prices({"league": "Standard", "market_pair": {"a": 1}})


def test_catalogue_maps_watched_paths_and_keeps_unknown_ones_under_their_path():
    assert item_key(CHAOS_PATH) == ("chaos", True)
    assert item_key(DIVINE_PATH) == ("divine", True)
    assert item_key("Metadata/Items/Currency/CurrencyEssenceContempt7") == ("deafening-essence-of-contempt", True)
    assert item_key("Metadata/Items/Currency/HarvestSeedBoss") == ("sacred-lifeforce", True)
    unknown = "Metadata/Items/DivinationCards/DivinationCardTheSun"
    assert item_key(unknown) == (unknown, False)
    assert metadata_path("deafening-essence-of-greed") == "Metadata/Items/Currency/CurrencyEssenceGreed7"
