"""The simulated Currency Exchange history feed, checked over real HTTP (requests -> SimServer)
against what is known of the real one (../shared/currency_exchange/: samples, cursor rules,
token flow, the metadata-path join of the watched items).

Every loop is bounded and every server is stopped by the `start_sim` fixture.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import requests

from trade_sim import SimConfig, currency_exchange_document, order_book, price_level
from trade_sim.market import unit_price

# Verbatim copies of ../shared/currency_exchange/{metadata_to_trade_id.json, samples/...}.
SAMPLES = Path(__file__).with_name("data") / "currency_exchange"
CX = "/api/currency-exchange"
TIMEOUT = 10.0
CHAOS = "Metadata/Items/Currency/CurrencyRerollRare"
DIVINE = "Metadata/Items/Currency/CurrencyModValues"
EXALTED = "Metadata/Items/Currency/CurrencyAddModToRare"
FIRST_PC = 1722024000  # 2024-07-26T20:00Z
HOUR = datetime(2026, 8, 19, 6, tzinfo=timezone.utc)  # the Allflame sample's hour
T = int(HOUR.timestamp())
SMALL = 150  # markets per hour for the functional tests; default-size tests say so
STAT_KEYS = ["volume_traded", "lowest_stock", "highest_stock", "lowest_ratio", "highest_ratio"]
MARKET_KEYS = ["league", "market_id", "market_pair", *STAT_KEYS]


def get(server: Any, path: str = "", **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", TIMEOUT)
    return requests.get(server.url + CX + path, **kwargs)


def small(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"cx_markets_per_hour": SMALL}
    values.update(overrides)
    return values


def document(hour: datetime, realm: str = "pc", **config: Any) -> dict[str, Any]:
    return json.loads(currency_exchange_document(hour, realm, SimConfig(**config)))


def watched_paths() -> dict[str, str]:
    """trade id -> metadata path, from the shared join (chaos, divine, exalted, essences, lifeforces)."""
    entries = json.loads((SAMPLES / "metadata_to_trade_id.json").read_text())["entries"]
    return {e["trade_id"]: e["metadata_path"] for e in entries}


def real_sample() -> dict[str, Any]:
    """A verbatim fragment of a real PC hour in wire format (compact JSON, wire key order)."""
    path = SAMPLES / "pc_settlers_1722027600_pathofflipper_fragment.json"
    return json.loads(path.read_text())


def shape(value: Any) -> Any:
    if isinstance(value, dict):
        return [(k if "/" not in k else "<path>", shape(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


# ----------------------------------------------------------------------------- document shape


def test_document_has_the_real_wire_shape_compact_json_and_key_order(start_sim) -> None:
    server = start_sim(**small())
    response = get(server, f"/{T}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.content
    doc = json.loads(body)
    # Compact and in wire order: re-serialising compactly gives the very same bytes.
    assert json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() == body
    assert list(doc) == ["next_change_id", "markets"] == list(real_sample())
    assert doc["next_change_id"] == T + 3600
    real_market = real_sample()["markets"][1]
    for market in doc["markets"]:
        assert list(market) == MARKET_KEYS == list(real_market)
        assert shape(market) == shape(real_market)
        a, b = market["market_pair"]
        assert market["market_id"] == f"{a}|{b}"
        for stat in STAT_KEYS:
            assert list(market[stat]) == [a, b]  # keyed by the two paths, in pair order
            assert all(type(v) is int and v >= 0 for v in market[stat].values())


def test_ratios_are_reduced_and_the_vwap_lies_between_lowest_and_highest_in_pair_order() -> None:
    markets = document(HOUR)["markets"] + document(HOUR + timedelta(hours=7))["markets"]
    single = 0
    for m in markets:
        a, b = m["market_pair"]
        volume, low, high = m["volume_traded"], m["lowest_ratio"], m["highest_ratio"]
        assert volume[a] > 0 and volume[b] > 0  # markets that did not trade are absent
        assert math.gcd(low[a], low[b]) == 1 and math.gcd(high[a], high[b]) == 1
        # "first per second": units of a per unit of b, exactly (no float rounding).
        assert Fraction(low[a], low[b]) <= Fraction(volume[a], volume[b]) <= Fraction(high[a], high[b])
        for side in (a, b):
            assert m["lowest_stock"][side] <= m["highest_stock"][side]
        single += low == high
    assert 0.1 * len(markets) < single < 0.9 * len(markets)  # single trades and ranges both occur
    # Fractions that are not n:1 happen (3:2, 43:2 in the real feed).
    assert any(min(m["lowest_ratio"].values()) > 1 for m in markets)
    # A side's stock can be 0 while it traded.
    assert any(0 in m["lowest_stock"].values() for m in markets)


def test_one_document_holds_every_league_and_no_market_twice() -> None:
    doc = document(HOUR)
    leagues = {m["league"] for m in doc["markets"]}
    assert leagues == set(SimConfig().cx_leagues.split(","))
    assert {"Standard", "Hardcore", "Hardcore Settlers", "HC Ruthless Settlers"} <= leagues
    assert any(league.endswith(")") and "(PL" in league for league in leagues)  # private leagues
    keys = [(m["league"], m["market_id"]) for m in doc["markets"]]
    assert len(keys) == len(set(keys))


def test_pair_order_is_fixed_but_not_canonical() -> None:
    orders: dict[frozenset[str], set[tuple[str, str]]] = {}
    for i in range(0, 48, 6):
        for m in document(HOUR + timedelta(hours=i))["markets"]:
            pair = tuple(m["market_pair"])
            orders.setdefault(frozenset(pair), set()).add(pair)
    assert all(len(seen) == 1 for seen in orders.values())  # never both orders
    pairs = [next(iter(seen)) for seen in orders.values()]
    chaos_first = sum(p[0] == CHAOS for p in pairs if CHAOS in p)
    chaos_second = sum(p[1] == CHAOS for p in pairs if CHAOS in p)
    assert chaos_first > 50 and chaos_second > 50
    assert (CHAOS, DIVINE) in pairs and (DIVINE, EXALTED) in pairs
    assert pairs != sorted(pairs)


def test_paths_are_of_many_kinds_and_the_watched_items_use_the_shared_join_paths() -> None:
    paths: set[str] = set()
    for i in range(0, 24, 3):
        for m in document(HOUR + timedelta(hours=i))["markets"]:
            paths.update(m["market_pair"])
    kinds = {p.split("/")[2] for p in paths}
    assert {"Currency", "DivinationCards", "Scarabs", "MapFragments"} <= kinds
    assert set(watched_paths().values()) <= paths


def test_default_size_is_1000_to_2000_markets_and_about_1_to_1_6_mb(start_sim) -> None:
    server = start_sim()
    body = get(server, f"/{T}").content
    counts, sizes = [], [len(body)]
    for i in range(0, 168, 7):  # a week, every hour of the day
        raw = currency_exchange_document(HOUR + timedelta(hours=i))
        sizes.append(len(raw))
        counts.append(len(json.loads(raw)["markets"]))
    assert 1000 <= min(counts) and max(counts) <= 2000
    assert 1_000_000 <= min(sizes) and max(sizes) <= 1_600_000


def test_markets_per_hour_knob_makes_small_documents() -> None:
    assert 100 < len(document(HOUR, cx_markets_per_hour=SMALL)["markets"]) < 200
    assert document(HOUR, cx_markets_per_hour=0)["markets"] == []


# ----------------------------------------------------------------------------- determinism


def test_refetch_is_byte_identical_and_equals_the_pure_function(start_sim) -> None:
    server = start_sim(**small())
    first = get(server, f"/{T}")
    again = get(server, f"/{T}")
    assert first.content == again.content
    assert first.content == currency_exchange_document(HOUR, "pc", SimConfig(**small()))
    assert "max-age" in first.headers["cache-control"]
    other = start_sim(**small())  # a fresh server (fresh caches) agrees
    assert get(other, f"/{T}").content == first.content


def test_gzip_like_the_cdn_when_asked(start_sim) -> None:
    server = start_sim(**small(cx_gzip=True))
    plain = currency_exchange_document(HOUR, "pc", SimConfig(**small()))
    raw = requests.get(server.url + CX + f"/{T}", timeout=TIMEOUT, stream=True)
    wire = raw.raw.read(decode_content=False)
    assert raw.headers["Content-Encoding"] == "gzip" and len(wire) < len(plain) / 3
    assert gzip.decompress(wire) == plain
    identity = get(server, f"/{T}", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in identity.headers and identity.content == plain


def test_documents_depend_on_seed_and_hour_only_and_not_on_the_process() -> None:
    config = SimConfig(**small())
    body = currency_exchange_document(HOUR, "pc", config)
    assert currency_exchange_document(HOUR + timedelta(hours=1), "pc", config) != body
    assert currency_exchange_document(HOUR, "pc", SimConfig(**small(seed=8))) != body
    code = (
        "import hashlib,sys; from datetime import datetime,timezone; "
        "from trade_sim import SimConfig, currency_exchange_document as d; "
        f"sys.stdout.write(hashlib.sha256(d(datetime.fromtimestamp({T},timezone.utc),'pc',"
        f"SimConfig(cx_markets_per_hour={SMALL}))).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout == hashlib.sha256(body).hexdigest()


def test_the_pure_function_refuses_an_unaligned_hour_and_an_unknown_realm() -> None:
    with pytest.raises(ValueError, match="whole UTC hour"):
        currency_exchange_document(HOUR + timedelta(minutes=1))
    with pytest.raises(ValueError, match="unknown realm"):
        currency_exchange_document(HOUR, "pc2")


# ----------------------------------------------------------------------------- consistency


def _chaos_per_unit(markets: list[dict[str, Any]], league: str, path: str, quote: str) -> float | None:
    for m in markets:
        if m["league"] == league and set(m["market_pair"]) == {path, quote}:
            return m["volume_traded"][quote] / m["volume_traded"][path]
    return None


@pytest.mark.parametrize("league", ["Standard", "Settlers"])
def test_executed_essence_prices_track_the_order_book_price_level(league: str) -> None:
    paths = watched_paths()
    essences = ["deafening-essence-of-misery", "deafening-essence-of-contempt", "deafening-essence-of-greed"]
    for essence in essences:
        executed, levels, asks = [], [], []
        for day in range(0, 60, 3):  # long enough for the level to move
            hour = HOUR + timedelta(days=day)
            markets = document(hour)["markets"]
            price = _chaos_per_unit(markets, league, paths[essence], CHAOS)
            if price is None:
                continue
            level = price_level(essence, "chaos", hour)
            assert 0.9 < price / level < 1.1, (essence, hour, price, level)
            executed.append(math.log(price))
            levels.append(math.log(level))
            book = order_book(essence, "chaos", hour, league=league)
            asks.append(statistics.median(unit_price(lst, "chaos") for lst in book[:5]) / price)
        assert len(executed) >= 15
        assert statistics.correlation(executed, levels) > 0.9  # they move together
        assert 0.8 < statistics.median(asks) < 1.3  # the book's best asks sit near what was paid


def test_the_chaos_divine_market_gives_the_divine_price_in_chaos_in_every_league() -> None:
    markets = document(HOUR)["markets"]
    level = price_level("divine", "chaos", HOUR)
    leagues = {m["league"] for m in markets}
    for league in leagues:
        chaos_per_divine = _chaos_per_unit(markets, league, DIVINE, CHAOS)
        assert chaos_per_divine is not None, league
        assert abs(chaos_per_divine / level - 1) < 0.02


def test_divine_quoted_essence_markets_follow_the_divine_price_level() -> None:
    path = watched_paths()["deafening-essence-of-misery"]
    markets = document(HOUR)["markets"]
    divines = _chaos_per_unit(markets, "Settlers", path, DIVINE)
    assert divines is not None
    assert abs(divines / price_level("deafening-essence-of-misery", "divine", HOUR) - 1) < 0.1


# ----------------------------------------------------------------------------- cursor cases


def test_no_id_answers_the_oldest_hour_and_earlier_hours_do_not_exist(start_sim) -> None:
    server = start_sim(**small())
    oldest = get(server)
    assert oldest.status_code == 200
    assert oldest.content == get(server, f"/{FIRST_PC}").content
    assert json.loads(oldest.content)["next_change_id"] == FIRST_PC + 3600
    # History starts small and grows (109, then 232 markets in the real feed).
    first_count = len(json.loads(oldest.content)["markets"])
    later_count = len(json.loads(get(server, f"/{FIRST_PC + 5 * 3600}").content)["markets"])
    assert 0 < first_count < later_count / 4
    before = get(server, f"/{FIRST_PC - 3600}")
    assert (before.status_code, before.content) == (404, b'{"error":{"code":1,"message":"Resource not found"}}')
    poe2 = get(server, "/poe2")
    poe2_first = int(SimConfig().cx_first_hour_poe2.timestamp())
    assert json.loads(poe2.content)["next_change_id"] == poe2_first + 3600


def test_first_hour_is_configurable(start_sim) -> None:
    server = start_sim(**small(cx_first_hour=datetime(2025, 1, 1, tzinfo=timezone.utc)))
    assert json.loads(get(server).content)["next_change_id"] == 1735693200
    assert get(server, f"/{FIRST_PC}").status_code == 404


def test_unpublished_hours_answer_404_with_the_requested_id_or_the_terminal_form(start_sim) -> None:
    now_hour = int(time.time()) // 3600 * 3600
    server = start_sim(**small(cx_publish_delay_seconds=7200))
    for hour in (now_hour, now_hour + 3600, now_hour - 3600, now_hour + 86400 * 365):
        response = get(server, f"/{hour}")
        assert (response.status_code, response.content) == (404, b'{"next_change_id":%d,"markets":[]}' % hour)
    assert len(b'{"next_change_id":1787126400,"markets":[]}') == 42  # the real body's size
    published = get(server, f"/{now_hour - 3 * 3600}")
    assert published.status_code == 200
    assert json.loads(published.content)["next_change_id"] == now_hour - 2 * 3600
    # Publication catches up when the delay has passed (here: shrinks at runtime).
    server.app.state.config.cx_publish_delay_seconds = 0
    assert get(server, f"/{now_hour - 3600}").status_code == 200
    assert get(server, f"/{now_hour}").status_code == 404  # the current hour never is
    server.app.state.config.cx_unpublished_style = "terminal"
    terminal = get(server, f"/{now_hour}")
    assert (terminal.status_code, terminal.content) == (200, b'{"next_change_id":%d,"markets":[]}' % now_hour)
    on_poe2 = get(server, f"/poe2/{now_hour}")
    assert json.loads(on_poe2.content) == {"next_change_id": now_hour, "markets": []}


def test_with_a_fixed_hour_every_earlier_hour_is_published_and_it_is_not(start_sim) -> None:
    server = start_sim(**small(fixed_hour=HOUR))
    assert get(server, f"/{T - 3600}").status_code == 200
    assert get(server, f"/{T}").status_code == 404


@pytest.mark.parametrize("path", [f"/{T + 1}", f"/{T - 60}", f"/pc/{T}", "/pc", f"/psn/{T}", "/abc",
                                  f"/poe2/{T + 1800}", f"/poe2/{T}/x", f"/{T}x"])
def test_unaligned_ids_pc_segment_and_unknown_realms_are_resource_not_found(start_sim, path: str) -> None:
    server = start_sim(**small())
    response = get(server, path)
    assert response.status_code == 404
    assert response.content == (SAMPLES / "pc_404_unaligned_cursor_body.json").read_bytes().strip()


def test_configured_empty_hours_are_complete_and_empty(start_sim) -> None:
    server = start_sim(**small(cx_empty_hours=f"{HOUR.isoformat()},{T + 7200}"))
    for hour in (T, T + 7200):
        response = get(server, f"/{hour}")
        assert (response.status_code, response.content) == (200, b'{"next_change_id":%d,"markets":[]}' % (hour + 3600))
    assert json.loads(get(server, f"/{T + 3600}").content)["markets"]
    # The pure function agrees: the demo's history has the same empty hours.
    config = SimConfig(**small(cx_empty_hours={T}))
    assert currency_exchange_document(HOUR, "pc", config) == b'{"next_change_id":%d,"markets":[]}' % (T + 3600)


def test_stale_hours_answer_a_document_of_another_hour(start_sim) -> None:
    server = start_sim(**small(cx_stale_hours={T}))
    response = get(server, f"/{T}")
    assert response.status_code == 200
    next_id = json.loads(response.content)["next_change_id"]
    assert next_id not in (T, T + 3600)
    assert response.content == currency_exchange_document(HOUR - timedelta(days=1), "pc", SimConfig(**small()))
    server.app.state.config.cx_stale_hours = frozenset()  # the cache heals
    assert json.loads(get(server, f"/{T}").content)["next_change_id"] == T + 3600


# ----------------------------------------------------------------------------- realms


def test_realms_have_their_own_documents_leagues_and_sizes(start_sim) -> None:
    server = start_sim(**small())
    docs = {realm: json.loads(get(server, f"/{realm}/{T}").content) for realm in ("poe2", "xbox", "sony")}
    docs["pc"] = json.loads(get(server, f"/{T}").content)
    assert all(doc["next_change_id"] == T + 3600 for doc in docs.values())
    poe2_leagues = {m["league"] for m in docs["poe2"]["markets"]}
    assert "Runes of Aldur" in poe2_leagues and "Settlers" not in poe2_leagues
    assert any("/SoulCores/" in m["market_id"] for m in docs["poe2"]["markets"])
    assert len(docs["sony"]["markets"]) < len(docs["xbox"]["markets"]) < len(docs["pc"]["markets"])
    assert docs["xbox"] != docs["pc"]


# ----------------------------------------------------------------------------- authenticated host


def token(server: Any, **form: str) -> requests.Response:
    data = {"client_id": "tradewatch-sim", "client_secret": "tradewatch-sim-secret",
            "grant_type": "client_credentials", "scope": "service:cxapi"}
    data.update(form)
    return requests.post(server.url + "/oauth/token", data=data, timeout=TIMEOUT)


def test_client_credentials_token_has_ggg_shape_and_opens_the_feed(start_sim) -> None:
    server = start_sim(**small(cx_require_token=True, cx_client_id="app-1", cx_client_secret="s3cret"))
    unauthorized = get(server, f"/{T}")
    assert unauthorized.status_code == 401
    assert json.loads(unauthorized.content) == {"error": {"code": 8, "message": "Unauthorized"}}
    granted = token(server, client_id="app-1", client_secret="s3cret")
    assert granted.status_code == 200
    body = granted.json()
    assert list(body) == ["access_token", "expires_in", "token_type", "username", "sub", "scope"]
    assert body["expires_in"] is None and body["token_type"] == "bearer" and body["scope"] == "service:cxapi"
    assert len(body["access_token"]) == 40
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    answer = get(server, f"/{T}", headers=auth)
    assert answer.status_code == 200 and answer.content == currency_exchange_document(HOUR, "pc", SimConfig(**small()))
    assert get(server, f"/{T}", headers={"Authorization": "Bearer 0000"}).status_code == 401
    # The OAuth host's own path works too.
    assert requests.get(server.url + f"/currency-exchange/{T}", headers=auth, timeout=TIMEOUT).status_code == 200
    # Revoked (or rotated) grants: the old token is refused, a new one works.
    server.app.state.cx_tokens.revoke_all()
    assert get(server, f"/{T}", headers=auth).status_code == 401
    fresh = token(server, client_id="app-1", client_secret="s3cret").json()["access_token"]
    assert get(server, f"/{T}", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


@pytest.mark.parametrize("form, status, error", [
    ({"client_secret": "wrong"}, 401, "invalid_client"),
    ({"client_id": "someone-else"}, 401, "invalid_client"),
    ({"client_secret": ""}, 400, "invalid_request"),
    ({"grant_type": "authorization_code"}, 400, "unsupported_grant_type"),
    ({"scope": "service:psapi"}, 400, "invalid_scope"),
])
def test_bad_token_requests_get_oauth_error_json(start_sim, form: dict[str, str], status: int, error: str) -> None:
    server = start_sim(**small(cx_require_token=True))
    response = token(server, **form)
    assert response.status_code == status
    assert response.json()["error"] == error and response.json()["error_description"]
    assert "tradewatch-sim-secret" not in response.text


def test_tokens_expire_after_the_configured_lifetime(start_sim) -> None:
    server = start_sim(**small(cx_require_token=True, cx_token_expires_in=1))
    granted = token(server).json()
    assert granted["expires_in"] == 1
    auth = {"Authorization": f"Bearer {granted['access_token']}"}
    assert get(server, f"/{T}", headers=auth).status_code == 200
    deadline = time.monotonic() + 5
    status = 200
    while status == 200 and time.monotonic() < deadline:
        status = get(server, f"/{T}", headers=auth).status_code
        if status == 200:
            time.sleep(0.1)
    assert status == 401


def test_without_a_policy_no_rate_limit_headers_are_sent(start_sim) -> None:
    server = start_sim(**small())
    response = get(server, f"/{T}")
    assert not [h for h in response.headers if h.lower().startswith("x-rate-limit") or h.lower() == "retry-after"]


def test_cx_policy_announces_limits_and_429s_in_the_trade_api_format_keyed_separately(start_sim) -> None:
    # a 2 s window (10 s scaled by 0.2): four requests fit in it even on a busy machine
    server = start_sim(**small(cx_policy="3:10:30", time_scale=0.2, policy="100:1:1"))
    responses = [get(server, f"/{T}") for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    first, limited = responses[0], responses[3]
    assert first.headers["X-Rate-Limit-Policy"] == "currency-exchange-request-limit"
    assert first.headers["X-Rate-Limit-Rules"] == "Ip"
    assert first.headers["X-Rate-Limit-Ip"] == "3:2:6"
    assert first.headers["X-Rate-Limit-Ip-State"] == "1:2:0"
    assert json.loads(limited.content) == {"error": {"code": 3, "message": "Rate limit exceeded"}}
    assert int(limited.headers["Retry-After"]) >= 1
    # The trade API's limiter does not see the feed's requests.
    trade = requests.post(server.url + "/api/trade/exchange/Standard", timeout=TIMEOUT, json={
        "query": {"status": {"option": "online"}, "have": ["chaos"], "want": ["divine"]},
        "sort": {"have": "asc"}})
    assert trade.status_code == 200 and trade.headers["X-Rate-Limit-Ip-State"].startswith("1:")


# ----------------------------------------------------------------------------- faults


def test_fault_knobs_apply_to_the_feed(start_sim) -> None:
    server = start_sim(**small(error_5xx_rate=1.0))
    statuses = {get(server, f"/{T}").status_code for _ in range(12)}
    assert statuses <= {500, 502, 503, 504} and len(statuses) >= 2
    server.app.state.config.error_5xx_rate = 0.0
    server.app.state.config.cloudflare_403_rate = 1.0
    page = get(server, f"/{T}")
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    server.app.state.config.cloudflare_403_rate = 0.0
    server.app.state.config.truncated_json_rate = 1.0
    cut = get(server, f"/{T}")
    assert cut.status_code == 200
    with pytest.raises(ValueError):
        json.loads(cut.content)
    server.app.state.config.truncated_json_rate = 0.0
    server.app.state.config.slow_rate = 1.0
    server.app.state.config.slow_seconds = 2.0
    with pytest.raises(requests.Timeout):
        get(server, f"/{T}", timeout=0.5)


# ----------------------------------------------------------------------------- settings


def test_cx_settings_parse_from_trade_sim_environment_variables() -> None:
    config = SimConfig.from_env({
        "TRADE_SIM_CX_EMPTY_HOURS": "2024-08-01T12:00Z, 1722027600",
        "TRADE_SIM_CX_STALE_HOURS": "1722031200",
        "TRADE_SIM_CX_TOKEN_EXPIRES_IN": "none",
        "TRADE_SIM_CX_POLICY": "30:60:60",
        "TRADE_SIM_CX_REQUIRE_TOKEN": "true",
        "TRADE_SIM_CX_FIRST_HOUR": "2024-07-26T21:00:00Z",
        "TRADE_SIM_CX_MARKETS_PER_HOUR": "300",
        "TRADE_SIM_CX_PUBLISH_DELAY_SECONDS": "300",
        "TRADE_SIM_CX_UNPUBLISHED_STYLE": "terminal",
    })
    assert config.cx_empty_hours == frozenset({1722513600, 1722027600})
    assert config.cx_stale_hours == frozenset({1722031200})
    assert config.cx_token_expires_in is None and config.cx_policy == "30:60:60"
    assert config.cx_require_token is True and config.cx_markets_per_hour == 300
    assert config.cx_first_hour == datetime(2024, 7, 26, 21, tzinfo=timezone.utc)
    assert config.cx_publish_delay_seconds == 300.0 and config.cx_unpublished_style == "terminal"
    assert SimConfig.from_env({"TRADE_SIM_CX_TOKEN_EXPIRES_IN": "3600"}).cx_token_expires_in == 3600
    with pytest.raises(ValueError, match="cx_empty_hours.*whole UTC hour"):
        SimConfig.from_env({"TRADE_SIM_CX_EMPTY_HOURS": "1722027601"})
    with pytest.raises(ValueError, match="cx_stale_hours: 'yesterday' is neither unix seconds nor an ISO hour"):
        SimConfig.from_env({"TRADE_SIM_CX_STALE_HOURS": "yesterday"})
    # An ISO hour without a zone is UTC, whatever the machine's zone.
    assert SimConfig(cx_empty_hours="2024-08-01T12:00").cx_empty_hours == frozenset({1722513600})
    with pytest.raises(ValueError, match="cx_policy '30/60'.*write e.g. 30:60:60"):
        SimConfig.from_env({"TRADE_SIM_CX_POLICY": "30/60"})
    with pytest.raises(ValueError, match="cx_unpublished_style"):
        SimConfig(cx_unpublished_style="410")
    assert "s3cret" not in repr(SimConfig(cx_client_secret="s3cret"))


def test_command_line_help_lists_the_cx_knobs() -> None:
    out = subprocess.run([sys.executable, "-m", "trade_sim", "--help"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    for knob in ("--cx-markets-per-hour", "--cx-empty-hours", "--cx-require-token", "--cx-policy"):
        assert knob in out
    assert "tradewatch-sim-secret" not in out
