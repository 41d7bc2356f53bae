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
from typing import Any, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from tradewatch.bulk_exchange.catalog import item_name, known_ids
from tradewatch.currency_exchange.catalogue import CatalogueItem, UnknownItem, game_of_realm, resolve_item
from tradewatch.errors import ConfigError
from tradewatch.market.currency import CURRENCIES, REALM_OF_GAME
from tradewatch.market.strategy import DEAFENING_ESSENCES, StrategySpec
from tradewatch.settings import Settings, is_league_name

DEFAULT_WATCHLIST = Path(__file__).parent / "data" / "watchlist.default.yaml"
FAMILIES = {"deafening": DEAFENING_ESSENCES}
MAX_ITEMS = 200  # one request per item per hour; more would not fit the real rate limits
MAX_FILE_BYTES = 1_000_000  # the default is 2 kB; a bigger file is a mistake (and slow to parse)
MAX_WHOLE = 1_000_000  # quantities, units: beyond this the warehouse's integer columns overflow
MIN_AMOUNT, MAX_AMOUNT = 1e-6, 1e6  # reroll costs and weights: beyond these the strategy math over/underflows
_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")


class AlertRule(BaseModel):
    """One alert rule of the watchlist, checked by pydantic (shape) and `_alert` (against the rest).

    A book rule (`item`, `below` or `above`) compares the hour's robust minimum price of the
    order book (`source: book`, the default) or the executed vwap of the Currency Exchange
    (`source: exchange`), in `currency` (default: the watchlist's `paid_with`). `item` is a
    catalogue id, metadata path or display name ("Exalted Orb"), stored as the catalogue id; a
    book rule's item must be watched, an exchange rule's may be any item of the exchange, of the
    rule's `realm` and `league` (default: the watchlist's game and league). A strategy
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
    realm: Literal["pc", "poe2", "xbox", "sony"] | None = None  # exchange rules: the feed realm
    league: str | None = None  # exchange rules: the league, default the watchlist's
    # an exchange rule never fires on a low-confidence price (tradewatch.market_overview.windows) unless this is true
    allow_low_confidence: bool = False

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
        if (self.realm is not None or self.league is not None) and self.source != "exchange":
            raise ValueError("`realm` and `league` are for exchange rules (`source: exchange`); a book or strategy "
                             "rule watches the watchlist's league")
        if self.league is not None and not is_league_name(self.league):
            raise ValueError(f"league {self.league!r} must be the league's name as the trade site spells it")
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

    def alert_realm(self, rule: AlertRule) -> str:
        """The feed realm an exchange rule reads: its own, else the watchlist game's."""
        return rule.realm or REALM_OF_GAME[self.game]

    def alert_league(self, rule: AlertRule) -> str:
        return rule.league or self.league

    def alert_item(self, rule: AlertRule) -> CatalogueItem:
        """The catalogue entry of an item rule (of the rule's realm for an exchange rule)."""
        if rule.item is None:
            raise ValueError(f"rule {rule.name!r} watches a strategy, not an item")
        game = game_of_realm(self.alert_realm(rule)) if rule.source == "exchange" else self.game
        try:
            return resolve_item(game, rule.item, unlisted_paths=True)
        except UnknownItem:  # a watched id the catalogue does not list (checked at load time)
            return CatalogueItem(game=game, metadata_path=rule.item, id=rule.item, name=item_name(rule.item),
                                 trade_id=rule.item)


def _mistake(where: str, problem: str) -> PydanticCustomError:
    """The one error the validators below raise: where in the file, and what is wrong there."""
    return PydanticCustomError("watchlist", "{where}: {problem}", {"where": where, "problem": problem})


def _first_mistake(exc: ValidationError, where: str) -> tuple[str, str]:
    """(where, problem) of the first error pydantic collected; `where` names the model's entry."""
    error = exc.errors()[0]
    if error["type"] == "watchlist":
        return error["ctx"]["where"], error["ctx"]["problem"]
    field = ".".join(str(p) for p in error["loc"])  # a type error pydantic found after our checks
    return where + (f".{field}" if field else ""), error["msg"].removeprefix("Value error, ")


def _item_id(value: Any, where: str, game: str) -> str:
    if not isinstance(value, str) or not _ID_PATTERN.match(value):
        raise _mistake(where, f"{value!r} is not a trade item id (lower-case words joined by '-', "
                              "e.g. deafening-essence-of-greed)")
    known = known_ids(game)
    if known is not None and value not in known:
        raise _mistake(where, f"unknown item id {value!r}: the trade site has no such item "
                              "(see its static data for the ids, e.g. deafening-essence-of-greed)")
    return value


