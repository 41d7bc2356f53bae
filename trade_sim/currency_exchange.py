"""Hourly Currency Exchange history documents, as GGG publishes them (pure, no I/O).

`currency_exchange_document(hour, realm, config)` gives the exact bytes the simulator's
`GET /api/currency-exchange[/<realm>]/<hour>` answers for a published hour:
compact JSON `{"next_change_id":T+3600,"markets":[...]}` with, per market, the wire key
order `league, market_id, market_pair, volume_traded, lowest_stock, highest_stock,
lowest_ratio, highest_ratio`; every stat a dict keyed by the pair's two metadata paths;
integers only, ratios reduced integer fractions.

What the model does (the traps of the real feed included):
- every league of the realm in one document; each league trades its own subset of the
  catalogue (`cx_catalogue`), weighted by popularity, and markets that did not trade are
  absent; about `cx_markets_per_hour` markets per PC hour, varying with the hour of day;
- the pair order is fixed per pair but not canonical: chaos is first in some pairs and second
  in others, divine comes before exalted, the chaos|divine market is written chaos first;
- executed prices follow the order-book model: an item's VWAP in chaos or divine is its
  `market.price_level` for that hour times a small noise, so the feed moves with the books,
  and the chaos|divine market gives the divine price in chaos; the same level in every league;
- `lowest_ratio`/`highest_ratio` are "first per second" (`ratio[a]:ratio[b]` units of a per
  unit of b) with `lowest <= volume[a]/volume[b] <= highest` exactly; a market with a single
  trade has lowest == highest == that trade's reduced ratio;
- stocks are sampled resting quantities: `lowest <= highest`, 0 on one side happens.

Deterministic from (realm, hour, seed, the cx knobs): the same hour is byte-identical on
every call (published hours are immutable). Generation of a 1.5 MB document takes a few tens
of milliseconds; recent documents are kept in a small LRU cache.
"""

from __future__ import annotations

import heapq
import json
import math
import operator
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

from . import market
from .config import SimConfig
from .cx_catalogue import CHAOS, DIVINE, EXALTED, CxItem, catalogue

__all__ = [
    "REALMS",
    "currency_exchange_document",
    "empty_document",
    "first_hour",
    "league_weight",
    "realm_leagues",
]

REALMS: tuple[str, ...] = ("pc", "poe2", "xbox", "sony")
# Size of each realm's market relative to PC.
_REALM_SCALE = {"pc": 1.0, "poe2": 0.55, "xbox": 0.18, "sony": 0.12}
_CACHE_SIZE = 24  # documents of ~1.5 MB each


def first_hour(realm: str, config: SimConfig) -> int:
    """Unix seconds of the realm's oldest hour of history."""
    hour = config.cx_first_hour_poe2 if realm == "poe2" else config.cx_first_hour
    return int(hour.timestamp())


def realm_leagues(realm: str, config: SimConfig) -> tuple[str, ...]:
    """The leagues present in the realm's documents, in document order."""
    text = config.cx_leagues_poe2 if realm == "poe2" else config.cx_leagues
    return tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))


def league_weight(name: str) -> float:
    """Share of the market a league takes, from what its name says it is."""
    lowered = name.lower()
    if name.endswith(")") and "(PL" in name:
        return 0.03  # private league
    if lowered.startswith(("hc ruthless", "hardcore ruthless")):
        return 0.03
    if "ruthless" in lowered:
        return 0.06 if lowered == "ruthless" else 0.1
    if lowered.startswith(("hardcore", "hc ")):
        return 0.12 if lowered == "hardcore" else 0.3
    if lowered == "standard":
        return 0.4
    return 1.0


def empty_document(next_change_id: int) -> bytes:
    """`{"next_change_id":N,"markets":[]}`, the body of empty, unpublished and terminal answers."""
    return b'{"next_change_id":%d,"markets":[]}' % next_change_id


