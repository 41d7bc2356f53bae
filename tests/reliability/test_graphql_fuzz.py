"""Bad input everywhere, part 2 (reliability section "bad_input"): the GraphQL API and the CSV
export under hostile and nonsensical requests, over real HTTP (uvicorn on a real socket, the
API connected as its read-only role, a database with two days of simulated history).

* Fuzzing: the query space is read from the schema by introspection (every root field,
  every argument, with its type); Hypothesis draws values for each type (any unicode
  including NUL and lone surrogates, very long strings, negative and huge integers, NaN
  and infinities, dates far outside the calendar, invalid enum names, huge lists, values
  of the wrong type) and sends them as variables, inline literals or GET parameters.
* SQL injection: classic payloads in every string-like argument of every field (and
  wrapped inside otherwise valid cursors), and in every CSV-export parameter.
* Enormous requests: ranges of 1000 years, pages of 10**9, garbage cursors, depth 50,
  1000 aliases, a fragment bomb, 1 MB of query text, 10k-element lists, batches.

Every answer must be a clean 2xx/4xx: no status 500, every error with a `message` and an
`extensions.code` (and never INTERNAL_SERVER_ERROR, which would be a masked bug), no stack
trace, source path or SQL error text in any body, nothing logged as unexpected on the
server; injections return nothing a normal query would not, and every warehouse table is
still there with the same row count afterwards.
"""

from __future__ import annotations

import base64
import json
import logging
import math
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.databases import history_database, with_user
from tradewatch.bulk_exchange.catalog import known_ids
from tradewatch.currency_exchange.catalogue import load_catalogue
from tradewatch.market.strategy import DEAFENING_ESSENCES
from tradewatch.watchlist import load_watchlist

from ._bad_input_server import ERROR_CODES, LEAK_NEEDLES, LogKeeper, serve_api, table_counts

EXAMPLES = int(os.environ.get("TRADEWATCH_FUZZ_EXAMPLES", "1500"))
SLOW_SECONDS = 10.0  # no single answer may take longer than this, however big the request
GREED = "deafening-essence-of-greed"
ITEM_IDS = [*DEAFENING_ESSENCES, "primal-lifeforce"]
NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")

SQL_PAYLOADS = [
    "' OR 1=1 --", "' OR '1'='1", "\" OR \"\"=\"", "') OR ('1'='1", "1' OR '1'='1' /*",
    "'; DROP TABLE warehouse.raw_trade_responses; --", "Standard'; DELETE FROM warehouse.price_snapshots; --",
    "\"; TRUNCATE warehouse.reroll_profitability; --", "'; COMMIT; DROP SCHEMA warehouse CASCADE; --",
    "' UNION SELECT NULL, current_user, version() --", "' UNION ALL SELECT * FROM pg_roles --",
    "'||(SELECT string_agg(rolname, ',') FROM pg_roles)||'", "' AND pg_sleep(3) IS NULL --", "'; SELECT pg_sleep(3); --",
    "$$", "$$; DROP TABLE warehouse.items; $$", "$tag$ x $tag$", "E'\\x27 OR 1=1 --'", "\\x00", "\x00", "a\x00b",
    "\\", "\\'", "''", "%", "_", "%' --", "%%", "%s", "%(league)s", "{league}", "/*", "*/", "--", "#", ";",
    "\u2019 OR 1=1 --", "\u02bc OR 1=1 --", "\uff07 OR 1=1 --", "\u2018\u2019\u201c\u201d", "\ud800",
    "deafening-essence-of-greed' OR item_id <> '", "primal-lifeforce\" OR \"1", "Standard\n; DROP TABLE x",
    "' OR EXISTS(SELECT 1 FROM pg_sleep(3)) --", "1; COPY warehouse.items TO '/tmp/x'; --", "${jndi:ldap://x}",
]


# --- fixtures: history, the served API, the query space ----------------------------------------


@pytest.fixture(scope="module")
def watchlist():
    return load_watchlist()


@pytest.fixture(scope="module")
def history(pg_server_url, watchlist):
    with history_database(pg_server_url, watchlist, "tw_fuzz", days=2, seed=11) as made:
        yield made


@dataclass
class Served:
    api: Any
    keeper: LogKeeper
    counts_before: dict[str, int]


@pytest.fixture(scope="module")
def served(history, watchlist):
    """The API as deployed: the read-only role tradewatch_api, on a real socket; every log record kept."""
    from tradewatch.warehouse.roles import API_ROLE, apply_api_password
    from pydantic import SecretStr as Secret

    apply_api_password(history.url, Secret("api-test-pw"))
    keeper = LogKeeper()
    logging.getLogger().addHandler(keeper)
    # Strawberry logs every GraphQL error (a bad argument too) with its traceback at ERROR; thousands
    # of them would only fill memory here. Our own unexpected errors log under graphql_api.
    execution_log = logging.getLogger("strawberry.execution")
    execution_level = execution_log.level
    execution_log.setLevel(logging.CRITICAL)
    api = serve_api(with_user(history.url, API_ROLE, "api-test-pw"), watchlist)
    try:
        yield Served(api, keeper, table_counts(history.url))
    finally:
        api.stop()
        logging.getLogger().removeHandler(keeper)
        execution_log.setLevel(execution_level)


def unwrap(t: dict) -> tuple[str, str]:
    while t["kind"] in ("NON_NULL", "LIST"):
        t = t["ofType"]
    return t["kind"], t["name"]