def _positive_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WHOLE:
        raise _mistake(where, f"{value!r} must be a whole number of at least 1 (and at most {MAX_WHOLE})")
    return value


def _positive_number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not MIN_AMOUNT <= value <= MAX_AMOUNT:
        raise _mistake(where, f"{value!r} must be a positive number (from {MIN_AMOUNT:g} to {MAX_AMOUNT:g})")
    return float(value)


def _unique_names(names: list[str], where: str) -> None:
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise _mistake(where, f"the name(s) {duplicates} are used twice")


class _Entry(BaseModel):
    """A mapping of the file: its shape and keys are checked before any field, so that a wrong
    file (a YAML bomb under unknown keys, say) is refused before its values are looked at.

    Defaults are validated too (`validate_default`): the default family must be watched.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
    _shape: ClassVar[str]  # what the entry must be, for the message when it is not a mapping

    @model_validator(mode="before")
    @classmethod
    def _mapping_with_known_keys(cls, raw: Any, info: ValidationInfo) -> Any:
        where = (info.context or {}).get("where", "top level")
        if not isinstance(raw, dict):
            raise _mistake(where, cls._shape)
        unknown = set(raw) - set(cls.model_fields)
        if unknown:
            raise _mistake(where, f"unknown key(s) {sorted(unknown, key=str)}; allowed: {sorted(cls.model_fields)}")
        return raw


def _strategy_where(info: ValidationInfo) -> str:
    # an entry is named by its index until its name is known to be valid, then by its name
    if "name" in info.data:
        return f"strategy {info.data['name']!r}"
    return info.context["where"]


class _StrategyEntry(_Entry):
    """One entry of `strategies`. The validation context gives the game, the watched items and
    `where` (its index); fields are checked in the order of the file's documentation."""

    _shape = "each strategy must be a mapping with name, family, reroll_cost_item, ..."

    name: str | None = None
    family: Any = "deafening"
    reroll_cost_item: str = "primal-lifeforce"
    top_k: int = 5
    weights: dict[str, float] | None = None
    reroll_cost_amount: float = 30
    units_per_reroll: int = 1
    buy_quantity: int = 2000

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, name: Any, info: ValidationInfo) -> str:
        if not isinstance(name, str) or not _ID_PATTERN.match(name):
            raise _mistake(info.context["where"] + ".name", f"{name!r} must be a short id such as deafening-top5")
        return name

    @field_validator("family", mode="before")
    @classmethod
    def _family(cls, family_raw: Any, info: ValidationInfo) -> tuple[str, ...]:
        where, game = _strategy_where(info) + ".family", info.context["game"]
        if isinstance(family_raw, str):
            if family_raw not in FAMILIES:
                raise _mistake(where, f"unknown family {family_raw!r}; use one of {sorted(FAMILIES)} or a list of item ids")
            family = FAMILIES[family_raw]
        elif isinstance(family_raw, list):
            family = tuple(_item_id(v, f"{where}[{i}]", game) for i, v in enumerate(family_raw))
        else:
            raise _mistake(where, "must be a family name or a list of item ids")
        if len(set(family)) != len(family):
            raise _mistake(where, "lists an item twice")
        if len(family) < 2:
            raise _mistake(where, "needs at least two items to reroll between")
        not_watched = [i for i in family if i not in info.context["items"]]
        if not_watched:
            raise _mistake(where, f"{not_watched} are not in `items`; add them so their prices are fetched")
        return tuple(family)

    @field_validator("reroll_cost_item", mode="before")
    @classmethod
    def _cost_item(cls, value: Any, info: ValidationInfo) -> str:
        where = _strategy_where(info) + ".reroll_cost_item"
        cost_item = _item_id(value, where, info.context["game"])
        if cost_item not in info.context["items"]:
            raise _mistake(where, f"{cost_item!r} is not in `items`; add it so its price is fetched")
        return cost_item

    @field_validator("top_k", mode="before")
    @classmethod
    def _top_k(cls, value: Any, info: ValidationInfo) -> int:
        where = _strategy_where(info) + ".top_k"
        top_k = _positive_int(value, where)
        family = info.data.get("family", ())
        if family and top_k >= len(family):
            raise _mistake(where, f"{top_k} must be smaller than the family size ({len(family)})")
        return top_k

    @field_validator("weights", mode="before")
    @classmethod
    def _weights(cls, weights_raw: Any, info: ValidationInfo) -> dict[str, float] | None:
        if weights_raw is None:
            return None
        where = _strategy_where(info) + ".weights"
        if not isinstance(weights_raw, dict) or not weights_raw:
            raise _mistake(where, "must be a mapping of item id to a positive weight")
        weights = {}
        for key, value in weights_raw.items():
            if key not in info.data.get("family", ()):
                raise _mistake(where, f"{key!r} is not a member of the family")
            weights[key] = _positive_number(value, f"{where}[{key}]")
        return weights

    @field_validator("reroll_cost_amount", mode="before")
    @classmethod
    def _amount(cls, value: Any, info: ValidationInfo) -> float:
        return _positive_number(value, _strategy_where(info) + f".{info.field_name}")

    @field_validator("units_per_reroll", "buy_quantity", mode="before")
    @classmethod
    def _whole(cls, value: Any, info: ValidationInfo) -> int:
        return _positive_int(value, _strategy_where(info) + f".{info.field_name}")

    @model_validator(mode="after")
    def _a_valid_strategy(self) -> "_StrategyEntry":
        self.spec()  # what the strategy math itself refuses, named like the rest
        return self

    def spec(self) -> StrategySpec:
        try:
            return StrategySpec(
                name=self.name, family=self.family, reroll_cost_item=self.reroll_cost_item,
                reroll_cost_amount=self.reroll_cost_amount, units_per_reroll=self.units_per_reroll,
                buy_quantity=self.buy_quantity, top_k=self.top_k, weights=self.weights,
            )
        except ValueError as exc:
            raise _mistake(f"strategy {self.name!r}", str(exc)) from None


