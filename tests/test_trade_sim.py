"""Behaviour of the local trade API simulator, checked over real HTTP (requests -> SimServer).

Every loop is bounded and every server is closed by its fixture. Rate-limit tests use
`time_scale` so restrictions last fractions of a second.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from trade_sim import (
    ESSENCE_FAMILY_DEAFENING,
    PortInUseError,
    SimConfig,
    SimServer,
    exchange_response,
    order_book,
    price_level,
    serve,
)
from trade_sim import static as sim_static
from trade_sim.market import unit_price

DATA = Path(__file__).with_name("data")
REAL_RESPONSE = DATA / "exchange_response_poe1_ancestor_have_chaos_want_divine.json"
HOUR = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
EXCHANGE = "/api/trade/exchange/Standard"
GREED = "deafening-essence-of-greed"
TIMEOUT = 5.0
# Generous enough that functional tests never meet the limiter.
NO_LIMIT = "100000:1:1"


def body(have: list[str] | None = None, want: list[str] | None = None, *,
         minimum: int | None = 1, sort: str = "asc", status: str = "online") -> dict[str, Any]:
    query: dict[str, Any] = {
        "status": {"option": status},
        "have": have or ["divine"],
        "want": want or [GREED],
    }
    if minimum is not None:
        query["minimum"] = minimum
    return {"engine": "new", "query": query, "sort": {"have": sort}}


def base_config(**overrides: Any) -> SimConfig:
    values: dict[str, Any] = {"policy": NO_LIMIT, "account_policy": NO_LIMIT,
                              "time_scale": 0.02, "fixed_hour": HOUR}
    values.update(overrides)
    return SimConfig(**values)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[SimServer]:
    with SimServer(base_config()) as server:
        yield server


@pytest.fixture
def sim(shared_server: SimServer) -> Iterator[SimServer]:
    """The shared server with a fresh baseline config, limits and fault sequence."""
    app = shared_server.app
    app.state.config = base_config()
    app.state.limiter.config = app.state.config
    app.state.limiter.reset()
    app.state.faults.config = app.state.config
    app.state.faults.reseed()
    yield shared_server


# Scaled by 0.02: 3 hits / 1 s (restricted 1 s) and 6 hits / 6 s (1.2 s); account 2 hits / 2 s (0.4 s).
# Windows of a second and more: a burst of four requests falls inside one on a busy machine too,
# and the restriction is no shorter than the window, so the hits before it are gone when it ends.
LIMITED_POLICY, LIMITED_ACCOUNT_POLICY = "3:50:50,6:300:60", "2:100:20"
RESTRICTION = 1.0


@pytest.fixture
def limited() -> Iterator[SimServer]:
    """A dedicated server with a small scaled policy (LIMITED_POLICY)."""
    with SimServer(SimConfig(policy=LIMITED_POLICY, account_policy=LIMITED_ACCOUNT_POLICY,
                             time_scale=0.02, fixed_hour=HOUR)) as server:
        yield server


def served_again(server: SimServer, within: float = 10.0) -> tuple[requests.Response, list[requests.Response]]:
    """Polls until a request is served (bounded): (the served answer, the refused ones before it)."""
    refused = []
    deadline = time.monotonic() + within
    while (resp := post(server, body())).status_code == 429:
        refused.append(resp)
        assert time.monotonic() < deadline, f"still restricted after {within} s"
        time.sleep(0.05)
    return resp, refused


def post(server: SimServer, payload: Any, path: str = EXCHANGE, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", TIMEOUT)
    if isinstance(payload, (bytes, str)):
        return requests.post(server.url + path, data=payload, **kwargs)
    return requests.post(server.url + path, json=payload, **kwargs)


def shape(value: Any) -> Any:
    """Keys and value types of a JSON document, list elements reduced to the first."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__


# ----------------------------------------------------------------------------- response shape