def sdl(t: dict) -> str:
    if t["kind"] == "NON_NULL":
        return sdl(t["ofType"]) + "!"
    if t["kind"] == "LIST":
        return f"[{sdl(t['ofType'])}]"
    return t["name"]


@dataclass
class Space:
    """The query space, from introspection."""

    types: dict[str, dict]
    fields: dict[str, dict]  # root field -> {"args": [...], "selection": "..."}
    enums: dict[str, list[str]] = field(default_factory=dict)


INTROSPECTION = """query Space { __schema { queryType { name } types { name kind
  fields { name args { name type { ...T } } type { ...T } } inputFields { name type { ...T } } enumValues { name } } } }
fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name } } } }"""
SKIPPED_SELECTIONS = {"responseBody"}  # ~40 kB each: the audit body is not what is being fuzzed


@pytest.fixture(scope="module")
def space(served) -> Space:
    answer = served.api.client.post("/graphql", json={"query": INTROSPECTION})
    assert answer.status_code == 200, answer.text
    schema = answer.json()["data"]["__schema"]
    types = {t["name"]: t for t in schema["types"]}

    def selection(type_name: str, depth: int) -> str:
        parts = []
        for f in types[type_name]["fields"] or []:
            if f["args"] or f["name"] in SKIPPED_SELECTIONS:
                continue
            kind, name = unwrap(f["type"])
            if kind in ("SCALAR", "ENUM"):
                parts.append(f["name"])
            elif kind == "OBJECT" and depth < 3:
                inner = selection(name, depth + 1)
                if inner:
                    parts.append(f"{f['name']} {{ {inner} }}")
        return " ".join(parts)

    fields = {}
    for f in types[schema["queryType"]["name"]]["fields"]:
        kind, name = unwrap(f["type"])
        fields[f["name"]] = {"args": f["args"], "selection": selection(name, 1) if kind == "OBJECT" else ""}
    enums = {t["name"]: [v["name"] for v in t["enumValues"]] for t in schema["types"]
             if t["kind"] == "ENUM" and not t["name"].startswith("__")}
    space = Space(types, fields, enums)
    assert len(fields) >= 9 and sum(len(f["args"]) for f in fields.values()) >= 40
    return space


# --- checking one answer ----------------------------------------------------------------------


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    codes: Counter = field(default_factory=Counter)
    slowest: float = 0.0
    slowest_what: str = ""

    def add(self, response: httpx.Response, seconds: float, what: str) -> None:
        self.requests += 1
        self.statuses[response.status_code] += 1
        if seconds > self.slowest:
            self.slowest, self.slowest_what = seconds, what


def check_answer(response: httpx.Response, what: str) -> dict | None:
    """The common contract of every answer; the JSON body when there is one."""
    text = response.text
    assert response.status_code < 500, f"{what}: status {response.status_code}: {text[:500]}"
    leaked = [n for n in LEAK_NEEDLES if n in text]
    assert not leaked, f"{what}: the answer shows {leaked}: {text[:800]}"
    if not response.headers.get("content-type", "").startswith("application/json"):
        assert 400 <= response.status_code < 500 or response.status_code in (200, 304), what
        assert len(text) < 2000 and text.count("\n") <= 1, f"{what}: not a one-line message: {text[:500]}"
        return None
    body = response.json()
    assert isinstance(body, dict), f"{what}: {text[:300]}"
    if response.status_code == 200:
        assert "data" in body, f"{what}: {text[:300]}"
    for error in body.get("errors") or []:
        assert isinstance(error.get("message"), str) and error["message"], f"{what}: {error}"
        code = (error.get("extensions") or {}).get("code")
        assert code in ERROR_CODES, f"{what}: error without a proper code ({code}): {error}"
    return body


def send(client: httpx.Client, tally: Tally, what: str, *, method: str = "POST", **kwargs) -> tuple[httpx.Response, dict | None]:
    started = time.monotonic()
    response = client.request(method, "/graphql" if "url" not in kwargs else kwargs.pop("url"), **kwargs)
    seconds = time.monotonic() - started
    tally.add(response, seconds, what)
    body = check_answer(response, what)
    for error in (body or {}).get("errors") or []:
        tally.codes[error["extensions"]["code"]] += 1
    assert seconds < SLOW_SECONDS, f"{what}: took {seconds:.1f} s"
    return response, body


def no_unexpected_server_errors(served: Served) -> None:
    unexpected = served.keeper.errors("graphql_api", "uvicorn.error", "uvicorn", "starlette")
    assert not unexpected, "the server logged unexpected errors:\n" + "\n".join(
        f"{r.name}: {r.getMessage()}" for r in unexpected[:5])


def json_body(payload: dict) -> dict:
    # ASCII-escaped JSON keeps lone surrogates (\ud800) and NaN sendable; httpx's own encoder refuses them
    return {"content": json.dumps(payload, ensure_ascii=True), "headers": {"content-type": "application/json"}}


# --- values for every type --------------------------------------------------------------------

ANY_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                   max_size=3), max_leaves=6)
NASTY_TEXT = st.sampled_from(["", " ", "\x00", "\ud800", "\udfff\ud800", "a\ud83db", "\u202e\u0000\u200b",
                              "\t\n\r", "\\u0000", "null", "undefined", "NaN", "🙂" * 50, "ß" * 3])


def text_values() -> st.SearchStrategy:
    return st.one_of(
        st.sampled_from(["Standard", "standard", "deafening-top5", "greed", "Essences", "Currency", *ITEM_IDS[:5]]),
        st.sampled_from(SQL_PAYLOADS), NASTY_TEXT,
        st.text(max_size=30),
        st.builds(lambda s, n: s * n, st.text(min_size=1, max_size=3), st.sampled_from([300, 5_000, 100_000])),
    )


