"""The simulator's league calendar (`cx_calendar=True`): launches with their variants, empty
hours before a launch, volume rising over a league's first week then decaying, private leagues
that come and go, the realm's real first hour; and prebuilt documents served byte-identically
(`cx_cache_dir`). Documents are fetched over real HTTP where the server is what is checked.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from trade_sim import SimConfig, currency_exchange_document
from trade_sim import cx_cache, cx_calendar

CX = "/api/currency-exchange"
SMALL = 300
FIRST_PC = datetime(2024, 7, 26, 20, tzinfo=timezone.utc)
FIRST_POE2 = datetime(2024, 12, 6, 19, tzinfo=timezone.utc)
MIRAGE = datetime(2026, 3, 6, 20, tzinfo=timezone.utc)  # launch; 17:00 is the real empty sample hour


def config(**overrides: Any) -> SimConfig:
    values: dict[str, Any] = {"cx_calendar": True, "cx_markets_per_hour": SMALL}
    values.update(overrides)
    return SimConfig(**values)


def markets(hour: datetime, realm: str = "pc", **overrides: Any) -> list[dict[str, Any]]:
    return json.loads(currency_exchange_document(hour, realm, config(**overrides)))["markets"]


def leagues(hour: datetime, realm: str = "pc") -> set[str]:
    return {m["league"] for m in markets(hour, realm)}


def volume(hour: datetime, league: str, realm: str = "pc") -> int:
    """Units of chaos that changed hands in `league`'s chaos markets during the hour."""
    chaos = "Metadata/Items/Currency/CurrencyRerollRare"
    return sum(m["volume_traded"][chaos] for m in markets(hour, realm, cx_markets_per_hour=1600)
               if m["league"] == league and chaos in m["market_pair"])


def test_the_realms_first_hour_is_the_real_one_and_trades(start_sim) -> None:
    server = start_sim(cx_calendar=True, cx_markets_per_hour=SMALL)
    first = requests.get(server.url + CX, timeout=10)
    assert first.status_code == 200 and json.loads(first.content)["next_change_id"] == int(FIRST_PC.timestamp()) + 3600
    # Settlers opened the feed: the league and its variants trade in the very first hour.
    assert {"Settlers", "Hardcore Settlers", "Ruthless Settlers", "Standard"} <= leagues(FIRST_PC)
    before = requests.get(f"{server.url}{CX}/{int(FIRST_PC.timestamp()) - 3600}", timeout=10)
    assert before.status_code == 404
    # PoE 2's early access opened with its servers down: empty complete hours, then Standard and Hardcore.
    assert markets(FIRST_POE2, "poe2") == []
    opened = FIRST_POE2 + timedelta(hours=cx_calendar.LAUNCH_EMPTY_HOURS)
    assert leagues(opened, "poe2") == {"Standard", "Hardcore"}