def test_exchange_answer_matches_the_recorded_real_response_shape(sim: SimServer) -> None:
    real = json.loads(REAL_RESPONSE.read_text())
    resp = post(sim, body(["chaos"], ["divine"]))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    ours = resp.json()

    assert list(ours) == list(real)  # id, complexity, result, total
    assert isinstance(ours["id"], str) and ours["complexity"] is None
    real_listing = next(iter(real["result"].values()))
    for listing_id, listing in ours["result"].items():
        assert shape(listing) == shape(real_listing)
        assert re.fullmatch(r"[0-9a-f]{64}", listing_id) and listing["id"] == listing_id
        offer = listing["listing"]["offers"][0]
        assert offer["item"]["id"] == listing_id
        assert offer["exchange"]["whisper"].startswith("{0} ")
        assert listing["listing"]["whisper"].endswith("in Standard")
        assert listing["listing"]["account"]["online"] == {"league": "Standard"}
        header, payload, signature = listing["listing"]["whisper_token"].split(".")
        assert header == real_listing["listing"]["whisper_token"].split(".")[0]
        indexed = datetime.fromisoformat(listing["listing"]["indexed"])
        assert HOUR - timedelta(hours=1) <= indexed < HOUR


def test_whispers_use_item_names_from_static_data(sim: SimServer) -> None:
    listing = next(iter(post(sim, body(["chaos"], [GREED])).json()["result"].values()))
    offer = next(o for o in listing["listing"]["offers"] if o["exchange"]["currency"] == "chaos")
    assert offer["exchange"]["whisper"] == "{0} Chaos Orb"
    assert offer["item"]["whisper"] == "{0} Deafening Essence of Greed"


def test_offers_are_sorted_by_unit_price_ascending_and_descending(sim: SimServer) -> None:
    for direction in ("asc", "desc"):
        result = post(sim, body(["divine"], [GREED], sort=direction)).json()["result"]
        prices = [unit_price(listing, "divine") for listing in result.values()]
        assert len(prices) > 3
        assert prices == sorted(prices, reverse=(direction == "desc"))


def test_every_listing_carries_an_offer_in_the_have_currency(sim: SimServer) -> None:
    for have in ("divine", "chaos"):
        result = post(sim, body([have], ["deafening-essence-of-misery"])).json()["result"]
        for listing in result.values():
            currencies = [o["exchange"]["currency"] for o in listing["listing"]["offers"]]
            assert have in currencies


def test_answer_is_capped_at_100_results_while_total_counts_every_match(sim: SimServer) -> None:
    wide = body(["divine", "chaos"], list(ESSENCE_FAMILY_DEAFENING[:10]))
    answer = post(sim, wide).json()
    assert len(answer["result"]) == 100
    assert answer["total"] > 100
    narrow = post(sim, body(["divine"], [GREED])).json()
    assert narrow["total"] >= len(narrow["result"])


def test_minimum_drops_listings_with_less_stock(sim: SimServer) -> None:
    everything = post(sim, body(["chaos"], ["divine"], minimum=None)).json()
    stocks = [lst["listing"]["offers"][0]["item"]["stock"] for lst in everything["result"].values()]
    assert min(stocks) < 50  # otherwise the filter below proves nothing
    filtered = post(sim, body(["chaos"], ["divine"], minimum=50)).json()
    assert filtered["result"]
    assert all(lst["listing"]["offers"][0]["item"]["stock"] >= 50
               for lst in filtered["result"].values())
    assert filtered["total"] < everything["total"]


# ----------------------------------------------------------------------------- market model


def test_same_item_and_hour_give_the_same_book_and_another_hour_a_different_one(sim: SimServer) -> None:
    first = post(sim, body()).json()
    again = post(sim, body()).json()
    assert first == again
    sim.app.state.config.fixed_hour = HOUR + timedelta(hours=1)
    later = post(sim, body()).json()
    assert later["result"] != first["result"]
    assert order_book(GREED, "divine", HOUR) == order_book(GREED, "divine", HOUR)
    assert order_book(GREED, "divine", HOUR, seed=8) != order_book(GREED, "divine", HOUR)


def test_a_multi_currency_seller_is_the_same_listing_in_both_currency_books() -> None:
    divine_book = {lst["id"]: lst for lst in order_book(GREED, "divine", HOUR)}
    chaos_book = {lst["id"]: lst for lst in order_book(GREED, "chaos", HOUR)}
    shared = divine_book.keys() & chaos_book.keys()
    assert shared
    for listing_id in shared:
        assert divine_book[listing_id] == chaos_book[listing_id]
        assert len(divine_book[listing_id]["listing"]["offers"]) == 2


def test_price_level_moves_smoothly_hour_to_hour_but_drifts_over_weeks() -> None:
    hours = [HOUR + timedelta(hours=i) for i in range(24 * 60)]
    levels = [price_level(GREED, "chaos", h) for h in hours]
    hourly = [abs(math.log(b / a)) for a, b in zip(levels, levels[1:])]
    assert max(hourly) < 0.03
    assert max(levels) / min(levels) > 1.15


