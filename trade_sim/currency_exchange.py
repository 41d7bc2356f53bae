"""Hourly Currency Exchange history documents, as GGG publishes them (pure, no I/O).

`currency_exchange_document(hour, realm, config)` gives the exact bytes the simulator's
`GET /api/currency-exchange[/<realm>]/<hour>` answers for a published hour:
compact JSON `{"next_change_id":T+3600,"markets":[...]}` with, per market, the wire key
order `league, market_id, market_pair, volume_traded, lowest_stock, highest_stock,
lowest_ratio, highest_ratio`; every stat a dict keyed by the pair's two metadata paths;
integers only, ratios reduced integer fractions.

What the model does (the traps of the real feed included):
- every league of the realm in one document: the fixed `cx_leagues` lists, or with
  `cx_calendar` the realm's league calendar (`cx_calendar`: launches with their variants, empty
  hours before a launch, volume rising over a league's first week then decaying, private
  leagues coming and going); each league trades its own subset of the
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
every call (published hours are immutable). Generating a 1.5 MB document takes about 15 ms
(one league at a time, vectorised with numpy; the random streams come from the standard
library's `random`, so they do not depend on numpy's generators); recent documents are kept
in a small LRU cache.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache

import numpy as np

from . import cx_calendar, market
from .config import SimConfig, hour_set
from .cx_catalogue import CHAOS, DIVINE, EXALTED, CxItem, catalogue
from .stable import hash64, uniform

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
    # Normalised here too: tests may assign a plain set of ints or datetimes at runtime.
    if t in hour_set("cx_empty_hours", config.cx_empty_hours):
        return empty_document(t + 3600)
    h, first = t // 3600, first_hour(realm, config) // 3600
    if config.cx_calendar:
        if cx_calendar.is_empty_hour(realm, h, first):
            return empty_document(t + 3600)
        leagues = cx_calendar.leagues_at(realm, h, first)
        factor = cx_calendar.market_factor(realm, h, first)
    else:
        leagues = tuple((name, league_weight(name)) for name in realm_leagues(realm, config))
        factor = 1.0
    return _document(realm, h, config.seed, config.cx_markets_per_hour, leagues, first, factor)


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
        first = uniform(f"order|{lo.path}|{hi.path}") < p_first[quote.path]
        return (quote, other) if first else (other, quote)
    return (lo, hi) if uniform(f"order|{lo.path}|{hi.path}") < 0.5 else (hi, lo)


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
                  6.0 if liquid else 1.0) * item.popularity
        sigma = 0.015 if liquid else 0.04
        out.append(_candidate(item, chaos, weight, item.turnover, sigma))
        # Divine markets are thinner and cover fewer items.
        if liquid or uniform("dq|" + item.path) < 0.6:
            out.append(_candidate(item, divine, weight * 0.6, item.turnover * 0.5, sigma * 1.3))
    # Cross markets between two non-quote items (portal|wisdom, chrome|transmute, ...).
    cheap = [item for item in items if item.path not in (CHAOS, DIVINE)]
    for i in range(180 * len(cheap) // 740):
        x = cheap[int(uniform(f"cross-a|{i}") * len(cheap))]
        y = cheap[int(uniform(f"cross-b|{i}") * len(cheap))]
        if x is not y:
            out.append(_candidate(x, y, 0.8, 150.0, 0.06))
    first, rest = out[0], out[1:]
    rest.sort(key=lambda c: uniform(f"pos|{c.a.path}|{c.b.path}"))
    unique: dict[frozenset[str], _Candidate] = {}
    for c in rest:
        unique.setdefault(frozenset((c.a.path, c.b.path)), c)
    return (first, *unique.values())


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class _Realm:
    """A realm's candidates as arrays, for generating a whole league at once."""

    candidates: tuple[_Candidate, ...]
    items: tuple[CxItem, ...]
    mapped: tuple[tuple[int, str], ...]  # (item index, trade id) of the items the books know
    base: np.ndarray  # unmapped items' base chaos value (1.0 where mapped)
    drift: np.ndarray  # (5, items) amplitudes and phases of the unmapped items' movement
    index_a: np.ndarray
    index_b: np.ndarray
    neg_inverse_weight: np.ndarray
    turnover: np.ndarray
    sigma: np.ndarray


