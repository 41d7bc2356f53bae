"""Deterministic market model: price levels and order books in the real API shape.

Pure functions of (item id, currency, UTC hour, league, seed): no I/O, no global
state, no wall clock. The same inputs always give the same book; neighbouring hours
share a smoothly moving price level (sum of sines + interpolated hash noise), while
the sellers themselves are redrawn every hour.

Each (item, hour) has one seller population. A seller accepts one or two payment
currencies (e.g. divine and chaos) and then carries one offer per currency, all
sharing the listing id and stock; `order_book(item, have)` returns the sellers
that accept `have`, so a multi-currency seller shows up identically in the divine
and the chaos book. Currencies that sellers of the item do not normally accept get
a thin, separately seeded book.

Speed matters (another part of the project builds months of hourly history from
this), so randomness comes from one `random.Random` per book with a fixed number
of draws per seller, and dicts are only built for sellers that are returned.
"""

from __future__ import annotations

import binascii
import json
import math
import random
import struct
import time
from datetime import datetime
from functools import lru_cache
from typing import Any, Iterable

from . import static
from .stable import hash64, hour_index, uniform

__all__ = [
    "DEAFENING_TYPES",
    "ESSENCE_FAMILY_DEAFENING",
    "base_value",
    "exchange_response",
    "order_book",
    "price_level",
    "unit_price",
]

DEAFENING_TYPES: tuple[str, ...] = (
    "greed", "contempt", "hatred", "woe", "fear", "anger", "torment", "sorrow", "rage",
    "suffering", "wrath", "doubt", "loathing", "zeal", "anguish", "spite", "scorn",
    "envy", "misery", "dread",
)
ESSENCE_FAMILY_DEAFENING: tuple[str, ...] = tuple(
    f"deafening-essence-of-{t}" for t in DEAFENING_TYPES
)

# Chaos value of the Deafening tier; five targets worth rerolling into, the rest cheap.
# The hourly movement stays within about exp(+-0.27), which keeps the five inside
# 6-15 chaos and the rest under 5.
_DEAFENING_CHAOS: dict[str, float] = {
    "misery": 11.5, "dread": 10.5, "envy": 9.5, "scorn": 8.5, "contempt": 8.0,
    "zeal": 3.8, "wrath": 3.5, "hatred": 3.2, "rage": 2.8, "anguish": 2.6,
    "greed": 2.5, "suffering": 2.4, "anger": 2.2, "doubt": 2.1, "woe": 2.0,
    "loathing": 1.9, "torment": 1.8, "sorrow": 1.7, "fear": 1.6, "spite": 1.5,
}
# Lower tiers as a fraction of the same type's Deafening value.
_TIER_FACTOR: dict[str, float] = {
    "deafening": 1.0, "shrieking": 0.45, "screaming": 0.2, "wailing": 0.08,
    "weeping": 0.04, "muttering": 0.02, "whispering": 0.01,
}
_CORRUPTED_CHAOS: dict[str, float] = {
    "essence-of-hysteria": 6.0, "essence-of-insanity": 5.0,
    "essence-of-horror": 9.0, "essence-of-delirium": 7.0,
}
_CURRENCY_CHAOS: dict[str, float] = {
    "chaos": 1.0, "divine": 200.0, "exalted": 15.0, "mirror": 60000.0,
    "alt": 0.15, "fusing": 0.5, "alch": 0.3, "gcp": 1.0, "chrome": 0.12,
    "jewellers": 0.15, "chance": 0.1, "chisel": 0.6, "scour": 0.4, "blessed": 0.3,
    "regret": 0.5, "regal": 0.4, "vaal": 0.8, "annul": 3.0, "orb-of-binding": 0.15,
    "ancient-orb": 1.5, "orb-of-horizons": 0.3, "harbingers-orb": 1.0,
    "fracturing-orb": 40.0, "wisdom": 0.01, "portal": 0.02, "scrap": 0.02,
    "whetstone": 0.05, "bauble": 0.1, "transmute": 0.02, "aug": 0.05,
    "awakeners-orb": 12.0, "mavens-orb": 60.0, "sacred-orb": 90.0,
    "hinekoras-lock": 18000.0, "eternal": 40000.0,
    "wild-lifeforce": 0.15, "vivid-lifeforce": 0.12, "primal-lifeforce": 0.075,
    "sacred-lifeforce": 25.0,
    "chaos-shard": 0.05, "exalted-shard": 0.75, "mirror-shard": 3000.0,
}

