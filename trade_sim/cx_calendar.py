"""The league calendar of each realm's Currency Exchange history (pure, no I/O).

The real feed is shaped by leagues: a challenge league launches about every four months with
its variants (PoE 1: Hardcore, Ruthless and HC Ruthless; PoE 2: HC), the hours around a launch
are empty (the servers are down; `pc_empty_hour_200_mirage_launch_1772816400.json` is 17:00 UTC
before Mirage opened), trading in the new league rises over its first week and then decays,
the league leaves the feed when it ends, Standard and Hardcore trade throughout, and private
leagues (`Name (PL12345)`) come and go. This module says, for a realm and an hour, which leagues
trade and how much (`leagues_at`), and which hours are empty (`is_empty_hour`).

League names and launch dates are the real ones where known (Settlers of Kalguur opened the PC
feed on 2024-07-26 20:00 UTC; Phrecia, Mercenaries, Keepers, Mirage and Allflame followed;
PoE 2's early access opened on 2024-12-06 19:00 UTC, then Dawn of the Hunt, Rise of the
Abyssal, Fate of the Vaal and Runes of Aldur); the end dates, the newest PC league (`Verdant`)
and every private league are plausible inventions. Hours are unix hours (`unix seconds // 3600`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from .stable import uniform

__all__ = [
    "League",
    "WEEK",
    "calendar",
    "challenge_launches",
    "empty_hours",
    "is_empty_hour",
    "leagues_at",
    "market_factor",
    "volume_factor",
]

WEEK = 168
# Empty hours before a launch (the servers are down for the patch); PoE 2's first hours too.
LAUNCH_EMPTY_HOURS = 3
_DECAY_HOURS = 60 * 24  # after its first week a league's trading decays with this time constant
_FLOOR = 0.25  # share of its peak a league keeps late in its life
_PRIVATE_NAMES = (
    "Kalguur Bulk Traders", "Mapping Crew", "HeMan Woman Haters Club", "Scarab Farmers", "Chaos Recipe Club",
    "Boss Rush Guild", "Heist Crew", "Delve Deeper", "Essence Drain Squad", "Sanctum Runners",
    "Abyss Watchers", "Atlas Cartographers", "Ritual Circle", "Harvest Moon", "Exile Market Makers",
)


@dataclass(frozen=True)
class League:
    """One league of the feed: its display name, what it is, and its life in unix hours.

    `kind` is one of "standard", "hardcore" (the permanent pair), "challenge", "challenge-hc",
    "ruthless", "hc-ruthless" (a challenge league and its variants) and "private". `start` is the
    first hour it trades; `end` the first hour it no longer does (None: still running). `launch`
    is the hour its challenge league launched (its own start for a permanent league).
    """

    name: str
    kind: str
    start: int
    end: int | None
    launch: int
    share: float  # its share of the market at the same age, relative to the challenge league
    permanent: bool = False  # Standard, Hardcore (and PoE 1's permanent Ruthless pair)

    def active(self, h: int) -> bool:
        return self.start <= h and (self.end is None or h < self.end)


def _hour(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()) // 3600




# (name, launch, end, variant names). Launches are at 20:00 UTC like GGG's (PoE 2's first hour is
# the early-access launch itself); a league ends a few days before the next one launches.
_PC_CHALLENGES: tuple[tuple[str, str, str | None, tuple[tuple[str, str], ...]], ...] = (
    ("Settlers", "2024-07-26 20:00", "2025-06-09 20:00",
     (("Hardcore Settlers", "challenge-hc"), ("Ruthless Settlers", "ruthless"),
      ("HC Ruthless Settlers", "hc-ruthless"))),
    ("Phrecia", "2025-02-20 20:00", "2025-04-21 20:00", (("Hardcore Phrecia", "challenge-hc"),)),
    ("Mercenaries", "2025-06-13 20:00", "2025-10-27 20:00",
     (("Hardcore Mercenaries", "challenge-hc"), ("Ruthless Mercenaries", "ruthless"),
      ("HC Ruthless Mercenaries", "hc-ruthless"))),
    ("Keepers", "2025-10-31 20:00", "2026-03-02 20:00",
     (("Hardcore Keepers", "challenge-hc"), ("Ruthless Keepers", "ruthless"),
      ("HC Ruthless Keepers", "hc-ruthless"))),
    ("Mirage", "2026-03-06 20:00", "2026-07-06 20:00",
     (("Hardcore Mirage", "challenge-hc"), ("Ruthless Mirage", "ruthless"), ("HC Ruthless Mirage", "hc-ruthless"))),
    ("Allflame", "2026-07-10 20:00", "2026-11-09 20:00",
     (("Hardcore Allflame", "challenge-hc"), ("Ruthless Allflame", "ruthless"),
      ("HC Ruthless Allflame", "hc-ruthless"))),
    ("Verdant", "2026-11-13 20:00", None,
     (("Hardcore Verdant", "challenge-hc"), ("Ruthless Verdant", "ruthless"), ("HC Ruthless Verdant", "hc-ruthless"))),
)
_POE2_CHALLENGES: tuple[tuple[str, str, str | None, tuple[tuple[str, str], ...]], ...] = (
    ("Dawn of the Hunt", "2025-04-04 20:00", "2025-08-25 20:00", (("HC Dawn of the Hunt", "challenge-hc"),)),
    ("Rise of the Abyssal", "2025-08-29 20:00", "2025-12-08 20:00", (("HC Rise of the Abyssal", "challenge-hc"),)),
    ("Fate of the Vaal", "2025-12-12 20:00", "2026-05-04 20:00", (("HC Fate of the Vaal", "challenge-hc"),)),
    ("Runes of Aldur", "2026-05-08 20:00", None, (("HC Runes of Aldur", "challenge-hc"),)),
)
_SHARE = {"standard": 0.4, "hardcore": 0.12, "challenge": 1.0, "challenge-hc": 0.3, "ruthless": 0.1,
          "hc-ruthless": 0.03, "private": 0.03}
# Whether the realm also has permanent Ruthless leagues (PoE 1 only).
_PERMANENT = {
    "pc": (("Standard", "standard"), ("Hardcore", "hardcore"), ("Ruthless", "ruthless"),
           ("Hardcore Ruthless", "hc-ruthless")),
    "poe2": (("Standard", "standard"), ("Hardcore", "hardcore")),
}


def _private_leagues(realm: str, parent: str, launch: int, end: int | None) -> list[League]:
    """Two to four private leagues per challenge league, opened days after it, living weeks."""
    out = []
    for i in range(2 + int(3 * uniform(f"plcount|{realm}|{parent}"))):
        key = f"pl|{realm}|{parent}|{i}"
        name = _PRIVATE_NAMES[int(uniform(key + "|name") * len(_PRIVATE_NAMES))]
        number = 10_000 + int(uniform(key + "|id") * 89_999)
        start = launch + 24 + int(uniform(key + "|start") * 40 * 24)
        stop = start + 14 * 24 + int(uniform(key + "|life") * 42 * 24)
        if end is not None:
            stop = min(stop, end)
        if stop > start:
            out.append(League(f"{name} (PL{number})", "private", start, stop, start, _SHARE["private"]))
    return out


@lru_cache(maxsize=8)
def calendar(realm: str, first_hour: int) -> tuple[League, ...]:
    """Every league of the realm's history, permanent ones first, then by launch.

    `first_hour` (a unix hour) is the realm's first hour of history: permanent leagues trade
    from it (PoE 2's after its launch's empty hours). xbox and sony follow PC's calendar.
    """
    game = "poe2" if realm == "poe2" else "pc"
    challenges = _POE2_CHALLENGES if game == "poe2" else _PC_CHALLENGES
    opens = first_hour + (LAUNCH_EMPTY_HOURS if game == "poe2" else 0)
    leagues = [League(name, kind, opens, None, opens, _SHARE[kind], permanent=True)
               for name, kind in _PERMANENT[game]]
    for name, launch_text, end_text, variants in challenges:
        launch = _hour(launch_text)
        end = _hour(end_text) if end_text else None
        if end is not None and end <= first_hour:
            continue
        start = max(launch, first_hour)
        leagues.append(League(name, "challenge", start, end, launch, _SHARE["challenge"]))
        leagues += [League(v, kind, start, end, launch, _SHARE[kind]) for v, kind in variants]
        leagues += [pl for pl in _private_leagues(realm, name, launch, end) if pl.end is None or pl.end > first_hour]
    return tuple(leagues)


def challenge_launches(realm: str, first_hour: int) -> tuple[int, ...]:
    """Launch hours of the realm's challenge leagues inside its history."""
    return tuple(sorted({league.launch for league in calendar(realm, first_hour)
                         if league.kind == "challenge" and league.launch >= first_hour}))


