"""The items of the simulated Currency Exchange: metadata paths, value, popularity.

The feed names items by their game metadata path (`Metadata/Items/Currency/CurrencyRerollRare`),
not by trade-site id. Items the order-book model knows (chaos, divine, exalted, the essences,
the lifeforces, the basic orbs) carry their trade id, and their value comes from
`market.price_level` so the feed and the order books move together; the paths of chaos,
divine, exalted, the 20 Deafening essences and the four lifeforces are exactly those of
`../shared/currency_exchange/metadata_to_trade_id.json` so that the client's join works.
Everything else (divination cards, scarabs, fragments, omens, ...) is a plausible path of its
real kind with a stable value of its own that drifts like any item of the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .stable import uniform

__all__ = ["CHAOS", "CxItem", "DIVINE", "EXALTED", "catalogue"]

CHAOS = "Metadata/Items/Currency/CurrencyRerollRare"
DIVINE = "Metadata/Items/Currency/CurrencyModValues"
EXALTED = "Metadata/Items/Currency/CurrencyAddModToRare"

_CUR = "Metadata/Items/Currency/"


@dataclass(frozen=True)
class CxItem:
    """One tradable item: its path, the trade id the order books use (None if unknown),
    its chaos value when the model has none (`base`), and how much of it trades (`turnover`,
    chaos per hour in a challenge league, median)."""

    path: str
    trade_id: str | None
    kind: str
    base: float
    turnover: float


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
    "harbingers-orb": "CurrencyUpgradeMapTier", "fracturing-orb": "CurrencyFracturingOrb",
    "wisdom": "CurrencyIdentification", "portal": "CurrencyPortal", "scrap": "CurrencyArmourQuality",
    "whetstone": "CurrencyWeaponQuality", "bauble": "CurrencyFlaskQuality",
    "transmute": "CurrencyUpgradeToMagic", "aug": "CurrencyAddModToMagic", "mirror": "CurrencyDuplicate",
    "eternal": "CurrencyImprintOrb", "awakeners-orb": "CurrencyTransferInfluence",
    "mavens-orb": "CurrencyUpgradeToMaven", "sacred-orb": "CurrencyRerollDefences",
    "hinekoras-lock": "CurrencyHinekorasLock", "chaos-shard": "CurrencyRerollRareShard",
    "exalted-shard": "CurrencyAddModToRareShard", "mirror-shard": "CurrencyDuplicateShard",
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

_CARDS = (
    "TheDoctor TheNurse TheApothecary HouseOfMirrors TheFiend TheDemon UnrequitedLove TheSephirot "
    "SeveredFromTheDivine TheImmortal TheSamuraisEye AbandonedWealth TheWolvenKingsBite "
    "TheDragonsHeart TheCartographer TheDeepOnes TheHunger TheSun ThreeVoices ThunderousSkies "
    "UndergroundForest TheScarredMeadow SuccorOfTheSinless Home RainOfChaos Humility TheGambler "
    "TheLover EmperorsLuck TheCatalyst TheRoyal TheScholar TheSurgeon TheInventor TheLordOfCelebration "
    "TheHoarder TheSaint TheChainsThatBind BrotherhoodInExile TheRiddler TheEnlightened TheWrath "
    "TheLastOne ALabOfTheWild TheDoppelganger TheDreamer TheCastaway TheFox TheFlorasGift "
    "TheGlittering TheGreatestIntentions TheOrder TheEyeOfTheDragon TheStudent TheTrial TheUnion "
    "TheValkyrie TheVast TheVoid TheWarden TheWilling TheWolf ChaoticDisposition LuckyConnections "
    "TheSacrifice TheSeeker TheShepherdsSandals TheSigil TheSoul TheSpark TheSpoiledPrince "
    "TheStormcaller TheSummoner TheSwordKingsSalute TheTinkerer TheTraitor TheTwins TheTyrant "
    "TheUndaunted TheUndisputed TheWeaversThread TheWindPrincess TheWretched AnarchysPrice "
    "AzyransReward BeautyThroughDeath BlessingOfGod BoonOfTheFirstOnes BrotherhoodOfTheSphere "
    "CostumeGuide DarkerHalf DeathDisco DesecratedVirtue DivineJustice DyingLight EternalBonds "
    "FireOfUnknownOrigin GiftOfAsenath GemcuttersMercy HubrisOfTheScholar ImmortalResolve LuckyDeck "
    "MoneyAndPower NookOfWonders PrideOfTheFirstOnes RebirthAndRenewal SambodhisWisdom SoulQuenched "
    "TheAstronomer TheAvenger TheBargain TheBitterBlossom TheBodyguard TheBreach TheCheater "
    "TheCollector TheCountess TheCursedKing TheDarkMage TheDesecrated TheDevastator TheEmptiness "
    "TheEnforcer TheEternalWar TheFathomless TheFishmonger TheFortunate TheGoddess "
    "TheGreatestAmbition TheHermit TheHook TheIronBard TheJester TheJewellersTouch TheKey TheLearned "
    "TheLiberated TheLightInDarkness TheLion TheMayor TheMesmer TheMessenger TheMountain TheOffering "
    "TheOpulent ThePriceOfDevotion ThePrinceOfDarkness TheRabbitsFoot TheRealm TheRisk "
    "TheRiteOfElements TheRoadToPower"
).split()

_SCARAB_KINDS = (
    "Breach Legion Ambush Harbinger Expedition Beyond Blight Ritual TormentNew Divination Cartography "
    "Bestiary Sulphite Abyss Incursion Betrayal Domination Essence Delirium Anarchy Kalguuran "
    "Influence Misc Harvest Ultimatum Titanic Stability Horned"
).split()

_FRAGMENTS = (
    "CurrencyUberBossKeyCortex CurrencyUberBossKeyChayula CurrencyUberBossKeyUul CurrencyUberBossKeyXoph "
    "CurrencyUberBossKeyTul CurrencyUberBossKeyEsh CurrencyUberBossKeyMaven CurrencyUberBossKeySirus "
    "CurrencyUberBossKeyEater CurrencyUberBossKeyExarch CurrencyUberBossKeyShaper "
    "CurrencyUberBossKeyElder VaalFragment1_1 VaalFragment1_2 VaalFragment1_3 VaalFragment1_4 "
    "VaalFragment2_1 VaalFragment2_2 VaalFragment2_3 VaalFragment2_4 ShaperFragment1 ShaperFragment2 "
    "ShaperFragment3 ShaperFragment4 ElderFragment1 ElderFragment2 ElderFragment3 ElderFragment4 "
    "BreachFragmentFire BreachFragmentCold BreachFragmentLightning BreachFragmentPhysical "
    "BreachFragmentChaos BreachFragmentFireUber BreachFragmentColdUber BreachFragmentChaosUber "
    "CurrencyAfflictionFragment1 CurrencyAfflictionFragment2 CurrencyAfflictionFragment3 "
    "CurrencyAfflictionShard CurrencyLegionFragment1 CurrencyLegionFragment2 CurrencyLegionFragment3 "
    "CurrencyLegionFragment4 CurrencyLegionFragment5 CurrencyLegionSplinter1 CurrencyLegionSplinter2 "
    "PropagationAllflamePack PropagationAllflameAbyss PropagationAllflameBeasts "
    "PropagationAllflameRogueExiles PropagationAllflameHarbinger PropagationAllflameBreach "
    "PropagationAllflameLegion PropagationAllflameDelirium"
).split()

_CURRENCY_KINDS: tuple[tuple[str, str, float, float, float], ...] = (
    # (prefix, suffixes, low, high, turnover)
    ("CurrencyAfflictionOrb", "Currency Fragments Generic Metamorph Breach Essences Abyss Scarabs "
     "Harbinger Fossil Blight Incubator Legion Uniques Maps DivinationCards Armour Weapon Jewellery "
     "Gems Flasks Trinkets", 1.0, 25.0, 800.0),
    ("Mushrune", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15", 0.1, 80.0, 600.0),
    ("CurrencyDelveCrafting", "Frigid Scorched Metallic Jagged Aberrant Pristine Dense Corroded "
     "Prismatic Aetheric Serrated Shuddering Bound Fundamental Deft Sanctified Hollow Fractured "
     "Glyphic Tangled Bloodstained Gilded Faceted Lucent Opulent", 0.3, 40.0, 500.0),
    ("CurrencyCatalyst", "Abrasive Fertile Imbued Intrinsic Prismatic Tempering Turbulent "
     "Accelerating Noxious Unstable Tainted", 0.3, 5.0, 900.0),
    ("CurrencyIncubation", "Abyss Blight Breach Currency DivinationCards Essences Fossils Fragments "
     "Gems Harbinger Jewellery Legion Maps Metamorph Perandus Scarabs Talismans Uniques Weapons "
     "Armour", 0.2, 6.0, 300.0),
    ("AncestralOmenOn", "JewellersMakeFullSockets AlchemyUpgradeToRare ChaosRerollRare "
     "ExaltedAddModToRare RegalUpgradeMagicToRare AnnulmentRemoveMod DivineModValues "
     "ScouringConvertToNormal BlessingRerollImplicit FusingRerollSocketLinks CorruptionCorrupt "
     "HarbingerUpgrade ChromaticRerollSocketColours TransmutationUpgrade AugmentationAddMod "
     "VeiledChaosVeil CatalystQuality EldritchChaos EldritchExalt EldritchAnnul FracturingRandom "
     "SanctificationSpread CrystalOfAmbush DeathFlee SecretsHeist WinterCold ThunderLightning "
     "BlazeFire CoiledSnake AmplifiedRuin ConnectionLink SacrificeBloodRite HuntPitfall "
     "GreaterExaltation DextralExaltation SinistralExaltation DextralAnnulment SinistralAnnulment "
     "DextralCoronation SinistralCoronation HomogenisingExaltation HomogenisingCoronation "
     "CatalysingExaltation BenevolentRitual ChallengeCurse FortuneDeck", 1.0, 1500.0, 1200.0),
    ("AncestralTattoo", "Kitava1 Kitava2 Kitava3 Arohongui1 Arohongui2 Arohongui3 Hinekora1 "
     "Hinekora2 Hinekora3 Ngamahu1 Ngamahu2 Ngamahu3 Ramako1 Ramako2 Ramako3 Rongokurai1 "
     "Rongokurai2 Rongokurai3 Tasalio1 Tasalio2 Tasalio3 Tawhoa1 Tawhoa2 Tawhoa3 Tukohama1 "
     "Tukohama2 Tukohama3 Valako1 Valako2 Valako3", 0.5, 40.0, 250.0),
    ("KalguuranRune", " ".join(str(i) for i in range(1, 25)), 0.3, 60.0, 400.0),
    ("Astrolabe", "Generic Fragmented Nameless Timeless Grandiose Chaotic Runic Fortunate "
     "Lost Unearthly", 1.0, 60.0, 500.0),
    ("CurrencyBreachUpgradeUnique", "General Xoph Tul Esh Uul Chayula", 2.0, 120.0, 300.0),
    ("CurrencyHellscapeUpgrade", "ToUnique ToRare Corrupt Quality", 2.0, 80.0, 250.0),
    ("CurrencyJewelleryQuality", "Vaal Enchant Catalyst", 0.5, 15.0, 300.0),
    ("CurrencyEldritch", "ChaosOrb ExaltedOrb OrbOfAnnulment Ember1 Ember2 Ember3 Ember4 Ichor1 "
     "Ichor2 Ichor3 Ichor4 OrbOfConflict", 0.3, 200.0, 900.0),
    ("CurrencyHarvest", "ReforgeCaster ReforgeAttack ReforgeLife ReforgeDefence ReforgeSpeed "
     "ReforgeCritical ReforgePhysical ReforgeFire ReforgeCold ReforgeLightning ReforgeChaos",
     2.0, 60.0, 200.0),
    ("CurrencyVeiled", "ChaosOrb ExaltedOrb Scarab", 2.0, 20.0, 400.0),
    ("CurrencyMapQualityMaven", "Procurement Proliferation Divination Scarabs Avarice", 1.0, 20.0, 300.0),
)

_ATLAS_EXILES = "AddModToRareCrusader AddModToRareEyrie AddModToRareBasilisk AddModToRareAdjudicator " \
    "AddModToRareShaper AddModToRareElder AddInfluenceCrusader AddInfluenceEyrie AddInfluenceBasilisk " \
    "AddInfluenceAdjudicator".split()

_POE2_EXTRA: tuple[tuple[str, str, float, float, float], ...] = (
    ("Metadata/Items/SoulCores/", "ThesisOfExperiments RuneWardSpecial1 RuneWardSpecial2 RuneWardSpecial3 "
     "SoulCoreAttack SoulCoreCaster SoulCoreLife SoulCoreMana SoulCoreSpeed SoulCoreCritical "
     "SoulCoreFire SoulCoreCold SoulCoreLightning SoulCoreChaos SoulCoreArmour SoulCoreEvasion",
     0.5, 120.0, 400.0),
    ("Metadata/Items/Currency/CurrencyRune", " ".join(f"{k}{t}" for k in ("Fire", "Cold", "Lightning",
     "Life", "Mana", "Armour", "Attack", "Caster") for t in (1, 2, 3)), 0.2, 30.0, 300.0),
    ("Metadata/Items/Currency/CurrencyEssence", " ".join(f"{k}{t}" for k in ("Body", "Mind", "Enhancement",
     "Torment", "Electricity", "Ice", "Flames", "Ruin", "Battle", "Sorcery", "Haste", "Infinite")
     for t in (1, 2, 3)), 0.1, 40.0, 350.0),
    ("Metadata/Items/Currency/CurrencyCorruptedEssence", "Abyss Hysteria Insanity Horror Delirium",
     5.0, 200.0, 200.0),
    ("Metadata/Items/Currency/CurrencyOmen", " ".join(f"Of{k}" for k in ("Dextral", "Sinistral", "Whittling",
     "Homogenising", "Catalysing", "Corruption", "Amelioration", "Light", "Resurgence", "Recombination",
     "Abyssal", "Greater")), 1.0, 900.0, 500.0),
    ("Metadata/Items/Currency/CurrencyDistilled", " ".join(k for k in ("Ire", "Guilt", "Greed", "Paranoia",
     "Envy", "Disgust", "Despair", "Fear", "Suffering", "Isolation")), 0.2, 80.0, 300.0),
    ("Metadata/Items/Currency/CurrencyCatalyst", "Flesh Neural Carapace Uul Xoph Tul Esh Chayula Reaver "
     "Sibilant Skittering Adaptive", 0.3, 30.0, 300.0),
    ("Metadata/Items/MapFragments/", "BreachstoneXoph BreachstoneTul BreachstoneEsh BreachstoneUul "
     "BreachstoneChayula SimulacrumSplinter Simulacrum TrialOfChaos UltimatumTrialOfTheSekhemas "
     "WaystoneTier15 WaystoneTier16", 1.0, 300.0, 400.0),
)


def _mapped_items() -> list[CxItem]:
    items = []
    for trade_id, name in _MAPPED_CURRENCY.items():
        turnover = _CURRENCY_TURNOVER.get(trade_id, _log_between("to|" + trade_id, 3_000.0, 60_000.0))
        kind = "lifeforce" if name.startswith("HarvestSeed") else "currency"
        items.append(CxItem(_CUR + name, trade_id, kind, 0.0, turnover))
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


def _unmapped(prefix: str, names: list[str], kind: str, low: float, high: float,
              turnover: float, skew: float = 1.0) -> list[CxItem]:
    return [
        CxItem(prefix + name, None, kind, _log_between("base|" + prefix + name, low, high, skew),
               _log_between("to|" + prefix + name, turnover / 8, turnover * 4))
        for name in names
    ]


def _pc_items() -> list[CxItem]:
    items = _mapped_items()
    items += _unmapped("Metadata/Items/DivinationCards/DivinationCard", _CARDS,
                       "card", 0.1, 900.0, 400.0, skew=2.5)
    items += _unmapped("Metadata/Items/Scarabs/Scarab",
                       [f"{k}{t}" for k in _SCARAB_KINDS for t in range(1, 5)], "scarab", 0.3, 90.0, 700.0)
    items += _unmapped("Metadata/Items/MapFragments/", list(_FRAGMENTS), "fragment", 1.0, 400.0, 900.0)
    items += _unmapped("Metadata/Items/AtlasExiles/", _ATLAS_EXILES, "exile", 20.0, 200.0, 500.0)
    items += _unmapped("Metadata/Items/Heist/", ["HeistCoin"], "heist", 0.01, 0.05, 400.0)
    for prefix, names, low, high, turnover in _CURRENCY_KINDS:
        items += _unmapped(_CUR + prefix, names.split(), "currency", low, high, turnover)
    return items


def _poe2_items() -> list[CxItem]:
    keep = {"chaos", "divine", "exalted", "alch", "regal", "vaal", "annul", "chance", "transmute",
            "aug", "mirror", "wisdom", "scrap", "whetstone", "bauble", "gcp", "blessed", "chisel"}
    items = [i for i in _mapped_items() if i.trade_id in keep]
    for prefix, names, low, high, turnover in _POE2_EXTRA:
        items += _unmapped(prefix, names.split(), "poe2", low, high, turnover)
    items += _unmapped("Metadata/Items/Currency/", [f"CurrencyUncut{k}Gem{t}" for k in ("Skill", "Support",
                       "Spirit") for t in range(14, 21)], "poe2", 1.0, 300.0, 300.0)
    return items


@lru_cache(maxsize=4)
def catalogue(realm: str) -> tuple[CxItem, ...]:
    """Every item of `realm`'s exchange ("poe2" has its own; pc, xbox and sony share PoE 1's)."""
    items = _poe2_items() if realm == "poe2" else _pc_items()
    # One item per path: the first definition wins.
    return tuple({item.path: item for item in reversed(items)}[p] for p in dict.fromkeys(i.path for i in items))