# How many sellers an item typically has in one hour (before the `have` filter).
_LIQUIDITY_DEFAULT = 25.0
_MAX_POPULATION = 140
_MAX_BOOK = 100
# A healthy book: every population book (an item paid in a currency its sellers accept) holds at
# least this many honest sellers with real stock, so every watched item and strategy can be priced
# in every hour, whatever the day. Empty books (an indexer hiccup) are a trap a caller asks for
# with `empty_book_rate` (SimConfig.empty_book_rate); thin books of rarely used currency pairs stay.
_MIN_HONEST_SELLERS = 3

_JWT_HEADER = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9"  # {"typ":"JWT","alg":"HS256"}
_TOKEN_TTL = 300  # the real tokens expire 300 s after issue

_NAME_HEAD = (
    "Zero", "Lord", "Dark", "Frost", "Blood", "Storm", "Shadow", "Iron", "Night", "Sky",
    "Void", "Ember", "Grim", "Silver", "Wolf", "Raven", "Ash", "Hex", "Rune", "Vaal",
    "Kitava", "Exile", "Mirror", "Chaos", "Divine", "Tabula", "Mage", "Totem", "Mine",
)
_NAME_TAIL = (
    "mus", "Rage", "blade", "Hunter", "Trader", "Walker", "fang", "born", "smith",
    "lord", "heart", "caller", "runner", "Flip", "Bulk", "Slayer", "Poe", "Crafter",
    "Farmer", "Stash", "Juicer", "Mapper", "Delver", "Harvest", "Ess",
)
_CHAR_SUFFIX = (
    "", "", "_Trial", "_SSF", "Hc", "_Ruthless", "Bv", "Rf", "Ca", "Tr", "_Mule", "Lab",
    "Str", "Ele",
)
_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


# --------------------------------------------------------------------------- values


@lru_cache(maxsize=4096)
def base_value(item_id: str) -> float:
    """Long-run value of one unit in chaos, before the hourly movement."""
    if item_id in _CURRENCY_CHAOS:
        return _CURRENCY_CHAOS[item_id]
    if item_id in _CORRUPTED_CHAOS:
        return _CORRUPTED_CHAOS[item_id]
    tier, sep, kind = item_id.partition("-essence-of-")
    if sep and tier in _TIER_FACTOR:
        deafening = _DEAFENING_CHAOS.get(kind, 2.0)
        return max(0.005, deafening * _TIER_FACTOR[tier])
    # Anything else: a stable, log-uniform 0.2..5 chaos so every id can be priced.
    return 0.2 * math.exp(math.log(25.0) * uniform("base|" + item_id))


@lru_cache(maxsize=4096)
def _movement_params(item_id: str, seed: int) -> tuple[float, ...]:
    """Per-item volatility and sine phases, fixed for a (item, seed)."""
    if item_id == "chaos":
        vol = 0.0  # chaos is the numeraire
    elif item_id == "divine":
        vol = 0.8  # keeps divine inside ~165-245 chaos
    elif item_id.endswith("-lifeforce"):
        vol = 1.2
    else:
        vol = 1.0
    key = f"{item_id}|{seed}"
    return (
        vol,
        2 * math.pi * uniform("p720|" + key),
        2 * math.pi * uniform("p168|" + key),
        2 * math.pi * uniform("p24|" + key),
        0.6 + 0.8 * uniform("amp|" + key),
    )


