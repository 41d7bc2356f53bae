"""The rows `exchange_prices` writes stay exactly the same when its writer changes.

A window of real samples, a document full of traps (floats, huge and tiny numbers, bools,
strings, nulls, non-dict stats, negative and zero ratios, leagues and paths that need COPY
escaping, malformed markets) and simulated hours is priced in this process and in worker
processes; both give the same rows, and the rows of the fixed documents hash to the digest
pinned from the first implementation (`price_hour` building COPY text with `repr`). The
pricing rules themselves are tested once, in tests/test_exchange_pricing.py.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import psycopg

from tradewatch.currency_exchange.client import PUBLISHED, HourAnswer, read_envelope
from tradewatch.currency_exchange.raw_store import insert_hour, prepare
from tradewatch.market.exchange import CHAOS_PATH, DIVINE_PATH
from tradewatch.warehouse.exchange_prices import compute_exchange_prices

SAMPLES = Path(__file__).parent / "data" / "currency_exchange"
FIXED = {
    1787119200: SAMPLES / "pc_allflame_1787119200_profitofexile.json",
    1722027600: SAMPLES / "pc_settlers_1722027600_pathofflipper_fragment.json",
    1772816400: SAMPLES / "pc_empty_hour_200_mirage_launch_1772816400.json",
    1790474400: SAMPLES / "pc_standard_1790474400_cortex_csharp_fixture.json",
}
TRAP_HOUR = 1790478000
# sha256 of the fixed documents' rows (`_dump`), as the first implementation wrote them
PINNED_ROWS = "ef548b07e34565dfbb59892aae799cac356f0f9033a86fd6a96f8f359cb74d99"
PINNED_COUNT = 48

ESSENCE = "Metadata/Items/Currency/CurrencyEssenceGreed1"
ODD_PATH = "Metadata/Items/Odd\\Path\tWith Tab"


def _stats(item: str, quote: str, item_value, quote_value) -> dict:
    return {item: item_value, quote: quote_value}


def _market(league, a, b, volume=(10, 20), low=(1, 2), high=(1, 3), low_stock=(5, 6), high_stock=(7, 8), **extra):
    market = {"league": league, "market_id": f"{a}|{b}", "market_pair": [a, b]}
    for name, (va, vb) in (("volume_traded", volume), ("lowest_ratio", low), ("highest_ratio", high),
                           ("lowest_stock", low_stock), ("highest_stock", high_stock)):
        market[name] = {a: va, b: vb}
    market.update(extra)
    return market


def _trap_document() -> bytes:
    markets = [
        _market("Traps", ESSENCE, CHAOS_PATH),
        _market("Traps", CHAOS_PATH, ESSENCE + "2", volume=(0.1, 3), low=(0.3, 7), high=(1e-7, 2.5)),
        _market("Traps", DIVINE_PATH, CHAOS_PATH, volume=(123456789012345678, 987654321), low=(1, 201),
                high=(1, 196)),
        _market("Traps", ESSENCE + "3", DIVINE_PATH, volume=(0, 0)),  # nothing traded
        _market("Traps", ESSENCE + "4", DIVINE_PATH, volume=(5, 0)),
        _market("Traps", ESSENCE + "5", CHAOS_PATH, volume=(True, 4), low_stock=(False, "6"), high_stock=(None, 2.0)),
        _market("Traps", ESSENCE + "6", CHAOS_PATH, low=(-1, 2), high=(0, 3)),
        _market("Traps", ESSENCE + "7", CHAOS_PATH, volume=(3, 1e308), low=(1e-300, 1e300), high=(1e308, 1e-308)),
        _market("Traps", ESSENCE + "8", CHAOS_PATH, volume=(7, 0.30000000000000004), low=(3, 1), high=(1, 3)),
        {**_market("Traps", ESSENCE + "9", CHAOS_PATH), "volume_traded": [1, 2], "lowest_stock": None},
        {"league": "Traps", "market_pair": [ESSENCE + "10", CHAOS_PATH], "volume_traded": {ESSENCE + "10": 2}},
        {k: v for k, v in _market("Traps", ESSENCE + "11", CHAOS_PATH).items() if k != "market_id"},
        _market("Tab\tBack\\slash\nNew\rline", ESSENCE, CHAOS_PATH),
        _market("Ünïcode ☃ League", ESSENCE, DIVINE_PATH, volume=(2.5, 0.75)),
        _market("Traps", ODD_PATH, CHAOS_PATH),
        _market("Traps", ESSENCE, ESSENCE + "2"),  # neither side chaos nor divine: no rows
        {"league": "Traps", "market_pair": [ESSENCE]},  # malformed: not a pair
        {"market_pair": [ESSENCE, CHAOS_PATH]},  # malformed: no league
        {"league": 7, "market_pair": [ESSENCE, CHAOS_PATH]},  # malformed: league not text
        "not a market",  # malformed
    ]
    return orjson.dumps({"next_change_id": TRAP_HOUR + 3600, "markets": markets})


def _hour(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _store(pool, body: bytes, hour_seconds: int) -> None:
    next_id, markets = read_envelope(body)
    answer = HourAnswer(realm="pc", hour=_hour(hour_seconds), kind=PUBLISHED, url=f"http://x/{hour_seconds}",
                        status_code=200, body=body, headers={}, fetched_at=datetime.now(timezone.utc),
                        duration_ms=1.0, attempt=1, response_bytes=len(body), next_change_id=next_id,
                        market_count=markets)
    with pool.connection() as conn:
        assert insert_hour(conn, prepare(answer))


def _dump(url: str, start: datetime, end: datetime) -> tuple[int, str]:
    """(rows, sha256 of every column of every row in key order, as PostgreSQL prints them)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT p::text, x.item_path, x.item_id, x.mapped FROM warehouse.exchange_prices p "
            "JOIN warehouse.exchange_items x USING (item_key) WHERE p.observed_hour >= %s AND p.observed_hour < %s "
            "ORDER BY p.realm, p.league, p.item_key, p.quote_currency, p.observed_hour", (start, end)).fetchall()
    digest = hashlib.sha256()
    for row in rows:
        digest.update(repr(row).encode() + b"\n")
    return len(rows), digest.hexdigest()