@lru_cache(maxsize=4)
def _realm(realm: str) -> _Realm:
    candidates = _candidates(realm)
    paths = list(dict.fromkeys(p for c in candidates for p in (c.a.path, c.b.path)))
    by_path = {c.a.path: c.a for c in candidates} | {c.b.path: c.b for c in candidates}
    items = tuple(by_path[p] for p in paths)
    position = {p: i for i, p in enumerate(paths)}
    mapped = tuple((i, item.trade_id) for i, item in enumerate(items) if item.trade_id is not None)
    base = np.array([1.0 if item.trade_id else item.base for item in items])
    drift = np.array([
        [0.6 + 0.8 * uniform("amp|" + item.path) for item in items],
        [2 * math.pi * uniform("p720|" + item.path) for item in items],
        [2 * math.pi * uniform("p168|" + item.path) for item in items],
        [2 * math.pi * uniform("p53|" + item.path) for item in items],
        [2 * math.pi * uniform("p24|" + item.path) for item in items],
    ])
    return _Realm(
        candidates, items, mapped, base, drift,
        np.array([position[c.a.path] for c in candidates]),
        np.array([position[c.b.path] for c in candidates]),
        np.array([-1.0 / c.weight for c in candidates]),
        np.array([c.turnover for c in candidates]),
        np.array([c.sigma for c in candidates]),
    )


def _hour_values(model: _Realm, h: int, seed: int) -> np.ndarray:
    """Chaos value of every item of the realm at hour index `h`.

    Items the order books know take `market`'s value itself (what `price_level` divides);
    the others drift smoothly around their own base value (months, weeks, days).
    """
    amp, p720, p168, p53, p24 = model.drift
    two_pi = 2 * math.pi
    seed_shift = seed * 0.7071
    drift = (0.08 * amp * np.sin(two_pi * h / 720 + p720 + seed_shift)
             + 0.04 * np.sin(two_pi * h / 168 + p168 + seed_shift)
             + 0.03 * np.sin(two_pi * h / 53 + p53)
             + 0.015 * np.sin(two_pi * h / 24 + p24))
    values = model.base * np.exp(drift)
    for i, trade_id in model.mapped:
        values[i] = market._chaos_value_h(trade_id, h, seed)
    return values


_DENOMINATORS = np.array([1, 1, 1, 1, 1, 2, 2, 3, 4, 5], dtype=np.int64)
_U53 = 2.0**-53


def _uniforms(rng: random.Random, count: int) -> np.ndarray:
    """`count` uniforms in [0, 1) from one `getrandbits` call (stdlib stream: stable)."""
    raw = rng.getrandbits(64 * count).to_bytes(8 * count, "little")
    return (np.frombuffer(raw, dtype="<u8") >> np.uint64(11)) * _U53


