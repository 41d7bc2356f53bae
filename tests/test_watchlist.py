"""The watchlist: the documented default, and a clear error for every kind of mistake."""

import pytest

from tradewatch.bulk_exchange.catalog import item_name
from tradewatch.market.strategy import DEAFENING_ESSENCES
from tradewatch.errors import ConfigError
from tradewatch.watchlist import DEFAULT_WATCHLIST, load_watchlist


def write(tmp_path, text):
    path = tmp_path / "watchlist.yaml"
    path.write_text(text)
    return path


def test_default_watchlist_is_the_old_setup_21_items_paid_in_divine():
    wl = load_watchlist()
    assert wl.source == DEFAULT_WATCHLIST
    assert wl.game == "poe1" and wl.league == "Standard" and wl.paid_with == "divine"
    assert wl.items == (*DEAFENING_ESSENCES, "primal-lifeforce")
    assert len(wl.items) == 21
    (strategy,) = wl.strategies
    assert strategy.family == DEAFENING_ESSENCES
    assert (strategy.reroll_cost_item, strategy.reroll_cost_amount, strategy.top_k, strategy.buy_quantity) == (
        "primal-lifeforce", 30.0, 5, 2000)


def test_league_override_wins():
    assert load_watchlist(league_override="Settlers").league == "Settlers"


def test_item_names_come_from_the_static_data():
    assert item_name("deafening-essence-of-greed") == "Deafening Essence of Greed"
    assert item_name("primal-lifeforce") == "Primal Crystallised Lifeforce"


@pytest.mark.parametrize("text, fragment", [
    ("items: [deafening-essence-of-greed, deafening-essence-of-gred]", "items[1]: unknown item id 'deafening-essence-of-gred'"),
    ("items: [deafening-essence-of-greed, deafening-essence-of-greed]", "items[1]: 'deafening-essence-of-greed' is listed twice"),
    ("items: []", "items: must be a non-empty list"),
    ("items: [deafening-essence-of-greed]\ngame: poe3", "game: 'poe3' must be poe1 or poe2"),
    ("items: [deafening-essence-of-greed]\npaid_with: gold-coins", "paid_with: unknown item id"),
    ("items: [divine]", "is the currency you pay with"),
    ("items: [Deafening Essence]", "is not a trade item id"),
    ("items: [deafening-essence-of-greed]\ntarget_quantity: 0", "target_quantity: 0 must be a whole number"),
    ("items: [deafening-essence-of-greed]\nleauge: Standard", "unknown key(s) ['leauge']"),
    ("- just\n- a list", "top level: must be a mapping"),
    ("items: [a, b\n", "is not valid YAML (line"),
    ("items: [deafening-essence-of-greed, deafening-essence-of-woe, primal-lifeforce]\n"
     "strategies: [{name: s1, family: [deafening-essence-of-greed, deafening-essence-of-woe], top_k: 2}]",
     "strategy 's1'.top_k: 2 must be smaller than the family size (2)"),
    ("items: [deafening-essence-of-greed, primal-lifeforce]\nstrategies: [{name: s1}]",
     "strategy 's1'.family: ['deafening-essence-of-contempt'"),
    ("items: [deafening-essence-of-greed, deafening-essence-of-woe, deafening-essence-of-fear]\n"
     "strategies: [{name: s1, family: [deafening-essence-of-greed, deafening-essence-of-woe, deafening-essence-of-fear], top_k: 1}]",
     "strategy 's1'.reroll_cost_item: 'primal-lifeforce' is not in `items`"),
    ("items: [deafening-essence-of-greed, deafening-essence-of-woe, deafening-essence-of-fear, primal-lifeforce]\n"
     "strategies: [{name: s1, family: [deafening-essence-of-greed, deafening-essence-of-woe, deafening-essence-of-fear], "
     "top_k: 1, weights: {deafening-essence-of-rage: 2}}]",
     "'deafening-essence-of-rage' is not a member of the family"),
    ("items: [deafening-essence-of-greed, deafening-essence-of-woe, deafening-essence-of-fear, primal-lifeforce]\n"
     "strategies: [{name: s1, family: [deafening-essence-of-greed, deafening-essence-of-woe, deafening-essence-of-fear], "
     "top_k: 1, reroll_cost_amount: -30}]", "reroll_cost_amount: -30 must be a positive number"),
    ("items: [deafening-essence-of-greed, deafening-essence-of-woe, deafening-essence-of-fear, primal-lifeforce]\n"
     "strategies: [{name: s1, family: [deafening-essence-of-greed, deafening-essence-of-woe, deafening-essence-of-fear], top_k: 1},"
     " {name: s1, family: [deafening-essence-of-greed, deafening-essence-of-woe, deafening-essence-of-fear], top_k: 1}]",
     "the name(s) ['s1'] are used twice"),
    ("items: [deafening-essence-of-greed, primal-lifeforce]\nstrategies: [{name: s1, famly: deafening}]",
     "unknown key(s) ['famly']"),
])
def test_every_mistake_is_named_with_the_file_and_entry(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_watchlist(path)
    message = str(info.value)
    assert str(path) in message
    assert fragment in message


def test_a_missing_file_says_which_setting_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="TRADEWATCH_WATCHLIST"):
        load_watchlist(tmp_path / "nope.yaml")


def test_poe2_accepts_ids_without_a_catalogue(tmp_path):
    wl = load_watchlist(write(tmp_path, "game: poe2\npaid_with: exalted\nitems: [some-poe2-rune]"))
    assert wl.items == ("some-poe2-rune",)