def test_rows_are_the_same_in_workers_and_as_first_written(pool, database_url):
    from tradewatch.cli.simulated_history import simulate_currency_exchange_history

    for seconds, path in FIXED.items():
        _store(pool, path.read_bytes(), seconds)
    _store(pool, _trap_document(), TRAP_HOUR)
    sim_start = _hour(1700006400)  # 2023-11-15T00:00Z: simulated hours before the samples
    assert simulate_currency_exchange_history(pool, sim_start, sim_start + timedelta(hours=6), derive=False) == 6
    start, end = _hour(1700000000), _hour(1800000000)

    serial = compute_exchange_prices(pool, "pc", start, end, workers=1)
    assert serial.malformed_markets == {"2026-09-27-03:00": 4}
    assert ODD_PATH in serial.unmapped_items
    fixed = _dump(database_url, _hour(1722027600), end)
    simulated = _dump(database_url, start, _hour(1722027600))
    assert simulated[0] > 500

    parallel = compute_exchange_prices(pool, "pc", start, end, workers=2)
    assert parallel.deleted == serial.rows and parallel.rows == serial.rows
    assert (parallel.markets, parallel.leagues, parallel.unmapped_items, parallel.rows_by_hour,
            parallel.chaos_per_divine, parallel.malformed_markets) == \
           (serial.markets, serial.leagues, serial.unmapped_items, serial.rows_by_hour,
            serial.chaos_per_divine, serial.malformed_markets)
    assert _dump(database_url, _hour(1722027600), end) == fixed
    assert _dump(database_url, start, _hour(1722027600)) == simulated
    assert fixed == (PINNED_COUNT, PINNED_ROWS)