def _normals(u1: np.ndarray, u2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two independent standard normals per pair of uniforms (Box-Muller)."""
    radius = np.sqrt(-2.0 * np.log1p(-u1))  # 1 - u1 is in (0, 1]
    return radius * np.cos(2 * math.pi * u2), radius * np.sin(2 * math.pi * u2)


def _reduced(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    g = np.gcd(x, y)
    return x // g, y // g


def _fraction_below(
    r: np.ndarray, d: np.ndarray, va: np.ndarray, vb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per market x/y (a per b) with small terms near r, and x/y <= va/vb exactly."""
    big = r >= 1
    x = np.where(big, np.maximum(1, np.floor(r * d)), d).astype(np.int64)
    y = np.where(big, d, np.maximum(1, np.ceil(d / r))).astype(np.int64)
    for _ in range(64):  # float rounding: step down until it holds in integers
        wrong = x * vb > va * y
        if not wrong.any():
            break
        step_x = wrong & (x > 1)
        x = x - step_x
        y = y + (wrong & ~step_x)
    return _reduced(x, y)


def _fraction_above(
    r: np.ndarray, d: np.ndarray, va: np.ndarray, vb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per market x/y (a per b) with small terms near r, and x/y >= va/vb exactly."""
    big = r >= 1
    x = np.where(big, np.maximum(1, np.ceil(r * d)), d).astype(np.int64)
    y = np.where(big, d, np.maximum(1, np.floor(d / r))).astype(np.int64)
    for _ in range(64):
        wrong = x * vb < va * y
        if not wrong.any():
            break
        step_y = wrong & (y > 1)
        y = y - step_y
        x = x + (wrong & ~step_y)
    return _reduced(x, y)


def _league_numbers(
    model: _Realm, chosen: np.ndarray, values: np.ndarray, rng: random.Random, scale: float
) -> list[list[int]]:
    """The ten numbers of each chosen market, in template order."""
    n = len(chosen)
    u = _uniforms(rng, 12 * n).reshape(12, n)
    g_price, g_turnover = _normals(u[0], u[1])
    g_stock_a, g_stock_b = _normals(u[2], u[3])
    value_a = values[model.index_a[chosen]]
    value_b = values[model.index_b[chosen]]
    sigma = model.sigma[chosen]
    price = value_a / value_b * np.exp(np.clip(g_price, -3.0, 3.0) * sigma)  # executed b per a
    turnover = model.turnover[chosen] * scale * np.exp(0.6 * g_turnover)
    # The dear side's volume comes from the turnover, the cheap side's from the price.
    a_dear = value_a >= value_b
    va_dear = np.maximum(1.0, np.rint(turnover / value_a))
    vb_dear = np.maximum(1.0, np.rint(turnover / value_b))
    va = np.where(a_dear, va_dear, np.maximum(1.0, np.rint(vb_dear / price))).astype(np.int64)
    vb = np.where(a_dear, np.maximum(1.0, np.rint(va_dear * price)), vb_dear).astype(np.int64)
    trades = np.maximum(1, np.minimum(np.maximum(va, vb), np.floor(turnover / (20.0 + 200.0 * u[4]))))
    d = _DENOMINATORS[(u[5] * len(_DENOMINATORS)).astype(np.int64)]
    # One trade: at a ratio a player would type (a few units for a few units), whole lots.
    dear = price >= 1
    xs = np.where(dear, d, np.maximum(1, np.rint(d / price))).astype(np.int64)
    ys = np.where(dear, np.maximum(1, np.rint(price * d)), d).astype(np.int64)
    xs, ys = _reduced(xs, ys)
    lots = np.maximum(1, np.rint(np.maximum(va / xs, vb / ys))).astype(np.int64)
    single = trades == 1
    va = np.where(single, xs * lots, va)
    vb = np.where(single, ys * lots, vb)
    # Several trades: the extremes bracket the VWAP, wider for thin, busy markets.
    vwap = va / vb
    spread = np.minimum(0.8, sigma * (0.5 + np.log10(trades)) * 1.5)
    lo_x, lo_y = _fraction_below(vwap * (1 - spread * (0.1 + 0.9 * u[6])), d, va, vb)
    hi_x, hi_y = _fraction_above(vwap * (1 + spread * (0.1 + 0.9 * u[7])), d, va, vb)
    lo_x, lo_y = np.where(single, xs, lo_x), np.where(single, ys, lo_y)
    hi_x, hi_y = np.where(single, xs, hi_x), np.where(single, ys, hi_y)
    # Sampled resting stock: lowest <= highest, sometimes none on a side.
    top_a = np.where(u[8] < 0.12, 0, np.maximum(1, np.rint(va * np.exp(-1.0 + 0.8 * g_stock_a))))
    top_b = np.where(u[9] < 0.12, 0, np.maximum(1, np.rint(vb * np.exp(-1.0 + 0.8 * g_stock_b))))
    low_a = np.rint(top_a * (0.5 + 0.5 * u[10]))
    low_b = np.rint(top_b * (0.5 + 0.5 * u[11]))
    columns = (va, vb, low_a, low_b, top_a, top_b, lo_x, lo_y, hi_x, hi_y)
    return np.stack(columns, axis=1).astype(np.int64).tolist()


def _market_count(realm: str, h: int, seed: int, per_hour: int, first: int, factor: float = 1.0) -> int:
    diurnal = 1.0 + 0.12 * math.sin(2 * math.pi * ((h % 24) - 9) / 24)
    jitter = 1.0 + 0.12 * (uniform(f"cxn|{realm}|{h}|{seed}") - 0.5)
    # The feed started small: 109 markets in the first PC hour, 232 in the next.
    ramp = min(1.0, 0.07 * 2.2 ** min(8, max(0, h - first)))
    return round(per_hour * _REALM_SCALE[realm] * diurnal * jitter * ramp * factor)


@lru_cache(maxsize=_CACHE_SIZE)
def _document(
    realm: str, h: int, seed: int, per_hour: int, leagues: tuple[tuple[str, float], ...], first: int,
    factor: float,
) -> bytes:
    """`leagues` are (name, weight): a league's weight sets its share of the hour's markets and,
    capped at 1, its volumes; `factor` scales the hour's number of markets."""
    model = _realm(realm)
    candidates = model.candidates
    weights = [weight for _, weight in leagues]
    total_weight = sum(weights) or 1.0
    total = _market_count(realm, h, seed, per_hour, first, factor)
    activity = 1.0 + 0.25 * math.sin(2 * math.pi * ((h % 24) - 9) / 24)
    values = _hour_values(model, h, seed)
    parts: list[str] = []
    for league, weight in leagues:
        n = min(len(candidates), round(total * weight / total_weight))
        if n <= 0:
            continue
        rng = random.Random(hash64(f"cx|{realm}|{league}|{h}|{seed}"))
        # Weighted sampling without replacement (Efraimidis-Spirakis keys -log(u)/w, the n
        # smallest), then the chosen markets in their stable document order.
        keys = np.log1p(-_uniforms(rng, len(candidates))) * model.neg_inverse_weight
        chosen = np.sort(np.argpartition(keys, n - 1)[:n]) if n < len(candidates) else np.arange(n)
        head = '{"league":' + json.dumps(league, ensure_ascii=False) + ","
        numbers = _league_numbers(model, chosen, values, rng, min(1.0, weight) * activity)
        parts += [
            head + candidates[i].prefix + candidates[i].template % tuple(row)
            for i, row in zip(chosen.tolist(), numbers)
        ]
    next_id = (h + 1) * 3600
    return ('{"next_change_id":%d,"markets":[' % next_id + ",".join(parts) + "]}").encode()