@pytest.mark.parametrize("item,have,low,high", [
    ("divine", "chaos", 150, 250),
    ("exalted", "chaos", 10, 20),
    ("primal-lifeforce", "chaos", 0.035, 0.16),  # calibrated: 0.075 with a ±25 % daily swing
    ("deafening-essence-of-misery", "chaos", 6, 15),
    ("deafening-essence-of-spite", "chaos", 1.2, 4),
])
def test_price_levels_stay_in_realistic_ranges(item: str, have: str, low: float, high: float) -> None:
    for i in range(0, 24 * 120, 7):
        assert low <= price_level(item, have, HOUR + timedelta(hours=i)) <= high


def test_deafening_family_has_five_expensive_types_and_cheap_rest() -> None:
    assert len(ESSENCE_FAMILY_DEAFENING) == 20
    assert set(ESSENCE_FAMILY_DEAFENING) <= sim_static.known_ids()
    values = sorted(price_level(e, "chaos", HOUR) for e in ESSENCE_FAMILY_DEAFENING)
    assert all(v >= 6 for v in values[-5:])
    assert all(v < 5 for v in values[:-5])


def test_best_ask_sits_near_the_price_level() -> None:
    for item in ("divine", GREED, "primal-lifeforce"):
        have = "chaos" if item == "divine" else "divine"
        level = price_level(item, have, HOUR)
        # Fixers (stock below the lot) cannot be filled; the first real offer counts.
        fillable = [lst for lst in order_book(item, have, HOUR)
                    if lst["listing"]["offers"][0]["item"]["stock"]
                    >= lst["listing"]["offers"][0]["item"]["amount"]]
        best = unit_price(fillable[0], have)
        assert 0.85 * level <= best <= 1.1 * level


def test_price_fixers_and_multi_currency_sellers_appear_across_items_and_hours() -> None:
    fixers = multi = 0
    for i in range(24):
        for item in (GREED, "deafening-essence-of-misery", "divine"):
            have = "chaos" if item == "divine" else "divine"
            level = price_level(item, have, HOUR + timedelta(hours=i))
            for lst in order_book(item, have, HOUR + timedelta(hours=i)):
                offers = lst["listing"]["offers"]
                multi += len(offers) > 1
                own = next(o for o in offers if o["exchange"]["currency"] == have)
                if own["item"]["stock"] < own["item"]["amount"] and unit_price(lst, have) < 0.75 * level:
                    fixers += 1
    assert fixers >= 5
    assert multi >= 20


def _fillable(listing: dict[str, Any], have: str) -> bool:
    own = next(o for o in listing["listing"]["offers"] if o["exchange"]["currency"] == have)
    return own["item"]["stock"] >= own["item"]["amount"]


def test_book_sizes_vary_and_every_book_of_a_healthy_market_can_be_priced() -> None:
    sizes = []
    for i in range(400):
        for item in (GREED, "deafening-essence-of-misery", "primal-lifeforce"):
            book = order_book(item, "divine", HOUR + timedelta(hours=i))
            sizes.append(len(book))
            # a quiet hour still has a few honest sellers with real stock
            assert sum(_fillable(lst, "divine") for lst in book) >= 3, (item, i)
    assert len(set(sizes)) > 10
    assert max(sizes) <= 100


def test_empty_books_happen_only_where_asked_for_and_leave_the_other_books_as_they_were() -> None:
    hours = [HOUR + timedelta(hours=i) for i in range(400)]
    healthy = [order_book(GREED, "divine", h) for h in hours]
    trapped = [order_book(GREED, "divine", h, empty_book_rate=0.02) for h in hours]
    empty = [i for i, book in enumerate(trapped) if not book]
    assert 1 <= len(empty) <= 25
    assert all(trapped[i] == healthy[i] for i in range(len(hours)) if i not in empty)
    assert not any(not book for book in healthy)


@pytest.mark.timing
def test_order_book_is_fast_enough_for_history_generation() -> None:
    start = time.perf_counter()
    for i in range(200):
        order_book(ESSENCE_FAMILY_DEAFENING[i % 20], "divine", HOUR + timedelta(hours=i))
    assert (time.perf_counter() - start) / 200 < 0.005


