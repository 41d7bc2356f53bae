"""The items of the simulated Currency Exchange: metadata paths, value, popularity.

The feed names items by their game metadata path (`Metadata/Items/Currency/CurrencyRerollRare`),
not by trade-site id. Every item is a real one of its game: `data/cx_items.json` lists each
Currency Exchange item of PoE 1 and PoE 2 with its kind (the catalogue's category) and whether
the in-game exchange lists it (built by scripts/build_catalogue.py from the same catalogue
TradeWatch ships; the simulator imports nothing of TradeWatch).

Items the order-book model knows (chaos, divine, exalted, the essences, the lifeforces, the
basic orbs) carry their trade id, and their value comes from `market.price_level` so the feed
and the order books move together; the paths of chaos, divine, exalted, the 20 Deafening
essences and the four lifeforces are exactly those of
`../shared/currency_exchange/metadata_to_trade_id.json` so that the client's join works.
Every other item has a stable value of its own, plausible for its kind (a card from a tenth of a
chaos to a few hundred, an omen up to a thousand), that drifts like any item of the model.
Items the in-game exchange does not list (legacy items, quest copies) trade rarely; a few paths
no catalogue lists (`CurrencyProbeUnlisted…`, as new items appear in the real feed) trade too.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .stable import uniform

__all__ = ["CHAOS", "CxItem", "DIVINE", "EXALTED", "UNLISTED", "catalogue"]

ITEMS_FILE = Path(__file__).parent / "data" / "cx_items.json"

CHAOS = "Metadata/Items/Currency/CurrencyRerollRare"
DIVINE = "Metadata/Items/Currency/CurrencyModValues"
EXALTED = "Metadata/Items/Currency/CurrencyAddModToRare"

_CUR = "Metadata/Items/Currency/"


@dataclass(frozen=True)
class CxItem:
    """One tradable item: its path, the trade id the order books use (None if unknown),
    its chaos value when the model has none (`base`), how much of it trades (`turnover`,
    chaos per hour in a challenge league, median) and how often its markets trade relative to
    others of its kind (`popularity`: 1, or a few hundredths for an item the exchange hardly
    sees)."""

    path: str
    trade_id: str | None
    kind: str
    base: float
    turnover: float
    popularity: float = 1.0


def _log_between(key: str, low: float, high: float, skew: float = 1.0) -> float:
    """A stable value in [low, high], log-uniform (skew > 1 favours the low end)."""
    return low * math.exp(math.log(high / low) * uniform(key) ** skew)


# Trade ids of the bulk exchange and the metadata path of the same base item (PoE 1).
_MAPPED_CURRENCY: dict[str, str] = {
    "chaos": "CurrencyRerollRare", "divine": "CurrencyModValues", "exalted": "CurrencyAddModToRare",
    "alt": "CurrencyRerollMagic", "fusing": "CurrencyRerollSocketLinks", "alch": "CurrencyUpgradeToRare",
    "gcp": "CurrencyGemQuality", "chrome": "CurrencyRerollSocketColours",
    "jewellers": "CurrencyRerollSocketNumbers", "chance": "CurrencyUpgradeRandomly",
    "chisel": "CurrencyMapQuality", "scour": "CurrencyConvertToNormal", "blessed": "CurrencyRerollImplicit",
    "regret": "CurrencyPassiveRefund", "regal": "CurrencyUpgradeMagicToRare", "vaal": "CurrencyCorrupt",
    "annul": "CurrencyRemoveMod", "orb-of-binding": "CurrencyUpgradeToRareAndSetSockets",
    "ancient-orb": "CurrencyRerollUnique", "orb-of-horizons": "CurrencyRerollMapType",
    "harbingers-orb": "CurrencyUpgradeMapTier",
    "wisdom": "CurrencyIdentification", "portal": "CurrencyPortal", "scrap": "CurrencyArmourQuality",
    "whetstone": "CurrencyWeaponQuality", "bauble": "CurrencyFlaskQuality",
    "transmute": "CurrencyUpgradeToMagic", "aug": "CurrencyAddModToMagic", "mirror": "CurrencyDuplicate",
    "eternal": "CurrencyImprintOrb", "sacred-orb": "CurrencyRerollDefences",
    "hinekoras-lock": "CurrencyHinekorasLock", "chaos-shard": "CurrencyRerollRareShard",
    "exalted-shard": "CurrencyAddModToRareShard", "mirror-shard": "CurrencyDuplicateShard",
    "fracturing-orb": "CurrencyFractureRare", "awakeners-orb": "Metadata/Items/AtlasExiles/ApplyInfluence",
    "mavens-orb": "CurrencyUpgradeInfluenceMod",
    "wild-lifeforce": "HarvestSeedRed", "vivid-lifeforce": "HarvestSeedGreen",
    "primal-lifeforce": "HarvestSeedBlue", "sacred-lifeforce": "HarvestSeedBoss",
}
# Chaos turnover per hour of the currency markets in a challenge league (median).
_CURRENCY_TURNOVER: dict[str, float] = {
    "divine": 6_000_000.0, "exalted": 300_000.0, "mirror": 400_000.0, "chaos": 0.0,
}

# Deafening tier number per essence type (the path's trailing digit), from the shared join.
_DEAFENING_TIER: dict[str, int] = {
    "Greed": 7, "Contempt": 7, "Hatred": 7, "Woe": 7, "Fear": 6, "Anger": 6, "Torment": 6,
    "Sorrow": 6, "Rage": 5, "Suffering": 5, "Wrath": 5, "Doubt": 5, "Loathing": 4, "Zeal": 4,
    "Anguish": 4, "Spite": 4, "Scorn": 3, "Envy": 3, "Misery": 3, "Dread": 3,
}
_TIER_NAMES = ("whispering", "muttering", "weeping", "wailing", "screaming", "shrieking", "deafening")

def _mapped_items() -> list[CxItem]:
    items = []
    for trade_id, name in _MAPPED_CURRENCY.items():
        turnover = _CURRENCY_TURNOVER.get(trade_id, _log_between("to|" + trade_id, 3_000.0, 60_000.0))
        kind = "lifeforce" if name.startswith("HarvestSeed") else "currency"
        path = name if name.startswith("Metadata/") else _CUR + name
        items.append(CxItem(path, trade_id, kind, 0.0, turnover))
    for essence_type, deafening in _DEAFENING_TIER.items():
        for tier in range(1, deafening + 1):
            name = _TIER_NAMES[7 - deafening + tier - 1]
            trade_id = f"{name}-essence-of-{essence_type.lower()}"
            turnover = 4_000.0 if name == "deafening" else 600.0 / (deafening - tier + 1)
            items.append(CxItem(f"{_CUR}CurrencyEssence{essence_type}{tier}", trade_id, "essence", 0.0, turnover))
    for special in ("Hysteria", "Insanity", "Horror", "Delirium"):
        items.append(CxItem(f"{_CUR}CurrencyEssence{special}1", f"essence-of-{special.lower()}",
                            "essence", 0.0, 1_500.0))
    return items


# Plausible chaos value ranges (low, high, skew > 1: most items cheap) and median chaos turnover
# per hour in a challenge league, per kind (the catalogue's categories of PoE 1 and PoE 2).
_KINDS: dict[str, tuple[float, float, float, float]] = {
    "Cards": (0.1, 900.0, 2.5, 400.0), "Divination Cards": (0.1, 900.0, 2.5, 300.0),
    "DivinationCards": (0.1, 600.0, 2.5, 200.0),
    "Fragments": (1.0, 400.0, 1.0, 900.0), "MapFragments": (1.0, 200.0, 1.0, 400.0),
    "Currency": (0.05, 300.0, 1.5, 2_000.0), "Essences": (0.5, 30.0, 1.0, 600.0),
    "Ancestor": (1.0, 1_500.0, 1.5, 1_200.0), "Omens": (1.0, 1_500.0, 1.5, 1_000.0),
    "Ritual": (1.0, 900.0, 1.5, 500.0), "Scarabs": (0.3, 90.0, 1.5, 700.0),
    "Delve": (0.3, 40.0, 1.0, 500.0), "Runegrafts": (1.0, 200.0, 1.5, 300.0),
    "Incubators": (0.2, 6.0, 1.0, 300.0), "DeliriumOrbs": (1.0, 25.0, 1.0, 800.0),
    "Oils": (0.3, 60.0, 1.5, 600.0), "Catalysts": (0.3, 5.0, 1.0, 900.0),
    "Allflame": (1.0, 100.0, 1.0, 400.0), "AllflameEmbers": (1.0, 100.0, 1.0, 300.0),
    "Keepers": (1.0, 200.0, 1.5, 400.0), "Tattoos": (0.5, 40.0, 1.0, 250.0),
    "Runes": (0.2, 30.0, 1.5, 300.0), "Lineage Support Gems": (5.0, 900.0, 1.5, 200.0),
    "UncutGems": (1.0, 300.0, 1.5, 300.0), "SoulCores": (0.5, 120.0, 1.5, 400.0),
    "Breach": (1.0, 200.0, 1.0, 400.0), "Ultimatum": (1.0, 150.0, 1.0, 300.0),
    "Waystones": (0.5, 50.0, 1.0, 500.0), "Legacy": (0.5, 50.0, 1.5, 100.0),
}
_DEFAULT_KIND = (0.2, 100.0, 1.5, 300.0)
RARE_POPULARITY = 0.03  # an item the in-game exchange does not list: its markets trade now and then

# Paths no catalogue lists: the real feed shows new items before any catalogue knows them.
UNLISTED: dict[str, tuple[str, ...]] = {
    "pc": (_CUR + "CurrencyProbeUnlisted1", _CUR + "CurrencyProbeUnlisted2",
           "Metadata/Items/MapFragments/CurrencyProbeFragmentUnlisted"),
    "poe2": (_CUR + "CurrencyProbeUnlisted3",),
}


@lru_cache(maxsize=1)
def _real_items() -> dict[str, tuple[tuple[str, str, bool], ...]]:
    data = json.loads(ITEMS_FILE.read_text(encoding="utf-8"))
    return {game: tuple((path, kind, listed) for path, kind, listed in data[game]) for game in ("poe1", "poe2")}


def _item(path: str, kind: str, listed: bool) -> CxItem:
    low, high, skew, turnover = _KINDS.get(kind, _DEFAULT_KIND)
    return CxItem(path, None, kind, _log_between("base|" + path, low, high, skew),
                  _log_between("to|" + path, turnover / 8, turnover * 4),
                  1.0 if listed else RARE_POPULARITY)


def _items_of(game: str, realm: str, model: list[CxItem]) -> list[CxItem]:
    """The model's items, then every other real item of the game, then the unlisted paths."""
    known = {item.path for item in model}
    items = list(model)
    items += [_item(path, kind, listed) for path, kind, listed in _real_items()[game] if path not in known]
    items += [_item(path, "Unlisted", True) for path in UNLISTED[realm]]
    return items


def _pc_items() -> list[CxItem]:
    return _items_of("poe1", "pc", _mapped_items())


def _poe2_items() -> list[CxItem]:
    keep = {"chaos", "divine", "exalted", "alch", "regal", "vaal", "annul", "chance", "transmute",
            "aug", "mirror", "wisdom", "scrap", "whetstone", "bauble", "gcp", "blessed", "chisel"}
    return _items_of("poe2", "poe2", [i for i in _mapped_items() if i.trade_id in keep])


@lru_cache(maxsize=4)
def catalogue(realm: str) -> tuple[CxItem, ...]:
    """Every item of `realm`'s exchange ("poe2" has its own; pc, xbox and sony share PoE 1's)."""
    items = _poe2_items() if realm == "poe2" else _pc_items()
    # One item per path: the first definition wins.
    return tuple({item.path: item for item in reversed(items)}[p] for p in dict.fromkeys(i.path for i in items))