def _alert(raw: Any, index: int, game: str, items: tuple[str, ...],
           strategies: tuple[StrategySpec, ...], paid_with: str) -> AlertRule:
    """One entry of `alerts`: its shape by AlertRule, then checked against the rest of the file."""
    name = raw.get("name") if isinstance(raw, dict) else None
    where = f"alerts[{index}]" + (f" ({name!r})" if isinstance(name, str) else "")
    if not isinstance(raw, dict):
        raise _mistake(where, "each alert must be a mapping with name, item or strategy, and a threshold")
    try:
        rule = AlertRule.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "extra_forbidden":  # named per key: an alert's keys are few and well known
            raise _mistake(f"{where}.{error['loc'][0]}", f"unknown key; allowed: {sorted(AlertRule.model_fields)}") from None
        raise _mistake(*_first_mistake(exc, where)) from None
    if rule.item is not None:
        rule = rule.model_copy(update={"item": _rule_item(rule, where + ".item", game, items)})
    elif rule.strategy not in {s.name for s in strategies}:
        raise _mistake(where + ".strategy", f"unknown strategy {rule.strategy!r}; configured: "
                                            f"{sorted(s.name for s in strategies)}")
    currency = rule.currency or paid_with
    if currency != paid_with and currency not in CURRENCIES:
        raise _mistake(where + ".currency", f"{currency!r} must be chaos or divine")
    if currency != paid_with and paid_with not in CURRENCIES:
        raise _mistake(where + ".currency", f"prices are paid in {paid_with!r}, which cannot be converted to "
                                            f"{currency}; leave `currency` out")
    return rule


def _rule_item(rule: AlertRule, where: str, game: str, items: tuple[str, ...]) -> str:
    """The catalogue id of a rule's item (given as id, metadata path or name). A book rule's item
    must be watched; an exchange rule's may be any item of its realm's catalogue, or a metadata
    path the catalogue lacks (the feed may carry it)."""
    text = rule.item
    if rule.source == "book" and text in items:
        return text
    exchange = rule.source == "exchange"
    if exchange:
        game = game_of_realm(rule.realm or REALM_OF_GAME[game])
    try:
        item = resolve_item(game, text, unlisted_paths=exchange)
    except UnknownItem as exc:
        hint = f"; did you mean {' or '.join(repr(s) for s in exc.suggestions)}?" if exc.suggestions else ""
        if exc.__class__ is not UnknownItem:  # a name several items share
            raise _mistake(where, str(exc)) from None
        raise _mistake(where, f"unknown item id {text!r}: no {game} catalogue id, metadata path or item name"
                              f"{hint}") from None
    if exchange:
        return item.id
    if item.trade_id not in items:
        raise _mistake(where, f"{text!r} ({item.name}) is not in `items`: its book price is not fetched "
                              "(add it, or use `source: exchange`)")
    return item.trade_id