def time_values(history) -> st.SearchStrategy:
    offsets = st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-1439, 1439))
    return st.one_of(
        st.datetimes(timezones=st.none() | offsets).map(lambda d: d.isoformat()),
        st.datetimes(min_value=history.start.replace(tzinfo=None) - timedelta(days=2),
                     max_value=history.end.replace(tzinfo=None) + timedelta(days=2)).map(lambda d: d.isoformat()),
        st.dates().map(lambda d: d.isoformat()),
        st.sampled_from(["0001-01-01", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-14:00",
                         "2026-13-01", "2026-02-30", "2026-01-01T24:00:00", "2026-01-01T00:00:00+25:00", "soon",
                         "", "10000-01-01", "-0001-01-01", "2026-W01", "1e10", "2026-01-01 00:00:00 UTC",
                         "2026-01-01T00:00:00Z", "2026-01-01T00:00:00.123456789Z", "\x00", "now", "yesterday"]),
        st.integers(-10**12, 10**12),
    )


def int_values() -> st.SearchStrategy:
    return st.one_of(st.integers(-5, 600), st.sampled_from([0, -1, 1, 50, 51, 500, 501, 2**31 - 1, 2**31, -2**31 - 1,
                                                            10**9, 2**53 + 1, 2**63, -2**63 - 1, 10**30]),
                     st.integers())


def float_values() -> st.SearchStrategy:
    return st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                     st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e-7, 1e-6, 1.5, 30.0, 1e6, 1e6 + 1, 1e300,
                                      1.7976931348623157e308, 2**63]))


def short_values(space: Space, t: dict) -> st.SearchStrategy:
    """Small values of a type, for the elements of huge lists."""
    kind, name = unwrap(t)
    if kind == "INPUT_OBJECT":
        return st.fixed_dictionaries({"item": st.sampled_from(ITEM_IDS + ["x'--"]),
                                      "weight": st.sampled_from([1.0, 0.5, -1.0, 1e9])})
    if kind == "ENUM":
        return st.sampled_from(space.enums[name] + ["NOPE"])
    return st.sampled_from([*ITEM_IDS, "no-such-item", "' OR 1=1 --", "", 7, None])


def values_for(space: Space, t: dict, history, depth: int = 0) -> st.SearchStrategy:
    """Values for a GraphQL type: mostly well-typed (valid or nonsensical), sometimes of another type."""
    if t["kind"] == "NON_NULL":
        return values_for(space, t["ofType"], history, depth)
    if t["kind"] == "LIST":
        element = values_for(space, t["ofType"], history, depth + 1)
        return st.one_of(st.lists(element, max_size=6), st.just([]),
                         st.builds(lambda x, n: [x] * n, short_values(space, t["ofType"]), st.sampled_from([60, 10_000])))
    kind, name = t["kind"], t["name"]
    if kind == "ENUM":
        typed = st.sampled_from(space.enums[name] + ["MONTH", "hour", "", "TOP_k", "TIME_ASC ", "NULL"])
    elif kind == "INPUT_OBJECT":
        members = {f["name"]: values_for(space, f["type"], history, depth + 1)
                   for f in space.types[name]["inputFields"]}
        typed = st.one_of(st.fixed_dictionaries(members),
                          st.fixed_dictionaries({}, optional=members),
                          st.fixed_dictionaries(members, optional={"extra": ANY_JSON}))
    elif name == "Int":
        typed = int_values()
    elif name == "Float":
        typed = float_values()
    elif name == "DateTime":
        typed = time_values(history)
    elif name == "ID":
        typed = st.one_of(st.sampled_from(ITEM_IDS + ["divine", "chaos", "mirror"]), text_values())
    elif name == "Boolean":
        typed = st.booleans()
    else:
        typed = text_values()
    return st.one_of(typed, typed, typed, typed, st.none(), ANY_JSON)


def valid_values(space: Space, t: dict, history) -> st.SearchStrategy:
    """Values a dashboard would send: they reach the SQL and the strategy math with real data."""
    if t["kind"] == "NON_NULL":
        return valid_values(space, t["ofType"], history)
    if t["kind"] == "LIST":
        return st.lists(valid_values(space, t["ofType"], history), min_size=1, max_size=4)
    kind, name = t["kind"], t["name"]
    if kind == "ENUM":
        return st.sampled_from(space.enums[name])
    if kind == "INPUT_OBJECT":
        return st.fixed_dictionaries({"item": st.sampled_from(list(DEAFENING_ESSENCES)),
                                      "weight": st.floats(0.01, 100)})
    if name == "Int":
        return st.integers(1, 60)
    if name == "Float":
        return st.floats(0.001, 10_000)
    if name == "DateTime":
        return st.datetimes(min_value=history.start.replace(tzinfo=None) - timedelta(hours=6),
                            max_value=history.end.replace(tzinfo=None) + timedelta(hours=6)).map(lambda d: d.isoformat())
    if name == "ID":
        return st.sampled_from(ITEM_IDS)
    return st.sampled_from(["Standard", "deafening-top5", "greed", "essence", "Essences", "life"])