def test_the_server_answers_empty_books_when_the_config_asks_for_them(sim: SimServer) -> None:
    assert post(sim, body()).json()["total"] > 0
    sim.app.state.config.empty_book_rate = 1.0
    empty = post(sim, body()).json()
    assert empty["result"] == {} and empty["total"] == 0


def test_exchange_response_is_deterministic_and_accepts_a_bare_query() -> None:
    query = body(["divine"], [GREED, "deafening-essence-of-envy"])
    first = exchange_response(query, HOUR, league="Standard")
    assert first == exchange_response(query, HOUR, league="Standard")
    bare = exchange_response(query["query"], HOUR, league="Standard")
    assert list(bare["result"]) == list(first["result"])


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize("payload,needle", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    ({"engine": "new", "sort": {"have": "asc"}}, "`query`"),
    ({"query": {"status": {"option": "offline"}, "have": ["divine"], "want": [GREED]}}, "status option `offline`"),
    ({"query": {"status": {"option": "online"}, "want": [GREED]}}, "`have`"),
    ({"query": {"status": {"option": "online"}, "have": [], "want": [GREED]}}, "`have` must not be empty"),
    ({"query": {"status": {"option": "online"}, "have": ["divine"], "want": "divine"}}, "`want` must be a list"),
    ({"query": {"status": {"option": "online"}, "have": ["divine"], "want": [3]}}, "`want` must be a list"),
    ({"query": {"status": {"option": "online"}, "have": ["divine"], "want": ["no-such-thing"]}}, "`no-such-thing`"),
    ({"query": {"status": {"option": "online"}, "have": ["fake-orb"], "want": [GREED]}}, "`fake-orb`"),
    ({"query": {"status": {"option": "online"}, "have": ["divine"],
                "want": list(ESSENCE_FAMILY_DEAFENING[:11])}}, "Too many items `want` items selected."),
    ({"query": {"status": {"option": "online"}, "have": ["divine"], "want": [GREED], "minimum": 0}}, "`minimum`"),
    ({"query": {"status": {"option": "online"}, "have": ["divine"], "want": [GREED], "minimum": "5"}}, "`minimum`"),
    ({"query": {"status": {"option": "online"}, "have": ["divine"], "want": [GREED]},
      "sort": {"have": "up"}}, "sort direction"),
])
def test_invalid_queries_get_400_code_2_naming_the_problem(sim: SimServer, payload: Any, needle: str) -> None:
    resp = post(sim, payload, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert error["code"] == 2
    assert needle in error["message"]
    assert "X-Rate-Limit-Ip-State" in resp.headers


@pytest.mark.parametrize("status", ["online", "onlineleague", "any"])
def test_every_documented_status_option_is_accepted(sim: SimServer, status: str) -> None:
    assert post(sim, body(status=status)).status_code == 200


def test_unknown_route_is_404_code_1_and_wrong_method_is_405_code_9(sim: SimServer) -> None:
    missing = requests.get(sim.url + "/api/trade/nothing-here", timeout=TIMEOUT)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == 1
    wrong = requests.get(sim.url + EXCHANGE, timeout=TIMEOUT)
    assert wrong.status_code == 405 and wrong.json()["error"]["code"] == 9


def test_static_endpoints_serve_the_real_static_shape(sim: SimServer) -> None:
    for path in ("/api/trade/data/static", "/api/trade2/data/static"):
        data = requests.get(sim.url + path, timeout=TIMEOUT).json()
        groups = {g["id"]: g for g in data["result"]}
        assert {"Currency", "Essences"} <= set(groups)
        entry = groups["Currency"]["entries"][0]
        assert set(entry) == {"id", "text", "image"}
        ids = {e["id"] for g in data["result"] for e in g["entries"]}
        assert "sep" in ids and {"divine", "chaos", "primal-lifeforce", GREED} <= ids


def test_poe2_exchange_route_answers_like_poe1(sim: SimServer) -> None:
    resp = post(sim, body(), path="/api/trade2/exchange/poe2/Dawn%20of%20the%20Hunt")
    assert resp.status_code == 200
    listing = next(iter(resp.json()["result"].values()))
    assert listing["listing"]["account"]["online"]["league"] == "Dawn of the Hunt"


# ----------------------------------------------------------------------------- rate limits


def test_rate_limit_headers_are_present_and_state_counts_increase(limited: SimServer) -> None:
    states = []
    for _ in range(3):
        resp = post(limited, body())
        assert resp.status_code == 200
        assert resp.headers["X-Rate-Limit-Policy"] == "trade-exchange-request-limit"
        assert resp.headers["X-Rate-Limit-Rules"] == "Ip"
        assert resp.headers["X-Rate-Limit-Ip"] == "3:1:1,6:6:1.2"
        states.append(resp.headers["X-Rate-Limit-Ip-State"])
    assert [s.split(",")[1] for s in states] == ["1:6:0", "2:6:0", "3:6:0"]


def test_exceeding_a_rule_gives_429_code_3_for_the_whole_restriction(limited: SimServer) -> None:
    for _ in range(3):
        assert post(limited, body()).status_code == 200
    violation_at = time.monotonic()
    over = post(limited, body())
    assert over.status_code == 429
    assert over.json() == {"error": {"code": 3, "message": "Rate limit exceeded"}}
    assert int(over.headers["Retry-After"]) >= 1
    first_rule_state = over.headers["X-Rate-Limit-Ip-State"].split(",")[0]
    assert first_rule_state == f"4:1:{RESTRICTION:g}"

    # Poll through the restriction: 429 all along, then served again.
    served, refused = served_again(limited)
    assert time.monotonic() - violation_at >= RESTRICTION
    assert all(r.json()["error"]["code"] == 3 for r in refused)


def test_requests_during_a_restriction_are_not_counted(limited: SimServer) -> None:
    assert [post(limited, body()).status_code for _ in range(4)] == [200, 200, 200, 429]
    resp, refused = served_again(limited)
    assert refused  # requests were made during the restriction ...
    # ... and are not among the hits of the 6 s window: the 3 served, the refused 4th, this one
    assert resp.headers["X-Rate-Limit-Ip-State"].split(",")[1].startswith("5:")


def test_malformed_requests_count_against_the_limit(limited: SimServer) -> None:
    for _ in range(3):
        assert post(limited, b"garbage").status_code == 400
    assert post(limited, body()).status_code == 429


def test_account_rule_applies_when_a_poesessid_cookie_is_sent(limited: SimServer) -> None:
    cookies = {"POESESSID": "0123456789abcdef"}
    first = post(limited, body(), cookies=cookies)
    assert first.headers["X-Rate-Limit-Rules"] == "Ip,Account"
    assert first.headers["X-Rate-Limit-Account"] == "2:2:0.4"
    assert first.headers["X-Rate-Limit-Account-State"] == "1:2:0"
    assert post(limited, body(), cookies=cookies).status_code == 200
    third = post(limited, body(), cookies=cookies)
    assert third.status_code == 429
    assert third.headers["X-Rate-Limit-Account-State"] == "3:2:0.4"


def test_request_log_shows_a_careful_client_never_exceeds_a_rule(limited: SimServer) -> None:
    # short windows, so that a client spacing its requests is quick: 3 per 0.2 s, 6 per 1.2 s
    limited.app.state.config.policy = "3:10:30,6:60:60"
    for _ in range(6):
        assert post(limited, body()).status_code == 200
        time.sleep(0.075)  # a sleep lasts at least this long: never 4 requests inside 0.2 s
    log = [t for t, status, path in limited.app.state.request_log if path == EXCHANGE]
    assert len(log) == 6
    assert all(sum(1 for u in log if t - 0.2 < u <= t) <= 3 for t in log)


def test_limiter_reset_forgets_restrictions(limited: SimServer) -> None:
    for _ in range(4):
        post(limited, body())
    assert post(limited, body()).status_code == 429
    limited.app.state.limiter.reset()
    assert post(limited, body()).status_code == 200


# ----------------------------------------------------------------------------- faults


def fire(server: SimServer, n: int, timeout: float = TIMEOUT) -> list[requests.Response]:
    return [post(server, body(), timeout=timeout) for _ in range(n)]


def test_zero_fault_rates_produce_no_faults(sim: SimServer) -> None:
    responses = fire(sim, 60)
    assert all(r.status_code == 200 for r in responses)
    assert all(isinstance(r.json()["result"], dict) for r in responses)


def test_cloudflare_rate_yields_html_403_challenge_pages(sim: SimServer) -> None:
    sim.app.state.config.cloudflare_403_rate = 0.3
    responses = fire(sim, 120)
    blocked = [r for r in responses if r.status_code == 403]
    assert 15 <= len(blocked) <= 60
    page = blocked[0]
    assert page.headers["content-type"].startswith("text/html")
    assert "Just a moment..." in page.text and page.text.startswith("<!DOCTYPE html>")
    assert "X-Rate-Limit-Ip" not in page.headers
    assert all(r.status_code in (200, 403) for r in responses)


def test_5xx_rate_yields_server_errors(sim: SimServer) -> None:
    sim.app.state.config.error_5xx_rate = 0.3
    responses = fire(sim, 120)
    errors = [r for r in responses if r.status_code >= 500]
    assert 15 <= len(errors) <= 60
    assert all(r.status_code in (500, 502, 503, 504) for r in errors)
    for r in errors:
        if r.headers["content-type"].startswith("application/json"):
            assert r.json()["error"]["code"] in (4, 7)


def test_truncated_json_rate_yields_200_with_a_cut_body(sim: SimServer) -> None:
    sim.app.state.config.truncated_json_rate = 0.3
    broken = 0
    for r in fire(sim, 120):
        assert r.status_code == 200
        try:
            r.json()
        except ValueError:
            broken += 1
    assert 15 <= broken <= 60


def test_spurious_429_rate_yields_429_without_a_real_limit(sim: SimServer) -> None:
    sim.app.state.config.spurious_429_rate = 0.3
    spurious = [r for r in fire(sim, 120) if r.status_code == 429]
    assert 15 <= len(spurious) <= 60
    for r in spurious:
        assert r.json()["error"]["code"] == 3
        assert int(r.headers["Retry-After"]) >= 1


def test_slow_rate_delays_some_responses_past_a_client_timeout(sim: SimServer) -> None:
    sim.app.state.config.slow_rate = 0.5
    sim.app.state.config.slow_seconds = 1.5
    timeouts = 0
    for _ in range(10):
        try:
            # a time-out far above a normal answer's time on a busy machine, far below a slow one's
            post(sim, body(), timeout=0.6)
        except requests.exceptions.ReadTimeout:
            timeouts += 1
    assert 2 <= timeouts <= 8  # the fault draws are seeded: the same count on every run


def test_latency_is_added_to_every_response(sim: SimServer) -> None:
    sim.app.state.config.latency_seconds = 0.05
    for _ in range(3):
        start = time.monotonic()
        assert post(sim, body()).status_code == 200
        assert time.monotonic() - start >= 0.05


def test_faulted_requests_still_count_against_the_rate_limit(limited: SimServer) -> None:
    limited.app.state.config.cloudflare_403_rate = 1.0
    assert [r.status_code for r in fire(limited, 3)] == [403, 403, 403]
    assert post(limited, body()).status_code == 429


# ----------------------------------------------------------------------------- running


def test_sim_server_picks_a_free_port_and_stops_cleanly() -> None:
    with SimServer(base_config()) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.url)
        assert post(server, body()).status_code == 200
        port = server.port
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(f"http://127.0.0.1:{port}{EXCHANGE}", json=body(), timeout=1)