def _value_noise(item_id: str, seed: int, h: int, span: int, octave: str) -> float:
    """Smoothly interpolated hash noise in [-1, 1] with knots every `span` hours."""
    k, rem = divmod(h, span)
    a = uniform(f"vn|{octave}|{item_id}|{seed}|{k}") * 2 - 1
    b = uniform(f"vn|{octave}|{item_id}|{seed}|{k + 1}") * 2 - 1
    t = rem / span
    t = t * t * (3 - 2 * t)  # smoothstep: continuous slope at the knots
    return a + (b - a) * t


# Lifeforce follows the players' day: Harvest farmers flood the market in the evening and it
# dries up by morning, a swing of about ±25 % (traders report the reroll paying at some hours
# only). With primal lifeforce at 0.075 chaos that moves the cost of a reroll across the
# break-even of both policies of the default strategy (see the README's calibration note).
_DAILY_SWING = {"primal-lifeforce": 0.2, "vivid-lifeforce": 0.2, "wild-lifeforce": 0.2}
_DAILY_SWING_DEFAULT = 0.015


def _log_drift(item_id: str, h: int, seed: int) -> float:
    vol, p720, p168, p24, amp = _movement_params(item_id, seed)
    if vol == 0.0:
        return 0.0
    two_pi = 2 * math.pi
    drift = (
        0.08 * amp * math.sin(two_pi * h / 720 + p720)
        + 0.03 * math.sin(two_pi * h / 168 + p168)
        + _DAILY_SWING.get(item_id, _DAILY_SWING_DEFAULT) * math.sin(two_pi * h / 24 + p24)
        + 0.07 * _value_noise(item_id, seed, h, 48, "slow")
        + 0.03 * _value_noise(item_id, seed, h, 8, "fast")
        + 0.005 * (uniform(f"jit|{item_id}|{seed}|{h}") * 2 - 1)
    )
    return vol * drift


@lru_cache(maxsize=65536)  # history builders ask for the same currency every hour
def _chaos_value_h(item_id: str, h: int, seed: int) -> float:
    return base_value(item_id) * math.exp(_log_drift(item_id, h, seed))


def price_level(item_id: str, have: str, hour: datetime, seed: int = 7) -> float:
    """Fair price of 1 `item_id` in units of `have` at `hour` (the market mid level)."""
    h = hour_index(hour)
    return _chaos_value_h(item_id, h, seed) / _chaos_value_h(have, h, seed)


# --------------------------------------------------------------------------- sellers


def _payment_currencies(item_id: str) -> tuple[tuple[str, str], float]:
    """The two currencies sellers of `item_id` accept, and P(first is the primary)."""
    if item_id == "chaos":
        return ("divine", "exalted"), 0.8
    if item_id == "divine":
        return ("chaos", "exalted"), 0.85
    value = base_value(item_id)
    if value >= 100:
        return ("divine", "chaos"), 0.8
    if value < 0.5:
        # Bulk of cheap items is mostly sold for divines (many units per divine).
        return ("divine", "chaos"), 0.6
    return ("divine", "chaos"), 0.45


def _liquidity(item_id: str) -> float:
    if item_id in ("divine", "chaos"):
        return 125.0
    if item_id == "exalted":
        return 70.0
    if item_id in ESSENCE_FAMILY_DEAFENING:
        return 26.0 if base_value(item_id) >= 6 else 48.0
    if item_id.endswith("-lifeforce"):
        return 70.0
    if "essence-of-" in item_id:
        return 18.0
    return _LIQUIDITY_DEFAULT


_LOTS_BIG = (1, 1, 1, 1, 2, 3, 5, 10, 15, 20)  # item units sold per lot when item is dear
_LOTS_SMALL = (1, 1, 1, 1, 2, 3, 5)  # currency units asked per lot when item is cheap