def test_hours_before_a_launch_are_complete_and_empty_like_the_mirage_sample(start_sim) -> None:
    server = start_sim(cx_calendar=True, cx_markets_per_hour=SMALL)
    sample_hour = 1772816400  # 2026-03-06 17:00Z, {"markets": [], "next_change_id": 1772820000} in the real feed
    answer = requests.get(f"{server.url}{CX}/{sample_hour}", timeout=10)
    assert answer.status_code == 200 and json.loads(answer.content) == {"next_change_id": sample_hour + 3600,
                                                                         "markets": []}
    for k in range(1, cx_calendar.LAUNCH_EMPTY_HOURS + 1):
        assert markets(MIRAGE - timedelta(hours=k)) == []
    assert markets(MIRAGE - timedelta(hours=cx_calendar.LAUNCH_EMPTY_HOURS + 1)) != []
    assert {"Mirage", "Hardcore Mirage", "Ruthless Mirage", "HC Ruthless Mirage"} <= leagues(MIRAGE)
    # A handful of empty hours over two years, as the real feed has (15 in 2024-07..2026-09).
    first = int(FIRST_PC.timestamp()) // 3600
    empty = [h for h in cx_calendar.empty_hours("pc", first) if h < int(datetime(2026, 9, 23, tzinfo=timezone.utc)
                                                                            .timestamp()) // 3600]
    assert 10 <= len(empty) <= 25


def test_a_challenge_league_comes_with_its_variants_and_leaves_the_feed_when_it_ends() -> None:
    settlers_mid = datetime(2024, 11, 1, 12, tzinfo=timezone.utc)
    assert {"Settlers", "Hardcore Settlers", "Ruthless Settlers", "HC Ruthless Settlers", "Standard", "Hardcore",
            "Ruthless"} <= leagues(settlers_mid)
    assert not {"Mirage", "Allflame"} & leagues(settlers_mid)
    after = leagues(datetime(2026, 8, 19, 6, tzinfo=timezone.utc))  # the real Allflame sample's hour
    assert {"Allflame", "Hardcore Allflame", "Standard", "Hardcore"} <= after
    assert not any("Settlers" in name or "Mirage" in name for name in after)
    # PoE 2 has HC variants only, with its own names.
    poe2 = leagues(datetime(2026, 8, 31, 1, tzinfo=timezone.utc), "poe2")
    assert {"Runes of Aldur", "HC Runes of Aldur", "Standard"} <= poe2 and not any("Ruthless" in n for n in poe2)
    # About every four months.
    launches = cx_calendar.challenge_launches("pc", int(FIRST_PC.timestamp()) // 3600)
    gaps = [(b - a) / 24 for a, b in zip(launches, launches[1:])]
    assert len(launches) >= 6 and 60 <= sum(gaps) / len(gaps) <= 150


def test_volume_rises_over_the_first_week_then_decays() -> None:
    day1 = volume(MIRAGE + timedelta(hours=12), "Mirage")
    week1 = volume(MIRAGE + timedelta(days=7, hours=12), "Mirage")
    month3 = volume(MIRAGE + timedelta(days=90, hours=12), "Mirage")
    assert day1 < week1 and month3 < 0.7 * week1
    curve = [cx_calendar.volume_factor(age) for age in range(0, 24 * 200, 24)]
    peak = curve.index(max(curve))
    assert peak == 7 and all(a <= b for a, b in zip(curve[:peak], curve[1:peak + 1]))
    assert all(a >= b for a, b in zip(curve[peak:], curve[peak + 1:])) and curve[-1] < 0.4


def test_private_leagues_come_and_go() -> None:
    first = int(FIRST_PC.timestamp()) // 3600
    private = [lg for lg in cx_calendar.calendar("pc", first) if lg.kind == "private"]
    assert len(private) >= 10 and all(lg.name.endswith(")") and " (PL" in lg.name for lg in private)
    one = private[0]
    during = datetime.fromtimestamp((one.start + 1) * 3600, timezone.utc)
    after = datetime.fromtimestamp((one.end + 1) * 3600, timezone.utc)
    # A small league may miss an hour: look over a day.
    seen = set().union(*(leagues(during + timedelta(hours=k)) for k in range(0, 24, 4)))
    assert one.name in seen
    assert one.name not in set().union(*(leagues(after + timedelta(hours=k)) for k in range(0, 24, 4)))


def test_recent_pc_hours_have_the_real_size() -> None:
    sizes = []
    for k in range(0, 48, 7):
        hour = datetime(2026, 9, 20, tzinfo=timezone.utc) + timedelta(hours=k)
        body = currency_exchange_document(hour, "pc", SimConfig(cx_calendar=True))
        sizes.append((len(body), len(json.loads(body)["markets"])))
    assert all(1_000_000 <= size <= 1_700_000 and 1_200 <= count <= 2_100 for size, count in sizes), sizes


def test_without_the_calendar_the_fixed_league_list_is_unchanged() -> None:
    hour = datetime(2024, 7, 26, 22, tzinfo=timezone.utc)
    counts = Counter(m["league"] for m in markets(hour, cx_calendar=False))
    assert set(counts) == set(SimConfig().cx_leagues.split(","))


def test_prebuilt_documents_are_served_byte_identical(start_sim, tmp_path) -> None:
    knobs = {"cx_calendar": True, "cx_markets_per_hour": SMALL,
             "fixed_hour": datetime(2026, 3, 6, 22, tzinfo=timezone.utc)}
    cfg = SimConfig(**knobs)
    hours = cx_cache.history_hours("pc", cfg, newest=6)
    assert hours[-1] == int(datetime(2026, 3, 6, 21, tzinfo=timezone.utc).timestamp()) and len(hours) == 6
    written, _ = cx_cache.build(tmp_path, "pc", cfg, hours)
    assert written == 6 and cx_cache.build(tmp_path, "pc", cfg, hours)[0] == 0  # built once
    # Another seed is another cache: never read for this one.
    assert cx_cache.cache_folder(tmp_path, "pc", SimConfig(**knobs, seed=8)) != cx_cache.cache_folder(tmp_path, "pc", cfg)
    # Mark one cached hour so the test can tell it was read from disk, not regenerated.
    folder = cx_cache.cache_folder(tmp_path, "pc", cfg)
    server = start_sim(**knobs, cx_cache_dir=str(tmp_path), cx_gzip=True)
    for hour in hours:
        expected = currency_exchange_document(datetime.fromtimestamp(hour, timezone.utc), "pc", cfg)
        plain = requests.get(f"{server.url}{CX}/{hour}", headers={"Accept-Encoding": "identity"}, timeout=10)
        packed = requests.get(f"{server.url}{CX}/{hour}", headers={"Accept-Encoding": "gzip"}, timeout=10,
                              stream=True)
        raw = packed.raw.read(decode_content=False)
        assert plain.content == expected and gzip.decompress(raw) == expected
        assert raw == (folder / f"{hour}.json.gz").read_bytes()
    marked = hours[-1]
    (folder / f"{marked}.json.gz").write_bytes(gzip.compress(b'{"next_change_id":1,"markets":[]}'))
    assert requests.get(f"{server.url}{CX}/{marked}", timeout=10).content == b'{"next_change_id":1,"markets":[]}'


def test_cache_command_refuses_bad_input(tmp_path, capsys) -> None:
    assert cx_cache.main(["--dir", str(tmp_path), "--hours", "0"]) == 2
    assert "--hours must be >= 1" in capsys.readouterr().err
    assert cx_cache.main(["--dir", str(tmp_path), "--seed", "x"]) == 2
    assert "error:" in capsys.readouterr().err


def test_request_log_names_each_feed_request_with_its_realm_hour_and_status(start_sim, tmp_path) -> None:
    log = tmp_path / "requests.log"
    server = start_sim(cx_markets_per_hour=SMALL, cx_request_log=str(log),
                       fixed_hour=datetime(2026, 3, 7, tzinfo=timezone.utc))
    hour = int(datetime(2026, 3, 6, 12, tzinfo=timezone.utc).timestamp())
    assert requests.get(f"{server.url}{CX}/{hour}", timeout=10).status_code == 200
    assert requests.get(f"{server.url}{CX}/poe2/{hour}", timeout=10).status_code == 200
    assert requests.get(f"{server.url}{CX}/{hour + 1}", timeout=10).status_code == 404
    assert requests.get(f"{server.url}{CX}/{hour + 86400}", timeout=10).status_code == 404  # not published
    assert log.read_text().splitlines() == [f"pc {hour} 200", f"poe2 {hour} 200", f"pc {hour + 1} 404",
                                            f"pc {hour + 86400} 404"]