def test_a_taken_port_raises_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"port {port} .*already in use"):
            serve(port)
        with pytest.raises(PortInUseError):
            SimServer(port=port).start()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")]))}
        cli = subprocess.run([sys.executable, "-m", "trade_sim", "--port", str(port)],
                             capture_output=True, text=True, timeout=30, env=env)
        assert cli.returncode == 1
        assert f"port {port}" in cli.stderr


def test_config_reads_trade_sim_environment_variables() -> None:
    cfg = SimConfig.from_env({"TRADE_SIM_TIME_SCALE": "0.5", "TRADE_SIM_ERROR_5XX_RATE": "0.1",
                              "TRADE_SIM_POLICY": "1:2:3", "TRADE_SIM_FIXED_HOUR": "2024-03-01T12:00:00Z",
                              "TRADE_SIM_COUNT_RESTRICTED_HITS": "true", "TRADE_SIM_EMPTY_BOOK_RATE": "0.25"})
    assert cfg.time_scale == 0.5 and cfg.error_5xx_rate == 0.1 and cfg.policy == "1:2:3"
    assert cfg.fixed_hour == HOUR and cfg.count_restricted_hits is True and cfg.empty_book_rate == 0.25
    with pytest.raises(ValueError):
        SimConfig(error_5xx_rate=1.5)
    with pytest.raises(ValueError, match="empty_book_rate"):
        SimConfig(empty_book_rate=-0.1)