def _amounts(q: float, u1: float, u2: float, fixer: bool) -> tuple[int, int]:
    """Integer (exchange.amount, item.amount) whose ratio approximates price `q`."""
    if q >= 1:
        m = _LOTS_BIG[int(u1 * len(_LOTS_BIG))]
        if q * m < 15 and (q < 8 or u2 < 0.6):
            # Mid-priced items: a 1-unit lot would round the price badly, so sellers
            # pick lots that express it finely ("17 chaos for 12").
            m = math.ceil(15 / q) + int(u2 * 10)
        if fixer and m < 2:
            m = 2 + int(u2 * 8)
        return max(1, round(q * m)), m
    n = _LOTS_SMALL[int(u1 * len(_LOTS_SMALL))]
    if n / q < 15:
        n = math.ceil(15 * q) + int(u2 * 3)
    m = max(1, round(n / q))
    if fixer and m < 2:
        m = 2
    return n, m


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _short_id(key: str, length: int = 6) -> str:
    x = hash64(key)
    out = []
    for _ in range(length):
        x, r = divmod(x, 62)
        out.append(_ALNUM[r])
    return "".join(out)


def _book_seed(kind: str, item_id: str, have: str, h: int, seed: int) -> int:
    return hash64(f"{kind}|{item_id}|{have}|{h}|{seed}")


@lru_cache(maxsize=4096)
def static_name(item_id: str) -> str:
    """Whisper name of an id; unknown ids fall back to the id itself."""
    try:
        return static.item_name(item_id)
    except KeyError:
        return item_id


_U16 = 1.0 / 65536
_MASK256 = (1 << 256) - 1
# Each seller takes two draws: 12 uniforms of 16 bits (pricing), and an identity of
# 256 bits listing id + 256 bits token signature + 64 bits for names and time.
_N_UNIFORMS = 12
_UNIFORM_BYTES = 2 * _N_UNIFORMS
_UNIFORM_BITS = 8 * _UNIFORM_BYTES
_UNPACK_UNIFORMS = struct.Struct(f"<{_N_UNIFORMS}H").unpack
_SIG_SHIFT = 256
_SMALL_SHIFT = 512
_IDENTITY_BITS = 576