def literal(value: Any, enum: bool = False) -> str:
    """A GraphQL literal for a value (possibly an invalid one: the server must cope)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("NaN" if value != value else "Infinity")
    if isinstance(value, str):
        return value if enum and NAME.match(value) else json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v, enum) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k if NAME.match(k) else json.dumps(k)}: {literal(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


@dataclass(frozen=True)
class Case:
    field: str
    args: dict
    mode: str  # variables | literal | get
    style: str = "fixed"  # how the fuzzer made it: wild | valid | one-bad


def build_request(space: Space, case: Case) -> dict:
    spec = space.fields[case.field]
    types = {a["name"]: a["type"] for a in spec["args"]}
    selection = f" {{ {spec['selection']} }}" if spec["selection"] else ""
    if case.mode == "literal":
        args = ", ".join(f"{name}: {literal(value, unwrap(types[name])[0] == 'ENUM')}"
                         for name, value in case.args.items())
        query = f"{{ {case.field}{f'({args})' if args else ''}{selection} }}"
        return {"query": query}
    names = {name: f"v{i}" for i, name in enumerate(case.args)}
    declared = ", ".join(f"${names[n]}: {sdl(types[n])}" for n in case.args)
    args = ", ".join(f"{n}: ${names[n]}" for n in case.args)
    query = (f"query Fuzz{f'({declared})' if declared else ''} "
             f"{{ {case.field}{f'({args})' if args else ''}{selection} }}")
    return {"query": query, "variables": {names[n]: v for n, v in case.args.items()}}


def send_case(client: httpx.Client, tally: Tally, space: Space, case: Case) -> dict | None:
    payload = build_request(space, case)
    what = f"{case.mode} {json.dumps(payload, ensure_ascii=True)[:600]}"
    if case.mode == "get":
        params = {"query": payload["query"], "variables": json.dumps(payload.get("variables") or {}, ensure_ascii=True)}
        if sum(len(v) for v in params.values()) < 6000:
            return send(client, tally, what, method="GET", params=params)[1]
    return send(client, tally, what, **json_body(payload))[1]


# --- the tests --------------------------------------------------------------------------------


def test_fuzzing_every_root_field_and_argument_gets_clean_answers(served, space, history, figures):
    client = served.api.client
    tally = Tally()
    used: Counter = Counter()
    styles: Counter = Counter()
    answered: Counter = Counter()
    fields = sorted(space.fields)

    @st.composite
    def cases(draw) -> Case:
        # wild: every argument fuzzed; valid: what a dashboard sends (reaches SQL with real data);
        # one-bad: valid but one argument fuzzed
        style = draw(st.sampled_from(["wild", "wild", "valid", "one-bad", "one-bad"]))
        name = draw(st.sampled_from(fields))
        args = {}
        for arg in space.fields[name]["args"]:
            if draw(st.booleans()):
                values = values_for if style == "wild" else valid_values
                args[arg["name"]] = draw(values(space, arg["type"], history))
        if style == "one-bad" and space.fields[name]["args"]:
            arg = draw(st.sampled_from(space.fields[name]["args"]))
            args[arg["name"]] = draw(values_for(space, arg["type"], history))
        return Case(name, args, draw(st.sampled_from(["variables", "variables", "literal", "get"])), style)

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=False,
              suppress_health_check=list(HealthCheck))
    @given(cases())
    def fuzz(case: Case) -> None:
        used[case.field] += 1
        styles[case.style] += 1
        for arg in case.args:
            used[f"{case.field}({arg})"] += 1
        body = send_case(client, tally, space, case)
        if body is not None and not body.get("errors"):
            answered[case.field] += 1

    started = time.monotonic()
    fuzz()
    elapsed = time.monotonic() - started
    no_unexpected_server_errors(served)
    # the space was really covered: every root field and every one of its arguments was sent
    missing = [f for f in fields if not used[f]] + [f"{f}({a['name']})" for f in fields
                                                     for a in space.fields[f]["args"] if not used[f"{f}({a['name']})"]]
    assert not missing, f"never fuzzed: {missing}"
    assert tally.statuses[500] == 0 and tally.codes["INTERNAL_SERVER_ERROR"] == 0
    # and not only refusals: every field also answered with data, so the SQL and the math ran
    assert set(answered) == set(fields), f"never answered with data: {set(fields) - set(answered)}"
    arguments = sum(len(f["args"]) for f in space.fields.values())
    figures.record("bad_input", "GraphQL fuzz inputs sent", tally.requests, "requests",
                   f"Hypothesis, derandomized, {EXAMPLES} examples over {len(fields)} root fields and "
                   f"{arguments} arguments from introspection; as variables, literals and GET; "
                   f"{styles['wild']} wild, {styles['valid']} valid, {styles['one-bad']} valid but one argument "
                   f"fuzzed; {sum(answered.values())} answered with data; {elapsed:.0f} s")
    figures.record("bad_input", "GraphQL fuzz answers by status", dict(sorted(tally.statuses.items())), "",
                   "error codes: " + ", ".join(f"{c} {n}" for c, n in tally.codes.most_common()))
    figures.record("bad_input", "GraphQL fuzz: status 500 / masked internal errors / stack traces", "0 / 0 / 0", "")
    figures.record("bad_input", "GraphQL fuzz: slowest answer", round(tally.slowest * 1000), "ms", tally.slowest_what[:120])


def _injectable(space: Space) -> list[tuple[str, str, dict]]:
    """(field, argument, type) of every argument a string can be put in: String, ID, DateTime,
    enums, lists of those and the fields of input objects."""
    found = []
    for name, spec in sorted(space.fields.items()):
        for arg in spec["args"]:
            kind, type_name = unwrap(arg["type"])
            if kind in ("SCALAR", "ENUM", "INPUT_OBJECT") and type_name not in ("Int", "Float", "Boolean"):
                found.append((name, arg["name"], arg["type"]))
    return found


def _payload_value(t: dict, payload: str) -> Any:
    if t["kind"] == "NON_NULL":
        return _payload_value(t["ofType"], payload)
    if t["kind"] == "LIST":
        return [_payload_value(t["ofType"], payload)]
    if t["kind"] == "INPUT_OBJECT":
        return {"item": payload, "weight": 1.0}
    return payload


def _rows(field: str, data: dict) -> int:
    """How many rows of stored data an answer carries."""
    value = data[field]
    if field in ("snapshots", "profitability", "rawResponses", "market"):
        return len(value["nodes"])
    if field in ("priceSeries", "exchangePrices"):  # one series per asked item: its points are the rows
        return sum(s["points"] for s in value)
    if field == "coverage":
        return sum(h["stored"] + h["snapshots"] for h in value["hours"])
    if field == "evaluateStrategy":
        return value["summary"]["hoursEvaluated"]
    return len(value) if isinstance(value, list) else 1


def test_sql_injection_in_every_string_argument_returns_nothing_extra_and_changes_nothing(
        served, space, history, figures):
    client = served.api.client
    tally = Tally()
    targets = _injectable(space)
    assert {("items", "search"), ("snapshots", "league"), ("snapshots", "after"), ("priceSeries", "item"),
            ("evaluateStrategy", "weights"), ("rawResponses", "item")} <= {(f, a) for f, a, _ in targets}
    span = {"from": history.start.isoformat(), "to": history.end.isoformat()}
    all_items = {i["id"] for i in client.post("/graphql", json={"query": "{ items { id } }"}).json()["data"]["items"]}
    # a search no watched item matches lists the exchange catalogue's items too: still nothing outside those
    all_items |= {i.id for i in load_catalogue("poe1")}
    tried = 0
    for field_name, arg, arg_type in targets:
        spec = space.fields[field_name]
        arg_names = {a["name"] for a in spec["args"]}
        for index, payload in enumerate(SQL_PAYLOADS):
            args = {arg: _payload_value(arg_type, payload)}
            if field_name in ("priceSeries",) and arg not in ("item", "items"):
                args["item"] = GREED  # the field needs one; the payload goes elsewhere
            for bound in ("from", "to"):
                if bound in arg_names and bound not in args and field_name != "evaluateStrategy":
                    args[bound] = span[bound]
            modes = ("variables", "literal") if index % 3 == 0 else ("variables",)
            for mode in modes:
                tried += 1
                body = send_case(client, tally, space, Case(field_name, args, mode))
                if body is None or body.get("errors"):
                    continue  # refused: fine
                data = body["data"]
                if arg == "league":
                    assert _rows(field_name, data) == 0, f"league {payload!r} returned rows"
                elif arg in ("search", "category"):
                    # items: the watched and catalogue items; market: its rows' items
                    found = data["items"] if field_name == "items" else [n["item"] for n in data[field_name]["nodes"]]
                    assert {i["id"] for i in found} <= all_items
                    needle = payload.strip().lower()
                    for item in found:
                        if arg == "search":
                            assert needle in item["id"].lower() or needle in item["name"].lower(), (payload, item)
                        else:
                            assert (item["category"] or "").lower() == needle, (payload, item)
                else:
                    pytest.fail(f"{field_name}({arg}: {payload!r}) answered with data instead of an error: "
                                f"{json.dumps(data)[:300]}")
    # payloads inside cursors that are otherwise well-formed: the keyset is bound, never spliced
    hour = history.end - timedelta(hours=5)
    for field_name, parts in (("snapshots", 2), ("rawResponses", 2), ("profitability", 3)):
        baseline = client.post("/graphql", json={"query": f'{{ {field_name}(from: "{span["from"]}", to: "{span["to"]}", '
                                                         f'first: 50) {{ nodes {{ hour }} }} }}'}).json()
        normal = len(baseline["data"][field_name]["nodes"])
        for payload in SQL_PAYLOADS:
            keys = [hour.isoformat()] + [payload] * (parts - 1)
            cursor = base64.urlsafe_b64encode(json.dumps(keys).encode()).decode().rstrip("=")
            tried += 1
            body = send_case(client, tally, space, Case(field_name, {"after": cursor, "first": 50, **span}, "variables"))
            if body and not body.get("errors"):
                assert len(body["data"][field_name]["nodes"]) <= normal
    # and the CSV export's parameters
    for param in ("item", "league", "bucket", "from", "to"):
        for payload in SQL_PAYLOADS:
            params = {"item": GREED, **span, param: payload}
            # percent-encoded by hand: a lone surrogate goes out as its (invalid) UTF-8 bytes
            query = "&".join(f"{k}={quote(v.encode('utf-8', 'surrogatepass'), safe='')}" for k, v in params.items())
            started = time.monotonic()
            response = client.get(f"/export/price-series.csv?{query}")
            tally.add(response, time.monotonic() - started, f"csv {param}={payload!r}")
            tried += 1
            check_answer(response, f"csv {param}={payload!r}")
            if response.status_code == 200:
                assert param == "league" and response.text.count("\n") == 1, (param, payload, response.text[:300])
            else:
                assert f"`{param}`" in response.text, response.text
    no_unexpected_server_errors(served)
    assert tally.slowest < 2.5, f"an injected pg_sleep may have run: {tally.slowest_what} took {tally.slowest:.1f} s"
    assert table_counts(history.url) == served.counts_before, "the warehouse changed"
    figures.record("bad_input", "SQL-injection requests", tried, "requests",
                   f"{len(SQL_PAYLOADS)} payloads in {len(targets)} string-like arguments of every field (variables and "
                   "literals), inside well-formed cursors, and in the 5 CSV-export parameters")
    figures.record("bad_input", "SQL injection: extra rows / status 500 / tables changed", "0 / 0 / 0", "",
                   f"{len(served.counts_before)} warehouse tables and views, same row counts after; slowest answer "
                   f"{tally.slowest * 1000:.0f} ms (payloads with pg_sleep(3) did not sleep)")


def _nested(depth: int) -> str:
    return "{ strategies " + "{ family " * depth + "{ id }" + " }" * depth + " }"


def _fragment_bomb(levels: int) -> str:
    return ("query Bomb { ...F0 } " + " ".join(f"fragment F{i} on Query {{ a{i}: items {{ id }} ...F{i + 1} ...F{i + 1} }}"
                                               for i in range(levels))
            + f" fragment F{levels} on Query {{ items {{ id }} }}")


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def test_enormous_and_malformed_requests_get_quick_clean_answers(served, history, figures):
    client = served.api.client
    tally = Tally()
    millennium = {"f": "1026-01-01T00:00:00Z", "t": "2026-01-01T00:00:00Z"}
    cursor_q = "query($a: String) { snapshots(after: $a) { nodes { hour } } }"
    cases: list[tuple[str, dict, tuple[int, ...], str | None]] = [
        # (what, request, allowed statuses, expected error code or None)
        *[(f"1000-year range on {name}", {"json": {"query": f'query($f: DateTime, $t: DateTime) {{ {name}(from: $f, to: $t'
                                                            f'{extra}) {{ {sel} }} }}', "variables": millennium}},
           (200,), "BAD_USER_INPUT")
          for name, extra, sel in (("snapshots", "", "nodes { hour }"), ("profitability", "", "nodes { hour }"),
                                   ("rawResponses", "", "nodes { id }"), ("coverage", "", "hoursTotal"),
                                   ("evaluateStrategy", "", "summary { hours }"),
                                   ("priceSeries", f', item: "{GREED}"', "points"))],
        ("range from year 1 to 9999", {"json": {"query": "query($f: DateTime, $t: DateTime) "
                                                         "{ coverage(from: $f, to: $t) { hoursTotal } }",
                                                "variables": {"f": "0001-01-01", "t": "9999-12-31T23:59:59"}}},
         (200,), "BAD_USER_INPUT"),
        ("first = 10**9", {"json": {"query": "{ snapshots(first: 1000000000) { nodes { hour } } }"}}, (200,),
         "BAD_USER_INPUT"),
        ("first = 2**31", {"json": {"query": "query($n: Int) { rawResponses(first: $n) { nodes { id } } }",
                                    "variables": {"n": 2**31}}}, (200,), "BAD_USER_INPUT"),
        ("first = 10**30 literal", {"json": {"query": "{ profitability(first: 1" + "0" * 30 + ") { nodes { hour } } }"}},
         (200,), "BAD_USER_INPUT"),
        ("first = -1", {"json": {"query": "{ snapshots(first: -1) { nodes { hour } } }"}}, (200,), "BAD_USER_INPUT"),
        *[(f"garbage cursor {label}", {"json": {"query": cursor_q, "variables": {"a": cursor}}}, (200,),
           "BAD_USER_INPUT")
          for label, cursor in (("random bytes", base64.b64encode(bytes(range(256))).decode()), ("padding", "===="),
                                ("emoji", "🙂🙂"), ("100k characters", "A" * 100_000),
                                ("JSON of 10k items", _b64(json.dumps(list(range(10_000))))),
                                ("JSON nested 100k deep", _b64("[" * 100_000 + "]" * 100_000)),
                                ("wrong kinds", _b64(json.dumps([1, 2]))), ("not a time", _b64('["soon", "x"]')),
                                ("NUL in the key", _b64('["2026-01-01T00:00:00", "a\\u0000b"]')),
                                ("year 10000", _b64('["10000-01-01T00:00:00", "x"]')))],
        ("depth 50", {"json": {"query": _nested(50)}}, (200,), "QUERY_TOO_COMPLEX"),
        ("depth 9", {"json": {"query": _nested(9)}}, (200,), "QUERY_TOO_COMPLEX"),
        ("nesting 300 (parser limit)", {"json": {"query": "{ items " + "{ a " * 300 + "{ b }" + " }" * 300 + " }"}},
         (200,), "QUERY_TOO_COMPLEX"),
        ("1000 aliases", {"json": {"query": "{ " + " ".join(f"a{i}: items {{ id }}" for i in range(1000)) + " }"}},
         (200,), "QUERY_TOO_COMPLEX"),
        ("30 aliases", {"json": {"query": "{ " + " ".join(f"a{i}: strategies {{ name }}" for i in range(30)) + " }"}},
         (200,), "QUERY_TOO_COMPLEX"),
        ("fragment bomb (2**30 spreads)", {"json": {"query": _fragment_bomb(30)}}, (200,), "QUERY_TOO_COMPLEX"),
        ("fragment bomb without aliases", {"json": {"query": "query B { ...F0 } " + " ".join(
            f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(30)) +
            " fragment F30 on Query { strategies { family { id } } }"}}, (200,), None),
        ("unknown fragment", {"json": {"query": "{ ...Nope }"}}, (200,), "GRAPHQL_VALIDATION_FAILED"),
        ("fragment cycle", {"json": {"query": "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"}},
         (200,), "GRAPHQL_VALIDATION_FAILED"),
        ("500 directives", {"json": {"query": "{ items" + " @include(if: true)" * 500 + " { id } }"}}, (200,),
         "QUERY_TOO_COMPLEX"),
        ("5000 variables", {"json": {"query": "query(" + ", ".join(f"$v{i}: Int" for i in range(5000)) + ") { items { id } }"}},
         (200, 413), None),
        ("1 MB of whitespace", {"json": {"query": "{ items { id } }" + " " * 1_000_000}}, (413,), None),
        ("1 MB comment", {"json": {"query": "# " + "x" * 1_000_000 + "\n{ items { id } }"}}, (413,), None),
        ("1 MB string argument", {"json": {"query": '{ items(search: "' + "x" * 1_000_000 + '") { id } }'}}, (413,), None),
        ("1 MB string variable", {"json": {"query": "query($a: String) { items(search: $a) { id } }",
                                           "variables": {"a": "x" * 1_000_000}}},
         (200,), None),
        # under the cap on `variables` values (10,000 by default): handled; over it: refused unread
        ("9k equal items", {"json": {"query": "query($i: [ID!]) { latestPrices(items: $i) { hour } }",
                                     "variables": {"i": [GREED] * 9_000}}}, (200,), None),
        ("9k unknown items", {"json": {"query": "query($i: [ID!]) { snapshots(items: $i) { nodes { hour } } }",
                                       "variables": {"i": [f"no-such-item-{n}" for n in range(9_000)]}}}, (200,), "NOT_FOUND"),
        ("8k series items", {"json": {"query": "query($i: [ID!]) { priceSeries(items: $i) { points } }",
                                      "variables": {"i": ITEM_IDS * 400}}}, (200,), None),
        ("3k weights", {"json": {"query": "query($w: [WeightInput!]) { evaluateStrategy(weights: $w) { summary { hours } } }",
                                 "variables": {"w": [{"item": GREED, "weight": 1.0}] * 3_000}}}, (200,), "BAD_USER_INPUT"),
        ("10k equal items", {"json": {"query": "query($i: [ID!]) { latestPrices(items: $i) { hour } }",
                                      "variables": {"i": [GREED] * 10_000}}}, (413,), "REQUEST_TOO_LARGE"),
        ("10k weights", {"json": {"query": "query($w: [WeightInput!]) { evaluateStrategy(weights: $w) { summary { hours } } }",
                                  "variables": {"w": [{"item": GREED, "weight": 1.0}] * 10_000}}}, (413,), "REQUEST_TOO_LARGE"),
        ("10k items as a literal", {"json": {"query": "{ latestPrices(items: [" + ", ".join(['"x"'] * 10_000) + "]) { hour } }"}},
         (200,), "QUERY_TOO_COMPLEX"),
        ("100k items as a literal", {"json": {"query": "{ latestPrices(items: [" + ", ".join(['"x"'] * 100_000) + "]) { hour } }"}},
         (413,), None),
        ("batch of 1000 queries", {"json": [{"query": "{ items { id } }"}] * 1000}, (400,), None),
        ("empty batch", {"json": []}, (400,), None),
        ("JSON body nested 100k deep", {"content": "[" * 100_000 + "]" * 100_000,
                                        "headers": {"content-type": "application/json"}}, (400,), None),
        ("JSON string body", {"json": "{ items { id } }"}, (400,), None),
        ("JSON number body", {"json": 42}, (400,), None),
        ("not UTF-8", {"content": b'{"query": "\xff\xfe"}', "headers": {"content-type": "application/json"}},
         (400,), None),
        ("not JSON", {"content": b"{ items { id } }", "headers": {"content-type": "application/json"}}, (400,), None),
        ("no content type", {"content": b'{"query": "{ items { id } }"}'}, (400,), None),
        ("form body", {"data": {"query": "{ items { id } }"}}, (400,), None),
        ("variables not an object", {"json": {"query": "{ items { id } }", "variables": [1, 2]}}, (400,), None),
        ("query not a string", {"json": {"query": {"a": 1}}}, (400,), None),
        ("unknown operation", {"json": {"query": "query A { items { id } }", "operationName": "B"}}, (400,), None),
        ("unknown operation named by a lone surrogate", {"content": '{"query": "query A { items { id } }", '
                                                                    '"operationName": "\\ud800"}',
                                                         "headers": {"content-type": "application/json"}}, (400,), None),
        ("enum value that is a lone surrogate", {"content": '{"query": "query($b: Bucket!) { priceSeries(item: '
                                                            '\\"deafening-essence-of-greed\\", bucket: $b) { points } }", '
                                                            '"variables": {"b": "\\ud800"}}',
                                                 "headers": {"content-type": "application/json"}}, (200,),
         "BAD_USER_INPUT"),
        ("two operations, none named", {"json": {"query": "query A { items { id } } query B { items { id } }"}},
         (200, 400), None),
        ("mutation", {"json": {"query": "mutation { items }"}}, (200,), "GRAPHQL_VALIDATION_FAILED"),
        ("subscription", {"json": {"query": "subscription { items }"}}, (200,), "GRAPHQL_VALIDATION_FAILED"),
        ("deep introspection", {"json": {"query": "{ __schema { types { fields { type { ofType { ofType { ofType { "
                                                  "ofType { ofType { ofType { name } } } } } } } } } }"}}, (200,), None),
        ("NUL in the query text", {"json": {"query": "{ items\u0000 { id } }"}}, (200,), "GRAPHQL_PARSE_FAILED"),
        ("lone surrogate in a string literal", {"content": '{"query": "{ items(search: \\"\\ud800\\") { id } }"}',
                                                "headers": {"content-type": "application/json"}}, (200,), None),
        ("GET with a 6 kB URL", {"method": "GET", "params": {"query": "{ items { id } }" + " " * 6000}}, (200,), None),
        ("GET mutation", {"method": "GET", "params": {"query": "mutation { items }"}}, (400, 405, 200), None),
        ("PUT", {"method": "PUT", "json": {"query": "{ items { id } }"}}, (405,), None),
        ("DELETE", {"method": "DELETE"}, (405,), None),
    ]
    slowest_cases = []
    for what, request, statuses, code in cases:
        request = dict(request)
        method = request.pop("method", "POST")
        if "json" in request:
            request = {**json_body(request.pop("json")), **request}  # type: ignore[arg-type]
        started = time.monotonic()
        response, body = send(served.api.client, tally, what, method=method, **request)
        seconds = time.monotonic() - started
        slowest_cases.append((seconds, what))
        assert response.status_code in statuses, f"{what}: {response.status_code} {response.text[:300]}"
        if code is not None:
            assert body is not None and body.get("errors"), f"{what}: {response.text[:300]}"
            assert code in {e["extensions"]["code"] for e in body["errors"]}, f"{what}: {body['errors']}"
    no_unexpected_server_errors(served)
    assert served.api.client.get("/health").json()["status"] == "ok"  # and the server is still fine
    slowest_cases.sort(reverse=True)
    figures.record("bad_input", "enormous/malformed GraphQL requests", len(cases), "requests",
                   "1000-year ranges on every ranged field, first=10**9/2**31/10**30, 10 kinds of garbage cursor, "
                   "depth 9/50/300, 30 and 1000 aliases, a 2**30 fragment bomb, 1 MB texts, 3k-9k-element lists "
                   "(under the variables cap) and 10k (over it), "
                   "batches, bodies that are not JSON objects")
    figures.record("bad_input", "slowest enormous request", round(slowest_cases[0][0] * 1000), "ms",
                   "; ".join(f"{w} {s * 1000:.0f} ms" for s, w in slowest_cases[:3]))
    figures.record("bad_input", "enormous requests: status 500", tally.statuses[500], "")


CSV_CASES: list[tuple[str, dict | str, int, str]] = [
    # (what, params or raw query string, status, the parameter the message names)
    ("no item", {}, 400, "item"),
    ("unknown item", {"item": "no-such-item"}, 404, "item"),
    ("empty item", {"item": ""}, 404, "item"),
    ("NUL item", {"item": "\x00"}, 404, "item"),
    ("60 known items", {"item": sorted(known_ids("poe1"))[:60]}, 400, "item"),
    ("1000 unknown items", {"item": [f"x-{n}" for n in range(1000)]}, 404, "item"),
    ("bad bucket", {"item": GREED, "bucket": "month"}, 400, "bucket"),
    ("NUL bucket", {"item": GREED, "bucket": "\x00"}, 400, "bucket"),
    ("bad from", {"item": GREED, "from": "soon"}, 400, "from"),
    ("bad to", {"item": GREED, "to": "2026-13-45"}, 400, "to"),
    ("from after to", {"item": GREED, "from": "2026-02-01", "to": "2026-01-01"}, 400, "from"),
    ("1000 years", {"item": GREED, "from": "1026-01-01", "to": "2026-01-01"}, 400, "to"),
    ("year 1 with an offset", {"item": GREED, "to": "0001-01-01T00:00:00+05:00"}, 400, "to"),
    ("year 9999 with an offset", {"item": GREED, "from": "9999-12-31T23:00:00-05:00"}, 400, "from"),
    ("integer time", {"item": GREED, "from": "99999999999999999999"}, 400, "from"),
    ("league with a slash", {"item": GREED, "league": "a/b"}, 400, "league"),
    ("league of 500 characters", {"item": GREED, "league": "L" * 500}, 400, "league"),
    ("league with NUL", {"item": GREED, "league": "Stan\x00dard"}, 400, "league"),
    # invalid UTF-8 is decoded with replacement characters: a league nobody plays, so not found
    ("league lone surrogate (percent-encoded)", "item=deafening-essence-of-greed&league=%ED%A0%80", 404, "league"),
    ("item not UTF-8", "item=%ff%fe", 404, "item"),
    ("10 kB parameter", {"item": "x" * 10_000}, 404, "item"),
]


def test_the_csv_export_refuses_bad_parameters_cleanly(served, figures):
    client = served.api.client
    tally = Tally()
    for what, params, status, parameter in CSV_CASES:
        started = time.monotonic()
        if isinstance(params, str):
            response = client.get(f"/export/price-series.csv?{params}")
        else:
            response = client.get("/export/price-series.csv", params=params)
        tally.add(response, time.monotonic() - started, what)
        check_answer(response, f"csv {what}")
        assert response.status_code == status, f"{what}: {response.status_code} {response.text[:200]}"
        if status == 200:
            assert response.text.count("\n") == 1  # the header line, no rows
            continue
        assert f"`{parameter}`" in response.text or f"`{parameter}[" in response.text, f"{what}: {response.text[:200]}"
        assert response.headers["content-type"].startswith("text/plain")
    no_unexpected_server_errors(served)
    figures.record("bad_input", "CSV export bad parameters", len(CSV_CASES), "requests",
                   f"each a 400/404 naming the parameter; slowest {tally.slowest * 1000:.0f} ms")