@lru_cache(maxsize=8)
def empty_hours(realm: str, first_hour: int) -> frozenset[int]:
    """Complete but empty hours: the hours before each launch inside the history (servers down
    for the patch), and PoE 2's first hours before its early access opened."""
    out = {launch - k for launch in challenge_launches(realm, first_hour) if launch > first_hour
           for k in range(1, LAUNCH_EMPTY_HOURS + 1)}
    if realm == "poe2":
        out |= set(range(first_hour, first_hour + LAUNCH_EMPTY_HOURS))
    return frozenset(h for h in out if h >= first_hour)


def is_empty_hour(realm: str, h: int, first_hour: int) -> bool:
    return h in empty_hours(realm, first_hour)


def volume_factor(age: int) -> float:
    """How much a league trades `age` hours after its launch, relative to its peak (1.0 at one
    week): it rises over the first week, then decays towards a quarter of the peak."""
    if age < 0:
        return 0.0
    if age < WEEK:
        return 0.5 + 0.5 * math.sqrt(age / WEEK)
    return _FLOOR + (1 - _FLOOR) * math.exp(-(age - WEEK) / _DECAY_HOURS)


def leagues_at(realm: str, h: int, first_hour: int) -> tuple[tuple[str, float], ...]:
    """(name, weight) of every league trading in hour `h`, in document order.

    A weight is the league's share times how much it trades at its age; it sets both its
    number of markets and its volumes. With no challenge league running (PoE 2's first months)
    the permanent leagues are where everyone plays, and trade like a new challenge league.
    """
    if is_empty_hour(realm, h, first_hour):
        return ()
    active = [league for league in calendar(realm, first_hour) if league.active(h)]
    has_challenge = any(league.kind == "challenge" for league in active)
    out = []
    for league in active:
        if league.permanent and league.kind in ("standard", "hardcore") and not has_challenge:
            weight = (1.0 if league.kind == "standard" else 0.3) * volume_factor(h - league.launch)
        elif league.permanent:
            weight = league.share
        else:
            weight = league.share * volume_factor(h - league.launch)
        out.append((league.name, round(weight, 6)))
    return tuple(out)


def market_factor(realm: str, h: int, first_hour: int) -> float:
    """How many markets trade in the hour relative to the realm's usual count: a few more while
    a challenge league is young (0.9 late in a league, 1.05 at its peak)."""
    weights = [volume_factor(h - league.launch) for league in calendar(realm, first_hour)
               if league.kind == "challenge" and league.active(h)]
    return 0.85 + 0.2 * max(weights, default=0.5)