class _ListingFactory:
    """Builds `result[<id>]` dicts for one book; per-book strings are computed once."""

    def __init__(self, item_id: str, league: str, book_id: str, hour_start: int) -> None:
        self.item_id = item_id
        self.league = league
        self.item_whisper = "{0} " + static_name(item_id)
        self.hour_start = hour_start
        # Listings were indexed during the hour before the book's hour.
        self.indexed_prefix = time.strftime("%Y-%m-%dT%H:", time.gmtime(hour_start - 3600))
        self.whisper_tail = " Hi, I'd like to buy your {0} for my {1} in " + league
        # Mirrors the real token payload (jti/iss/aud shared by the whole answer).
        self.payload_head = (
            f'{{"jti":"{book_id}","iss":"{book_id[:6]}","aud":"tradewatch-sim","dst":"'
        )
        self.payload_tail = f'"iat":{hour_start},"exp":{hour_start + _TOKEN_TTL}}}'

    def make(self, identity: int, offers: list[tuple[str, int, int]], stock: int) -> dict[str, Any]:
        """One listing from the seller's identity bits and its priced offers."""
        lid = "%064x" % (identity & _MASK256)
        sig = ((identity >> _SIG_SHIFT) & _MASK256).to_bytes(32, "big")
        small = identity >> _SMALL_SHIFT
        head = _NAME_HEAD[small % 29]
        tail = _NAME_TAIL[(small >> 5) % 25]
        digits = (small >> 10) % 1000
        suffix = _CHAR_SUFFIX[(small >> 20) % 14]
        offset = 1 + (small >> 24) % 3599
        name = f"{head}{tail}{digits}" if digits < 600 else f"{head}{tail}"
        char = f"{tail}{head}{suffix}" if digits & 1 else f"{head}{tail}{suffix}"
        item_id = self.item_id
        item_whisper = self.item_whisper
        offer_dicts = []
        dat = []
        for cur, n, m in offers:
            offer_dicts.append({
                "exchange": {"currency": cur, "amount": n, "whisper": "{0} " + static_name(cur)},
                "item": {"currency": item_id, "amount": m, "stock": stock, "id": lid,
                         "whisper": item_whisper},
            })
            dat.append(
                f'{{"exchange":{{"currency":"{cur}","amount":{n}}},"item":{{"currency":'
                f'"{item_id}","amount":{m},"stock":{stock},"id":"{lid}"}}}}'
            )
        payload = (
            f'{self.payload_head}{char}","loc":"en_US","tok":"exchange","sub":"{lid}",'
            f'"dat":[{",".join(dat)}],{self.payload_tail}'
        )
        token = (
            _JWT_HEADER + "."
            + binascii.b2a_base64(payload.encode(), newline=False)
            .translate(_URLSAFE).rstrip(b"=").decode()
            + "."
            + binascii.b2a_base64(sig, newline=False).translate(_URLSAFE).rstrip(b"=").decode()
        )
        return {
            "id": lid,
            "item": None,
            "listing": {
                "indexed": "%s%02d:%02d+00:00" % (self.indexed_prefix, offset // 60, offset % 60),
                "account": {
                    "name": name,
                    "online": {"league": self.league},
                    "lastCharacterName": char,
                    "language": "en_US",
                    "realm": "pc",
                },
                "offers": offer_dicts,
                "whisper": "@" + char + self.whisper_tail,
                "whisper_token": token,
            },
        }


def _seller_kind(u: float) -> str:
    """Maps a uniform to a seller archetype (4% fixers, 3% partial, 8% greedy)."""
    if u < 0.04:
        return "fixer"  # stock 1 far under market: cannot be filled
    if u < 0.07:
        return "partial"  # honest seller who sold part of the lot
    if u < 0.15:
        return "greedy"
    return "normal"


def _markup(kind: str, u1: float, u2: float) -> float:
    if kind == "fixer":
        return 0.3 + 0.4 * u1
    if kind == "greedy":
        return 1.2 + 1.3 * u1
    # Normal sellers cluster just around the level, with a tail above it.
    return 0.97 + 0.06 * u1 + 0.12 * u2 * u2


def _stock(kind: str, max_m: int, u: float) -> int:
    if kind == "fixer":
        return 1
    if kind == "partial" and max_m > 1:
        return 1 + int(u * (max_m - 1))
    return max_m * (1 + int(u * u * 30))


def _population_book(
    item_id: str, have: str, h: int, league: str, seed: int, empty_book_rate: float = 0.0
) -> list[tuple[float, dict[str, Any]]]:
    """(unit price in `have`, listing) for the sellers of (item, hour) accepting `have`."""
    rng = random.Random(_book_seed("pop", item_id, "", h, seed))
    # drawn whatever the rate, so that asking for empty books leaves every other book as it was
    if rng.random() < empty_book_rate:
        return []
    activity = 1.0 + 0.25 * math.sin(2 * math.pi * (h % 24 - 9) / 24)  # evening peak
    size = _liquidity(item_id) * activity * math.exp(rng.gauss(0.0, 0.3))
    n_sellers = min(_MAX_POPULATION, int(size))
    (cur_a, cur_b), p_a = _payment_currencies(item_id)
    value = _chaos_value_h(item_id, h, seed)
    q_a = value / _chaos_value_h(cur_a, h, seed)
    q_b = value / _chaos_value_h(cur_b, h, seed)
    hour_start = h * 3600
    factory = _ListingFactory(item_id, league, "%032x" % rng.getrandbits(128), hour_start)
    want_a = have == cur_a
    want_b = have == cur_b
    threshold_a = p_a * 65536
    threshold_multi = 0.12 * 65536
    out: list[tuple[float, dict[str, Any]]] = []
    honest = 0
    getbits = rng.getrandbits
    for _ in range(n_sellers):
        # Fixed-size draws per seller keep every book identical whatever `have` is.
        r = _UNPACK_UNIFORMS(getbits(_UNIFORM_BITS).to_bytes(_UNIFORM_BYTES, "little"))
        identity = getbits(_IDENTITY_BITS)
        accepts_a = r[0] < threshold_a
        multi = r[1] < threshold_multi
        takes_a = accepts_a or multi
        takes_b = multi or not accepts_a
        if not ((want_a and takes_a) or (want_b and takes_b)):
            continue
        kind = _seller_kind(r[2] * _U16)
        fixer = kind == "fixer"
        markup = _markup(kind, r[3] * _U16, r[4] * _U16)
        offers: list[tuple[str, int, int]] = []
        if takes_a:
            # Per-currency jitter: a seller's two prices are not exact conversions.
            q = q_a * markup * (0.99 + 0.02 * _U16 * r[9])
            n, m = _amounts(q, r[5] * _U16, r[6] * _U16, fixer)
            offers.append((cur_a, n, m))
            if want_a:
                price = n / m
        if takes_b:
            q = q_b * markup * (0.99 + 0.02 * _U16 * r[10])
            n, m = _amounts(q, r[7] * _U16, r[8] * _U16, fixer)
            if accepts_a:
                offers.append((cur_b, n, m))
            else:
                offers.insert(0, (cur_b, n, m))  # the seller's main currency comes first
            if want_b:
                price = n / m
        stock = _stock(kind, max(o[2] for o in offers), r[11] * _U16)
        honest += kind == "normal"
        out.append((price, factory.make(identity, offers, stock)))
    if honest < _MIN_HONEST_SELLERS:
        out += _floor_sellers(item_id, have, q_a if want_a else q_b, h, seed, factory,
                              _MIN_HONEST_SELLERS - honest)
    return out


def _floor_sellers(item_id: str, have: str, q: float, h: int, seed: int, factory: _ListingFactory,
                   count: int) -> list[tuple[float, dict[str, Any]]]:
    """`count` honest single-currency sellers near the level, from a generator of their own: a
    quiet hour still has a market, and the books that need none of them stay as they were."""
    rng = random.Random(_book_seed("floor", item_id, have, h, seed))
    out = []
    for _ in range(count):
        r = _UNPACK_UNIFORMS(rng.getrandbits(_UNIFORM_BITS).to_bytes(_UNIFORM_BYTES, "little"))
        identity = rng.getrandbits(_IDENTITY_BITS)
        n, m = _amounts(q * _markup("normal", r[0] * _U16, r[1] * _U16), r[2] * _U16, r[3] * _U16, False)
        out.append((n / m, factory.make(identity, [(have, n, m)], _stock("normal", m, r[4] * _U16))))
    return out


def _thin_book(
    item_id: str, have: str, h: int, league: str, seed: int
) -> list[tuple[float, dict[str, Any]]]:
    """Few single-offer sellers for a currency pair the market rarely uses."""
    rng = random.Random(_book_seed("thin", item_id, have, h, seed))
    n_sellers = int(rng.random() ** 2 * 9)
    q = _chaos_value_h(item_id, h, seed) / _chaos_value_h(have, h, seed)
    hour_start = h * 3600
    factory = _ListingFactory(item_id, league, "%032x" % rng.getrandbits(128), hour_start)
    out = []
    for _ in range(n_sellers):
        r = _UNPACK_UNIFORMS(rng.getrandbits(_UNIFORM_BITS).to_bytes(_UNIFORM_BYTES, "little"))
        identity = rng.getrandbits(_IDENTITY_BITS)
        kind = _seller_kind(r[0] * _U16)
        # Thin markets are wider: spread sellers further from the level.
        mk = _markup(kind, r[1] * _U16, r[2] * _U16) * (0.9 + 0.4 * _U16 * r[5])
        n, m = _amounts(q * mk, r[3] * _U16, r[4] * _U16, kind == "fixer")
        stock = _stock(kind, m, r[6] * _U16)
        out.append((n / m, factory.make(identity, [(have, n, m)], stock)))
    return out


def unit_price(listing: dict[str, Any], have: str | Iterable[str]) -> float:
    """exchange.amount / item.amount of the listing's first offer paid in `have`.

    With several `have` currencies the cheapest of the matching offers counts.
    Raises ValueError if the listing has no offer in `have`.
    """
    haves = {have} if isinstance(have, str) else set(have)
    best = math.inf
    for offer in listing["listing"]["offers"]:
        if offer["exchange"]["currency"] in haves:
            best = min(best, offer["exchange"]["amount"] / offer["item"]["amount"])
    if best == math.inf:
        raise ValueError(f"listing {listing['id']} has no offer in {sorted(haves)}")
    return best


def _raw_book(
    item_id: str, have: str, h: int, league: str, seed: int, empty_book_rate: float = 0.0
) -> list[tuple[float, dict[str, Any]]]:
    """Unsorted (unit price in `have`, listing) pairs, at most 100."""
    if item_id == have:
        return []
    pair, _ = _payment_currencies(item_id)
    if have in pair:
        book = _population_book(item_id, have, h, league, seed, empty_book_rate)
    else:
        book = _thin_book(item_id, have, h, league, seed)
    return book[:_MAX_BOOK]


def _price_key(pair: tuple[float, dict[str, Any]]) -> float:
    return pair[0]


def order_book(
    item_id: str, have: str, hour: datetime, *, league: str = "Standard", seed: int = 7,
    empty_book_rate: float = 0.0,
) -> list[dict[str, Any]]:
    """The 0-100 listings selling `item_id` for `have` at `hour`, cheapest unit price first.

    Each element is a `result[<id>]` value of the real exchange answer. Listings may
    carry offers in other currencies too; the `have` offer is always among them. A book
    of a currency the item's sellers accept always holds a few honest sellers, unless
    `empty_book_rate` (the share of (item, hour) books left empty) empties it.
    """
    book = _raw_book(item_id, have, hour_index(hour), league, seed, empty_book_rate)
    book.sort(key=_price_key)
    return [listing for _, listing in book]


# --------------------------------------------------------------------------- full answer


def exchange_response(
    query: dict[str, Any],
    hour: datetime,
    *,
    league: str,
    seed: int = 7,
    max_results: int = 100,
    empty_book_rate: float = 0.0,
) -> dict[str, Any]:
    """The full body of a bulk-exchange answer for an already validated request.

    `query` is the request body (`{"query": {...}, "sort": {...}}`); a bare inner
    query (with `have`/`want`) is accepted too and sorted ascending. Several `want`
    or `have` ids give one merged book. Multi-`have` books are ordered by the
    cheapest matching offer converted to chaos, since raw ratios in different
    currencies are not comparable. `empty_book_rate` as in `order_book`.
    """
    if "query" in query:
        inner = query["query"]
        direction = (query.get("sort") or {}).get("have", "asc")
    else:
        inner, direction = query, "asc"
    haves: list[str] = list(dict.fromkeys(inner["have"]))
    wants: list[str] = list(dict.fromkeys(inner["want"]))
    minimum = inner.get("minimum")
    h = hour_index(hour)

    merged: dict[str, dict[str, Any]] = {}
    for want in wants:
        for have in haves:
            for _, listing in _raw_book(want, have, h, league, seed, empty_book_rate):
                # A seller accepting two requested currencies appears once.
                merged.setdefault(listing["id"], listing)
    listings = list(merged.values())
    if minimum:
        listings = [
            lst for lst in listings if lst["listing"]["offers"][0]["item"]["stock"] >= minimum
        ]

    if len(haves) == 1:
        key = lambda lst: unit_price(lst, haves[0])  # noqa: E731
    else:
        rate = {c: _chaos_value_h(c, h, seed) for c in haves}

        def key(lst: dict[str, Any]) -> float:
            return min(
                o["exchange"]["amount"] / o["item"]["amount"] * rate[o["exchange"]["currency"]]
                for o in lst["listing"]["offers"]
                if o["exchange"]["currency"] in rate
            )

    # Ties broken by id so the order never depends on generation order.
    listings.sort(key=lambda lst: (key(lst), lst["id"]), reverse=(direction == "desc"))
    canonical = json.dumps([sorted(haves), sorted(wants), minimum, direction, league])
    # Key order as in the recorded real answer.
    return {
        "id": _short_id(f"resp|{canonical}|{h}|{seed}"),
        "complexity": None,
        "result": {lst["id"]: lst for lst in listings[:max_results]},
        "total": len(listings),
    }