def currency_exchange_document(
    hour: datetime, realm: str = "pc", config: SimConfig | None = None
) -> bytes:
    """The published document of `hour` (a whole UTC hour) on `realm`, as bytes.

    Hours in `config.cx_empty_hours` give the complete empty hour. Whether the hour is
    published yet, stale cache answers and hours before the first one are the server's
    business (trade_sim.cx_api), not this function's.
    """
    if realm not in REALMS:
        raise ValueError(f"unknown realm {realm!r}; use one of {', '.join(REALMS)}")
    config = config if config is not None else SimConfig()
    if hour.tzinfo is None:
        hour = hour.replace(tzinfo=timezone.utc)
    t = hour.timestamp()
    if t % 3600:
        raise ValueError(f"{hour.isoformat()} is not a whole UTC hour")
    t = int(t)
    if t in config.cx_empty_hours:
        return empty_document(t + 3600)
    return _document(realm, t // 3600, config.seed, config.cx_markets_per_hour,
                     realm_leagues(realm, config), first_hour(realm, config) // 3600)


# --------------------------------------------------------------------------- candidates


@dataclass(frozen=True)
class _Candidate:
    """A market that may trade: the pair in wire order and how it is drawn."""

    a: CxItem
    b: CxItem
    weight: float  # popularity when choosing which markets trade in an hour
    turnover: float  # median chaos turnover per hour in a challenge league
    sigma: float  # executed VWAP noise around the model's price level (log scale)
    prefix: str  # `"market_id":"a|b","market_pair":["a","b"],` pre-rendered
    template: str  # the five stats dicts, with ten %d for the numbers


_STATS = ("volume_traded", "lowest_stock", "highest_stock", "lowest_ratio", "highest_ratio")


def _u(text: str) -> float:
    return market._u(text)


def _wire_order(x: CxItem, y: CxItem) -> tuple[CxItem, CxItem]:
    """A fixed, non-canonical order for the pair (never both orders)."""
    fixed = {(CHAOS, DIVINE): (x, y), (DIVINE, CHAOS): (y, x),
             (DIVINE, EXALTED): (x, y), (EXALTED, DIVINE): (y, x)}
    if (x.path, y.path) in fixed:
        return fixed[(x.path, y.path)]
    lo, hi = sorted((x, y), key=lambda item: item.path)
    # Chaos first in about 57 % of its pairs (641 of 1132 in real history), divine in 40 %.
    p_first = {CHAOS: 0.57, DIVINE: 0.4}
    if lo.path in p_first or hi.path in p_first:
        quote, other = (lo, hi) if lo.path in p_first else (hi, lo)
        first = _u(f"order|{lo.path}|{hi.path}") < p_first[quote.path]
        return (quote, other) if first else (other, quote)
    return (lo, hi) if _u(f"order|{lo.path}|{hi.path}") < 0.5 else (hi, lo)


def _candidate(x: CxItem, y: CxItem, weight: float, turnover: float, sigma: float) -> _Candidate:
    a, b = _wire_order(x, y)
    prefix = f'"market_id":"{a.path}|{b.path}","market_pair":["{a.path}","{b.path}"],'
    pair = '{"' + a.path + '":%d,"' + b.path + '":%d}'
    template = ",".join(f'"{stat}":{pair}' for stat in _STATS) + "}"
    return _Candidate(a, b, weight, turnover, sigma, prefix, template)


@lru_cache(maxsize=4)
def _candidates(realm: str) -> tuple[_Candidate, ...]:
    """Every market of the realm, in a stable order that is not alphabetical."""
    items = catalogue("poe2" if realm == "poe2" else "pc")
    by_path = {item.path: item for item in items}
    chaos, divine = by_path[CHAOS], by_path[DIVINE]
    out: list[_Candidate] = [_candidate(chaos, divine, 1e12, 6_000_000.0, 0.004)]
    for item in items:
        if item.path in (CHAOS, DIVINE):
            continue
        liquid = item.trade_id is not None
        weight = (30.0 if item.kind == "essence" and "deafening" in (item.trade_id or "") else
                  20.0 if item.kind in ("currency", "lifeforce") and liquid else
                  6.0 if liquid else 1.0)
        sigma = 0.015 if liquid else 0.04
        out.append(_candidate(item, chaos, weight, item.turnover, sigma))
        # Divine markets are thinner and cover fewer items.
        if liquid or _u("dq|" + item.path) < 0.6:
            out.append(_candidate(item, divine, weight * 0.6, item.turnover * 0.5, sigma * 1.3))
    # Cross markets between two non-quote items (portal|wisdom, chrome|transmute, ...).
    cheap = [item for item in items if item.path not in (CHAOS, DIVINE)]
    for i in range(180 * len(cheap) // 740):
        x = cheap[int(_u(f"cross-a|{i}") * len(cheap))]
        y = cheap[int(_u(f"cross-b|{i}") * len(cheap))]
        if x is not y:
            out.append(_candidate(x, y, 0.8, 150.0, 0.06))
    first, rest = out[0], out[1:]
    rest.sort(key=lambda c: _u(f"pos|{c.a.path}|{c.b.path}"))
    unique: dict[frozenset[str], _Candidate] = {}
    for c in rest:
        unique.setdefault(frozenset((c.a.path, c.b.path)), c)
    return (first, *unique.values())


# --------------------------------------------------------------------------- values


def _chaos_value(item: CxItem, h: int, seed: int) -> float:
    """The model's chaos value of `item` at hour index `h` (order-book level when mapped)."""
    if item.trade_id is not None:
        return market._chaos_value_h(item.trade_id, h, seed)
    # Unmapped items drift like any model item around their own base value.
    return item.base * market._chaos_value_h(item.path, h, seed) / market.base_value(item.path)


def _reduce(x: int, y: int) -> tuple[int, int]:
    g = math.gcd(x, y)
    return x // g, y // g


def _below(r: float, d: int, va: int, vb: int) -> tuple[int, int]:
    """A fraction x/y (a per b) with small terms, x/y <= va/vb, close to r <= va/vb."""
    if r >= 1:
        x, y = max(1, math.floor(r * d)), d
    else:
        x, y = d, max(1, math.ceil(d / r))
    while x * vb > va * y:  # float rounding: step down until it holds exactly
        if x > 1:
            x -= 1
        else:
            y += 1
    return _reduce(x, y)


def _above(r: float, d: int, va: int, vb: int) -> tuple[int, int]:
    """A fraction x/y (a per b) with small terms, x/y >= va/vb, close to r >= va/vb."""
    if r >= 1:
        x, y = max(1, math.ceil(r * d)), d
    else:
        x, y = d, max(1, math.floor(d / r))
    while x * vb < va * y:
        if y > 1:
            y -= 1
        else:
            x += 1
    return _reduce(x, y)


_DENOMINATORS = (1, 1, 1, 1, 1, 2, 2, 3, 4, 5)


def _stats(c: _Candidate, rng: random.Random, values: dict[str, float], scale: float) -> str:
    """The rendered stats of one traded market (everything after `market_pair`)."""
    r = rng.random
    gauss = rng.gauss
    value_a = values[c.a.path]
    value_b = values[c.b.path]
    noise = math.exp(max(-3.0, min(3.0, gauss(0.0, 1.0))) * c.sigma)
    price = value_a / value_b * noise  # executed b per a
    turnover = c.turnover * scale * math.exp(gauss(0.0, 0.6))
    # The dear side's volume comes from the turnover, the cheap side's from the price.
    if value_a >= value_b:
        va = max(1, round(turnover / value_a))
        vb = max(1, round(va * price))
    else:
        vb = max(1, round(turnover / value_b))
        va = max(1, round(vb / price))
    trades = max(1, min(max(va, vb), int(turnover / (20.0 + 200.0 * r()))))
    d = _DENOMINATORS[int(r() * len(_DENOMINATORS))]
    u_lo, u_hi = r(), r()
    if trades == 1:
        # One trade at a ratio a player would type: a few units for a few units.
        if price >= 1:
            x, y = d, max(1, round(price * d))
        else:
            x, y = max(1, round(d / price)), d
        x, y = _reduce(x, y)
        lots = max(1, round(max(va / x, vb / y)))
        va, vb = x * lots, y * lots
        low = high = (x, y)
    else:
        vwap = va / vb  # a per b
        spread = c.sigma * (0.5 + math.log10(trades)) * 1.5
        low = _below(vwap * (1 - spread * (0.1 + u_lo)), d, va, vb)
        high = _above(vwap * (1 + spread * (0.1 + u_hi)), d, va, vb)
    stocks = []
    for volume in (va, vb):
        if r() < 0.12:
            stocks.append((0, 0, r()))
        else:
            top = max(1, round(volume * math.exp(gauss(-1.0, 0.8))))
            stocks.append((round(top * (0.5 + 0.5 * r())), top, 0))
    (lo_a, hi_a, _), (lo_b, hi_b, _) = stocks
    return c.template % (va, vb, lo_a, lo_b, hi_a, hi_b, low[0], low[1], high[0], high[1])


def _market_count(realm: str, h: int, seed: int, per_hour: int, first: int) -> int:
    diurnal = 1.0 + 0.12 * math.sin(2 * math.pi * ((h % 24) - 9) / 24)
    jitter = 1.0 + 0.12 * (_u(f"cxn|{realm}|{h}|{seed}") - 0.5)
    # The feed started small: 109 markets in the first PC hour, 232 in the next.
    ramp = min(1.0, 0.07 * 2.2 ** min(8, max(0, h - first)))
    return round(per_hour * _REALM_SCALE[realm] * diurnal * jitter * ramp)


class _HourValues(dict):
    """Chaos values of the items at one hour, computed on first use."""

    def __init__(self, h: int, seed: int) -> None:
        super().__init__()
        self.h = h
        self.seed = seed
        self.items = _items_by_path()

    def __missing__(self, path: str) -> float:
        value = self[path] = _chaos_value(self.items[path], self.h, self.seed)
        return value


@lru_cache(maxsize=1)
def _items_by_path() -> dict[str, CxItem]:
    return {item.path: item for realm in ("pc", "poe2") for item in catalogue(realm)}


@lru_cache(maxsize=4)
def _neg_inverse_weights(realm: str) -> tuple[float, ...]:
    return tuple(-1.0 / c.weight for c in _candidates(realm))


@lru_cache(maxsize=_CACHE_SIZE)
def _document(
    realm: str, h: int, seed: int, per_hour: int, leagues: tuple[str, ...], first: int
) -> bytes:
    candidates = _candidates(realm)
    weights = [league_weight(name) for name in leagues]
    total_weight = sum(weights) or 1.0
    total = _market_count(realm, h, seed, per_hour, first)
    activity = 1.0 + 0.25 * math.sin(2 * math.pi * ((h % 24) - 9) / 24)
    values = _HourValues(h, seed)
    parts: list[str] = []
    for league, weight in zip(leagues, weights):
        n = min(len(candidates), round(total * weight / total_weight))
        if n <= 0:
            continue
        rng = random.Random(market._h64(f"cx|{realm}|{league}|{h}|{seed}"))
        r = rng.random
        # Weighted sampling without replacement (Efraimidis-Spirakis keys), then the
        # chosen markets in their stable document order.
        # 1 - random() is in (0, 1], so the log is finite; key = -log(u) / weight.
        keys = list(map(operator.mul, map(math.log, [1.0 - r() for _ in candidates]),
                        _neg_inverse_weights(realm)))
        chosen = sorted(heapq.nsmallest(n, range(len(candidates)), key=keys.__getitem__))
        head = '{"league":' + json.dumps(league, ensure_ascii=False) + ","
        scale = min(1.0, weight) * activity
        for i in chosen:
            c = candidates[i]
            parts.append(head + c.prefix + _stats(c, rng, values, scale))
    next_id = (h + 1) * 3600
    return ('{"next_change_id":%d,"markets":[' % next_id + ",".join(parts) + "]}").encode()