class _WatchlistFile(_Entry):
    """The whole file. Fields are checked in order, each seeing the ones before it (`info.data`):
    items need the game and the currency, strategies the items, alerts the strategies. Only the
    first mistake is reported, so a field whose predecessors failed is not checked."""

    _shape = "must be a mapping with game, league, paid_with, items, strategies"

    game: Literal["poe1", "poe2"] = "poe1"
    league: str = "Standard"
    paid_with: str = "divine"
    target_quantity: int = 500
    items: tuple[str, ...] | None = None
    strategies: tuple[StrategySpec, ...] | None = None
    alerts: tuple[AlertRule, ...] | None = None

    @field_validator("game", mode="before")
    @classmethod
    def _game(cls, game: Any) -> str:
        if game not in ("poe1", "poe2"):
            raise _mistake("game", f"{game!r} must be poe1 or poe2")
        return game

    @field_validator("league", mode="before")
    @classmethod
    def _league(cls, league: Any, info: ValidationInfo) -> str:
        override = info.context.get("league_override")
        league = override or league  # the environment's league wins over the file's
        if not isinstance(league, str) or not is_league_name(league):
            raise _mistake("league (TRADEWATCH_LEAGUE)" if override else "league",
                           f"{league!r} must be the league's name as the trade site spells it, e.g. Standard")
        return league.strip()

    @field_validator("paid_with", mode="before")
    @classmethod
    def _paid_with(cls, value: Any, info: ValidationInfo) -> str:
        return _item_id(value, "paid_with", info.data.get("game", "poe1"))

    @field_validator("target_quantity", mode="before")
    @classmethod
    def _target(cls, value: Any) -> int:
        return _positive_int(value, "target_quantity")

    @field_validator("items", mode="before")
    @classmethod
    def _items(cls, raw_items: Any, info: ValidationInfo) -> tuple[str, ...]:
        if not isinstance(raw_items, list) or not raw_items:
            raise _mistake("items", "must be a non-empty list of item ids")
        if len(raw_items) > MAX_ITEMS:
            raise _mistake("items", f"{len(raw_items)} items is more than {MAX_ITEMS}; one hour cannot fetch them all")
        items: list[str] = []
        for index, value in enumerate(raw_items):
            item = _item_id(value, f"items[{index}]", info.data.get("game", "poe1"))
            if item in items:
                raise _mistake(f"items[{index}]", f"{item!r} is listed twice")
            if item == info.data.get("paid_with"):
                raise _mistake(f"items[{index}]", f"{item!r} is the currency you pay with; it has no price in itself")
            items.append(item)
        return tuple(items)

    @field_validator("strategies", mode="before")
    @classmethod
    def _strategies(cls, raw: Any, info: ValidationInfo) -> tuple[StrategySpec, ...]:
        raw = raw or []
        if not isinstance(raw, list):
            raise _mistake("strategies", "must be a list")
        if "items" not in info.data or "game" not in info.data:
            return ()  # not checked: an earlier mistake is the one reported
        context = {"game": info.data["game"], "items": info.data["items"]}
        strategies = []
        for index, entry in enumerate(raw):
            try:
                strategy = _StrategyEntry.model_validate(entry, context={**context, "where": f"strategies[{index}]"})
            except ValidationError as exc:
                raise _mistake(*_first_mistake(exc, f"strategies[{index}]")) from None
            strategies.append(strategy.spec())
        _unique_names([s.name for s in strategies], "strategies")
        return tuple(strategies)

    @field_validator("alerts", mode="before")
    @classmethod
    def _alerts(cls, raw: Any, info: ValidationInfo) -> tuple[AlertRule, ...]:
        raw = raw or []
        if not isinstance(raw, list):
            raise _mistake("alerts", "must be a list of rules")
        if not {"game", "items", "strategies", "paid_with"} <= set(info.data):
            return ()  # not checked: an earlier mistake is the one reported
        alerts = tuple(_alert(entry, index, info.data["game"], info.data["items"], info.data["strategies"],
                              info.data["paid_with"]) for index, entry in enumerate(raw))
        _unique_names([a.name for a in alerts], "alerts")
        return alerts


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
    """Check the parsed YAML of a watchlist; ConfigError names `path` and the entry."""
    try:
        file = _WatchlistFile.model_validate(data, context={"league_override": league_override})
    except ValidationError as exc:
        where, problem = _first_mistake(exc, "top level")
        raise ConfigError(f"watchlist {path}: {where}: {problem}") from None
    return Watchlist(game=file.game, league=file.league, paid_with=file.paid_with,
                     target_quantity=file.target_quantity, items=file.items, strategies=file.strategies,
                     source=path, alerts=file.alerts)


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
