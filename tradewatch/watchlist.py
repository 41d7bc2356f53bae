"""The watchlist: which items are fetched every hour, in which league, paid with what,
which reroll strategies are evaluated, and which alert rules are watched.

It is a YAML file (default `tradewatch/data/watchlist.default.yaml`, or the file named by
TRADEWATCH_WATCHLIST). Every mistake is reported at load time with the file and the entry.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from tradewatch.bulk_exchange.catalog import known_ids
from tradewatch.market.currency import CURRENCIES
from tradewatch.market.strategy import DEAFENING_ESSENCES
from tradewatch.errors import ConfigError
from tradewatch.settings import Settings, is_league_name
from tradewatch.market.strategy import StrategySpec

DEFAULT_WATCHLIST = Path(__file__).parent / "data" / "watchlist.default.yaml"
FAMILIES = {"deafening": DEAFENING_ESSENCES}
MAX_ITEMS = 200  # one request per item per hour; more would not fit the real rate limits
MAX_FILE_BYTES = 1_000_000  # the default is 2 kB; a bigger file is a mistake (and slow to parse)
MAX_WHOLE = 1_000_000  # quantities, units: beyond this the warehouse's integer columns overflow
MIN_AMOUNT, MAX_AMOUNT = 1e-6, 1e6  # reroll costs and weights: beyond these the strategy math over/underflows
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_TOP_KEYS = {"game", "league", "paid_with", "target_quantity", "items", "strategies", "alerts"}
_STRATEGY_KEYS = {
    "name", "family", "reroll_cost_item", "reroll_cost_amount", "units_per_reroll",
    "buy_quantity", "top_k", "weights",
}


class AlertRule(BaseModel):
    """One alert rule of the watchlist, checked by pydantic (shape) and `_alert` (against the rest).

    A book rule (`item`, `below` or `above`) compares the hour's robust minimum price of the
    order book (`source: book`, the default) or the executed vwap of the Currency Exchange
    (`source: exchange`), in `currency` (default: the watchlist's `paid_with`). A strategy
    rule (`strategy`, `profit_per_unit_above`) compares the expected profit per unit of the
    strategy under `policy`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str
    item: str | None = None
    strategy: str | None = None
    policy: Literal["top_k", "optimal"] = "optimal"
    below: float | None = None
    above: float | None = None
    profit_per_unit_above: float | None = None
    currency: Literal["chaos", "divine"] | None = None
    source: Literal["book", "exchange"] = "book"

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        if not _ID_PATTERN.match(name):
            raise ValueError(f"{name!r} must be a short id such as cheap-greed")
        return name

    @field_validator("below", "above", "profit_per_unit_above", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        # strict mode refuses an int for a float; YAML writes `3` for three
        if isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _one_condition(self) -> "AlertRule":
        if (self.item is None) == (self.strategy is None):
            raise ValueError("give either `item` (a price rule) or `strategy` (a profit rule), not both or neither")
        if self.item is not None:
            if self.below is not None and self.above is not None:
                raise ValueError("give `below` or `above`, not both (make two rules for a band)")
            if self.below is None and self.above is None:
                raise ValueError("has no threshold: give `below: <price>` or `above: <price>`")
            if self.profit_per_unit_above is not None:
                raise ValueError("`profit_per_unit_above` is for strategy rules; use `below`/`above` for an item")
        else:
            if self.profit_per_unit_above is None:
                raise ValueError("has no threshold: a strategy rule needs `profit_per_unit_above: <amount>`")
            if self.below is not None or self.above is not None or self.source != "book":
                raise ValueError("a strategy rule takes `profit_per_unit_above` (and `policy`), "
                                 "not `below`/`above`/`source`")
        return self

    @property
    def comparison(self) -> Literal["below", "above"]:
        return "below" if self.below is not None else "above"

    @property
    def threshold(self) -> float:
        for value in (self.below, self.above, self.profit_per_unit_above):
            if value is not None:
                return value
        raise AssertionError("a checked rule has a threshold")

    @property
    def subject(self) -> str:
        """What the rule watches, for messages: the item or the strategy and its policy."""
        return self.item if self.item is not None else f"{self.strategy} ({self.policy})"


@dataclass(frozen=True)
class Watchlist:
    game: str
    league: str
    paid_with: str
    target_quantity: int
    items: tuple[str, ...]
    strategies: tuple[StrategySpec, ...]
    source: Path
    alerts: tuple[AlertRule, ...] = ()

    def alert_currency(self, rule: AlertRule) -> str:
        """The currency of a rule's threshold: its own, else what the watchlist pays with."""
        return rule.currency or self.paid_with


class _Checker:
    """Collects the file name into every message so the user knows where to look."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"watchlist {self.path}: {where}: {problem}")

    def item_id(self, value: Any, where: str, game: str) -> str:
        if not isinstance(value, str) or not _ID_PATTERN.match(value):
            raise self.fail(where, f"{value!r} is not a trade item id (lower-case words joined by '-', "
                                   "e.g. deafening-essence-of-greed)")
        known = known_ids(game)
        if known is not None and value not in known:
            raise self.fail(where, f"unknown item id {value!r}: the trade site has no such item "
                                   "(see its static data for the ids, e.g. deafening-essence-of-greed)")
        return value

    def positive_int(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WHOLE:
            raise self.fail(where, f"{value!r} must be a whole number of at least 1 (and at most {MAX_WHOLE})")
        return value

    def positive_number(self, value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not MIN_AMOUNT <= value <= MAX_AMOUNT:
            raise self.fail(where, f"{value!r} must be a positive number (from {MIN_AMOUNT:g} to {MAX_AMOUNT:g})")
        return float(value)


def _strategy(check: _Checker, raw: Any, index: int, game: str, items: tuple[str, ...]) -> StrategySpec:
    where = f"strategies[{index}]"
    if not isinstance(raw, dict):
        raise check.fail(where, "each strategy must be a mapping with name, family, reroll_cost_item, ...")
    unknown = set(raw) - _STRATEGY_KEYS
    if unknown:
        raise check.fail(where, f"unknown key(s) {sorted(unknown, key=str)}; allowed: {sorted(_STRATEGY_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not _ID_PATTERN.match(name):
        raise check.fail(where + ".name", f"{name!r} must be a short id such as deafening-top5")
    where = f"strategy {name!r}"
    family_raw = raw.get("family", "deafening")
    if isinstance(family_raw, str):
        if family_raw not in FAMILIES:
            raise check.fail(where + ".family", f"unknown family {family_raw!r}; use one of "
                                                f"{sorted(FAMILIES)} or a list of item ids")
        family = FAMILIES[family_raw]
    elif isinstance(family_raw, list):
        family = tuple(check.item_id(v, f"{where}.family[{i}]", game) for i, v in enumerate(family_raw))
    else:
        raise check.fail(where + ".family", "must be a family name or a list of item ids")
    if len(set(family)) != len(family):
        raise check.fail(where + ".family", "lists an item twice")
    if len(family) < 2:
        raise check.fail(where + ".family", "needs at least two items to reroll between")
    not_watched = [i for i in family if i not in items]
    if not_watched:
        raise check.fail(where + ".family", f"{not_watched} are not in `items`; add them so their prices are fetched")
    cost_item = check.item_id(raw.get("reroll_cost_item", "primal-lifeforce"), where + ".reroll_cost_item", game)
    if cost_item not in items:
        raise check.fail(where + ".reroll_cost_item", f"{cost_item!r} is not in `items`; add it so its price is fetched")
    top_k = check.positive_int(raw.get("top_k", 5), where + ".top_k")
    if top_k >= len(family):
        raise check.fail(where + ".top_k", f"{top_k} must be smaller than the family size ({len(family)})")
    weights_raw = raw.get("weights")
    weights: dict[str, float] | None = None
    if weights_raw is not None:
        if not isinstance(weights_raw, dict) or not weights_raw:
            raise check.fail(where + ".weights", "must be a mapping of item id to a positive weight")
        weights = {}
        for key, value in weights_raw.items():
            if key not in family:
                raise check.fail(where + ".weights", f"{key!r} is not a member of the family")
            weights[key] = check.positive_number(value, f"{where}.weights[{key}]")
    try:
        return StrategySpec(
            name=name, family=tuple(family), reroll_cost_item=cost_item,
            reroll_cost_amount=check.positive_number(raw.get("reroll_cost_amount", 30), where + ".reroll_cost_amount"),
            units_per_reroll=check.positive_int(raw.get("units_per_reroll", 1), where + ".units_per_reroll"),
            buy_quantity=check.positive_int(raw.get("buy_quantity", 2000), where + ".buy_quantity"),
            top_k=top_k, weights=weights,
        )
    except ValueError as exc:
        raise check.fail(where, str(exc)) from None


def _alert(check: _Checker, raw: Any, index: int, game: str, items: tuple[str, ...],
           strategies: tuple[StrategySpec, ...], paid_with: str) -> AlertRule:
    name = raw.get("name") if isinstance(raw, dict) else None
    where = f"alerts[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")
    if not isinstance(raw, dict):
        raise check.fail(where, "each alert must be a mapping with name, item or strategy, and a threshold")
    try:
        rule = AlertRule.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        problem = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            problem = f"unknown key; allowed: {sorted(AlertRule.model_fields)}"
        raise check.fail(where + (f".{field}" if field else ""), problem) from None
    if rule.item is not None:
        check.item_id(rule.item, where + ".item", game)
        if rule.source == "book" and rule.item not in items:
            raise check.fail(where + ".item", f"{rule.item!r} is not in `items`: its book price is not fetched "
                                              "(add it, or use `source: exchange`)")
    elif rule.strategy not in {s.name for s in strategies}:
        raise check.fail(where + ".strategy", f"unknown strategy {rule.strategy!r}; configured: "
                                              f"{sorted(s.name for s in strategies)}")
    currency = rule.currency or paid_with
    if currency != paid_with and currency not in CURRENCIES:
        raise check.fail(where + ".currency", f"{currency!r} must be chaos or divine")
    if currency != paid_with and paid_with not in CURRENCIES:
        raise check.fail(where + ".currency", f"prices are paid in {paid_with!r}, which cannot be converted to "
                                              f"{currency}; leave `currency` out")
    return rule


class _StrictLoader(yaml.SafeLoader):
    """yaml.safe_load, except that a key given twice in one mapping is an error: PyYAML would
    silently keep the last (e.g. a second `items:` list would drop the first)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: set = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    typed = (type(key), key)  # 1 and True are equal in Python, not in YAML
                    duplicate = typed in seen
                    seen.add(typed)
                except TypeError:  # an unhashable key: the constructor reports it
                    continue
                if duplicate:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark, f"the key {key!r} is given twice",
                        key_node.start_mark)
        return super().construct_mapping(node, deep)


def parse_watchlist(data: Any, path: Path, league_override: str | None = None) -> Watchlist:
    check = _Checker(path)
    if not isinstance(data, dict):
        raise check.fail("top level", "must be a mapping with game, league, paid_with, items, strategies")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise check.fail("top level", f"unknown key(s) {sorted(unknown, key=str)}; allowed: {sorted(_TOP_KEYS)}")
    game = data.get("game", "poe1")
    if game not in ("poe1", "poe2"):
        raise check.fail("game", f"{game!r} must be poe1 or poe2")
    league = league_override or data.get("league", "Standard")
    if not isinstance(league, str) or not is_league_name(league):
        raise check.fail("league (TRADEWATCH_LEAGUE)" if league_override else "league",
                         f"{league!r} must be the league's name as the trade site spells it, e.g. Standard")
    paid_with = check.item_id(data.get("paid_with", "divine"), "paid_with", game)
    target = check.positive_int(data.get("target_quantity", 500), "target_quantity")
    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not raw_items:
        raise check.fail("items", "must be a non-empty list of item ids")
    if len(raw_items) > MAX_ITEMS:
        raise check.fail("items", f"{len(raw_items)} items is more than {MAX_ITEMS}; one hour cannot fetch them all")
    items: list[str] = []
    for index, value in enumerate(raw_items):
        item = check.item_id(value, f"items[{index}]", game)
        if item in items:
            raise check.fail(f"items[{index}]", f"{item!r} is listed twice")
        if item == paid_with:
            raise check.fail(f"items[{index}]", f"{item!r} is the currency you pay with; it has no price in itself")
        items.append(item)
    raw_strategies = data.get("strategies") or []
    if not isinstance(raw_strategies, list):
        raise check.fail("strategies", "must be a list")
    strategies = tuple(_strategy(check, s, i, game, tuple(items)) for i, s in enumerate(raw_strategies))
    names = [s.name for s in strategies]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise check.fail("strategies", f"the name(s) {duplicates} are used twice")
    raw_alerts = data.get("alerts") or []
    if not isinstance(raw_alerts, list):
        raise check.fail("alerts", "must be a list of rules")
    alerts = tuple(_alert(check, a, i, game, tuple(items), strategies, paid_with) for i, a in enumerate(raw_alerts))
    alert_names = [a.name for a in alerts]
    duplicates = sorted({n for n in alert_names if alert_names.count(n) > 1})
    if duplicates:
        raise check.fail("alerts", f"the name(s) {duplicates} are used twice")
    return Watchlist(game=game, league=league.strip(), paid_with=paid_with, target_quantity=target,
                     items=tuple(items), strategies=strategies, source=path, alerts=alerts)


def load_watchlist(path: Path | None = None, league_override: str | None = None) -> Watchlist:
    """Load and check a watchlist file; ConfigError names the file and the entry."""
    path = Path(path) if path else DEFAULT_WATCHLIST
    try:
        with path.open("rb") as file:  # read at most a little more than allowed (/dev/zero ends too)
            raw = file.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ConfigError(f"watchlist {path}: is more than {MAX_FILE_BYTES} bytes; a watchlist is a short "
                              "YAML file (see the default) - is it the right file?")
        text = raw.decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"watchlist {path}: no such file; fix TRADEWATCH_WATCHLIST or unset it for the default") from None
    except OSError as exc:
        raise ConfigError(f"watchlist {path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"watchlist {path}: is not a UTF-8 text file (byte {exc.start}); "
                          "a watchlist is a YAML file - is it the right file?") from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        raise ConfigError(f"watchlist {path}: is not valid YAML ({where}: {getattr(exc, 'problem', exc)})") from None
    except RecursionError:
        raise ConfigError(f"watchlist {path}: is not valid YAML (nested too deeply)") from None
    return parse_watchlist(data, path, league_override)


def watchlist_from_settings(settings: Settings) -> Watchlist:
    return load_watchlist(settings.watchlist_path, settings.league)
