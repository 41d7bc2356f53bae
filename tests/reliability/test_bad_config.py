"""Bad input everywhere, part 1 (reliability section "bad_input"): watchlist files, settings
and `.env` files with every kind of mistake we could think of.

Each must stop with the project's error type (ConfigError) and a one-line message that
names the file or the variable and says what to do - never a KeyError, a TypeError or a
stack trace - and never repeat a secret. Through the `tradewatch` command the same
mistakes end with exit code 2 and one line on stderr, before anything is written: the rows
already stored are counted before and after.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tradewatch.errors import ConfigError, TradeWatchError
from tradewatch.settings import load_settings
from tradewatch.watchlist import DEFAULT_WATCHLIST, load_watchlist

from helpers.servers import free_port

from ._bad_input_server import table_counts

TRADEWATCH = Path(sys.executable).with_name("tradewatch")
GREED, WOE, FEAR = "deafening-essence-of-greed", "deafening-essence-of-woe", "deafening-essence-of-fear"
THREE = f"items: [{GREED}, {WOE}, {FEAR}, primal-lifeforce]\n"
FAMILY = f"family: [{GREED}, {WOE}, {FEAR}]"


def _strategy(extra: str) -> str:
    return THREE + f"strategies: [{{name: s1, {FAMILY}, top_k: 1, {extra}}}]\n"


def _bomb() -> str:
    # "billion laughs": nine levels of nine aliases each
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, 10):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\nitems: *a9\n"


# (id, file content, fragment the message must hold); the path is checked in every message
WATCHLIST_MISTAKES: list[tuple[str, str | bytes, str]] = [
    # not YAML at all, or YAML of the wrong shape
    ("unclosed bracket", "items: [a, b\n", "is not valid YAML (line"),
    ("tab indentation", "items:\n\t- deafening-essence-of-greed\n", "is not valid YAML"),
    ("bad indentation", "items:\n  - a\n - b\n", "is not valid YAML"),
    ("python object tag", "!!python/object/apply:os.system ['echo pwned']\n", "is not valid YAML"),
    ("unknown tag", "items: !secret [a]\n", "is not valid YAML"),
    ("duplicate key", f"items: [{GREED}]\nitems: [{WOE}]\n", "the key 'items' is given twice"),
    ("duplicate key in a strategy", _strategy("top_k: 1"), "the key 'top_k' is given twice"),
    ("top level is a list", "- a\n- b\n", "top level: must be a mapping"),
    ("top level is a string", "just some words\n", "top level: must be a mapping"),
    ("top level is a number", "42\n", "top level: must be a mapping"),
    ("empty file", "", "top level: must be a mapping"),
    ("only comments", "# nothing to see\n", "top level: must be a mapping"),
    ("only null", "~\n", "top level: must be a mapping"),
    ("unknown top-level key", f"leauge: Standard\nitems: [{GREED}]\n", "unknown key(s) ['leauge']"),
    ("keys of mixed types", f"1: one\nfoo: bar\nitems: [{GREED}]\n", "unknown key(s) [1, 'foo']"),
    ("nested too deeply", "items: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    # items
    ("no items", "league: Standard\n", "items: must be a non-empty list"),
    ("items is a string", f"items: {GREED}\n", "items: must be a non-empty list"),
    ("items is a mapping", f"items: {{a: {GREED}}}\n", "items: must be a non-empty list"),
    ("items is empty", "items: []\n", "items: must be a non-empty list"),
    ("unknown item id", f"items: [{GREED}, deafening-essence-of-gred]\n",
     "items[1]: unknown item id 'deafening-essence-of-gred'"),
    ("duplicate item", f"items: [{GREED}, {WOE}, {GREED}]\n", f"items[2]: '{GREED}' is listed twice"),
    ("item is a number", "items: [42]\n", "items[0]: 42 is not a trade item id"),
    ("item is null", "items: [~]\n", "items[0]: None is not a trade item id"),
    ("item is a list", f"items: [[{GREED}]]\n", "items[0]: ['deafening-essence-of-greed'] is not a trade item id"),
    ("item with spaces", "items: [Deafening Essence of Greed]\n", "is not a trade item id"),
    ("item with upper case", "items: [Deafening-Essence-Of-Greed]\n", "is not a trade item id"),
    ("item with SQL", "items: [\"x'; DROP TABLE warehouse.raw_trade_responses; --\"]\n", "is not a trade item id"),
    ("item is the currency", "items: [divine]\n", "is the currency you pay with"),
    ("too many items", "game: poe2\nitems: [" + ", ".join(f"rune-{i}" for i in range(201)) + "]\n",
     "201 items is more than 200"),
    ("ten thousand items", "items: [" + ", ".join([GREED] * 10_000) + "]\n", "10000 items is more than 200"),
    ("yaml bomb", _bomb(), "unknown key(s)"),
    # game, league, currency, quantities
    ("unknown game", f"game: poe3\nitems: [{GREED}]\n", "game: 'poe3' must be poe1 or poe2"),
    ("game is a number", f"game: 1\nitems: [{GREED}]\n", "game: 1 must be poe1 or poe2"),
    ("unknown currency", f"paid_with: gold-coins\nitems: [{GREED}]\n", "paid_with: unknown item id 'gold-coins'"),
    ("currency is a list", f"paid_with: [divine]\nitems: [{GREED}]\n", "paid_with: ['divine'] is not a trade item id"),
    ("league is empty", f"league: ''\nitems: [{GREED}]\n", "league: '' must be the league's name"),
    ("league is blank", f"league: '   '\nitems: [{GREED}]\n", "league: '   ' must be the league's name"),
    ("league is null", f"league: ~\nitems: [{GREED}]\n", "league: None must be the league's name"),
    ("league is a list", f"league: [Standard]\nitems: [{GREED}]\n", "league: ['Standard'] must be"),
    ("league is a number", f"league: 3.25\nitems: [{GREED}]\n", "league: 3.25 must be"),
    ("league with a slash", f"league: Hard/core\nitems: [{GREED}]\n", "league: 'Hard/core' must be"),
    ("league with a NUL", f"league: \"Stan\\0dard\"\nitems: [{GREED}]\n", "league: 'Stan\\x00dard' must be"),
    ("league with a line break", f"league: \"Stan\\ndard\"\nitems: [{GREED}]\n", "league: 'Stan\\ndard' must be"),
    ("league too long", f"league: {'L' * 500}\nitems: [{GREED}]\n", "must be the league's name"),
    ("target quantity zero", f"target_quantity: 0\nitems: [{GREED}]\n", "target_quantity: 0 must be a whole number"),
    ("target quantity negative", f"target_quantity: -500\nitems: [{GREED}]\n", "target_quantity: -500 must be"),
    ("target quantity a string", f"target_quantity: '500'\nitems: [{GREED}]\n", "target_quantity: '500' must be"),
    ("target quantity a float", f"target_quantity: 1.5\nitems: [{GREED}]\n", "target_quantity: 1.5 must be"),
    ("target quantity a bool", f"target_quantity: true\nitems: [{GREED}]\n", "target_quantity: True must be"),
    ("target quantity huge", f"target_quantity: {10 ** 30}\nitems: [{GREED}]\n", "target_quantity: 1000000000000"),
    ("target quantity infinite", f"target_quantity: .inf\nitems: [{GREED}]\n", "target_quantity: inf must be"),
    # strategies
    ("strategies is a mapping", THREE + "strategies: {name: s1}\n", "strategies: must be a list"),
    ("strategy is a string", THREE + "strategies: [s1]\n", "strategies[0]: each strategy must be a mapping"),
    ("strategy has no name", THREE + f"strategies: [{{{FAMILY}}}]\n", "strategies[0].name: None must be a short id"),
    ("strategy name with spaces", THREE + f"strategies: [{{name: My Strategy, {FAMILY}}}]\n",
     "strategies[0].name: 'My Strategy' must be a short id"),
    ("strategy unknown key", _strategy("famly: deafening"), "unknown key(s) ['famly']"),
    ("unknown family", _strategy("").replace(FAMILY, "family: screaming"), "unknown family 'screaming'"),
    ("family is a number", _strategy("").replace(FAMILY, "family: 5"), "must be a family name or a list"),
    ("family of one", _strategy("").replace(FAMILY, f"family: [{GREED}]").replace("top_k: 1, ", ""),
     "needs at least two items"),
    ("family lists an item twice", _strategy("").replace(FAMILY, f"family: [{GREED}, {GREED}, {WOE}]"),
     "lists an item twice"),
    ("family not watched", f"items: [{GREED}, primal-lifeforce]\nstrategies: [{{name: s1}}]\n",
     "are not in `items`; add them"),
    ("family with unknown id", _strategy("").replace(FAMILY, f"family: [{GREED}, {WOE}, no-such-essence]"),
     "family[2]: unknown item id 'no-such-essence'"),
    ("reroll item unknown", _strategy("reroll_cost_item: primal-lifeforse"), "unknown item id 'primal-lifeforse'"),
    ("reroll item not watched", f"items: [{GREED}, {WOE}, {FEAR}]\nstrategies: [{{name: s1, {FAMILY}, top_k: 1}}]\n",
     "'primal-lifeforce' is not in `items`"),
    ("top_k as big as the family", _strategy("").replace("top_k: 1", "top_k: 3"), "must be smaller than the family"),
    ("top_k zero", _strategy("").replace("top_k: 1", "top_k: 0"), "top_k: 0 must be a whole number"),
    ("top_k a bool", _strategy("").replace("top_k: 1", "top_k: yes"), "top_k: True must be a whole number"),
    ("weights a list", _strategy("weights: [1, 2]"), "weights: must be a mapping of item id"),
    ("weights empty", _strategy("weights: {}"), "weights: must be a mapping of item id"),
    ("weight of a non-member", _strategy("weights: {deafening-essence-of-rage: 2}"),
     "'deafening-essence-of-rage' is not a member of the family"),
    ("weight negative", _strategy(f"weights: {{{GREED}: -1}}"), "weights[deafening-essence-of-greed]: -1 must be"),
    ("weight zero", _strategy(f"weights: {{{GREED}: 0}}"), ": 0 must be a positive number"),
    ("weight NaN", _strategy(f"weights: {{{GREED}: .nan}}"), ": nan must be a positive number"),
    ("weight infinite", _strategy(f"weights: {{{GREED}: .inf}}"), ": inf must be a positive number"),
    ("weight enormous", _strategy(f"weights: {{{GREED}: 1.0e+308}}"), ": 1e+308 must be a positive number"),
    ("weight a word", _strategy(f"weights: {{{GREED}: heavy}}"), ": 'heavy' must be a positive number"),
    ("weight null", _strategy(f"weights: {{{GREED}: ~}}"), ": None must be a positive number"),
    ("reroll cost negative", _strategy("reroll_cost_amount: -30"), "reroll_cost_amount: -30 must be a positive number"),
    ("reroll cost a string", _strategy("reroll_cost_amount: thirty"), "reroll_cost_amount: 'thirty' must be"),
    ("reroll cost enormous", _strategy("reroll_cost_amount: 1.0e+300"), "reroll_cost_amount: 1e+300 must be"),
    ("reroll cost tiny", _strategy("reroll_cost_amount: 1.0e-300"), "reroll_cost_amount: 1e-300 must be"),
    ("units per reroll zero", _strategy("units_per_reroll: 0"), "units_per_reroll: 0 must be a whole number"),
    ("units per reroll fraction", _strategy("units_per_reroll: 2.5"), "units_per_reroll: 2.5 must be"),
    ("buy quantity negative", _strategy("buy_quantity: -1"), "buy_quantity: -1 must be"),
    ("buy quantity huge", _strategy(f"buy_quantity: {2 ** 70}"), "buy_quantity: 1180591620717411303424 must be"),
    ("duplicate strategy names", THREE + f"strategies: [{{name: s1, {FAMILY}, top_k: 1}}, "
                                         f"{{name: s1, {FAMILY}, top_k: 2}}]\n", "the name(s) ['s1'] are used twice"),
    # not a text file at all
    ("binary garbage", b"\xff\xfe\x00\x01" + random.Random(7).randbytes(4096), "is not a UTF-8 text file"),
    ("UTF-16 text", "items: [deafening-essence-of-greed]\n".encode("utf-16"), "is not a UTF-8 text file"),
    ("latin-1 text", "league: Çà va\nitems: [x]\n".encode("latin-1"), "is not a UTF-8 text file"),
    ("huge file", "# padding\n" * 150_000 + f"items: [{GREED}]\n", "is more than 1000000 bytes"),
]


def _message_is_for_a_user(message: str) -> None:
    assert "\n" not in message, f"more than one line: {message!r}"
    assert "Traceback" not in message and 'File "' not in message
    assert len(message) < 1000, f"too long ({len(message)} characters): {message[:200]}..."


@pytest.mark.parametrize("content, fragment", [(c, f) for _, c, f in WATCHLIST_MISTAKES],
                         ids=[i for i, _, _ in WATCHLIST_MISTAKES])
def test_every_watchlist_mistake_is_a_config_error_naming_the_file_and_the_entry(tmp_path, content, fragment):
    path = tmp_path / "my watchlist.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    started = time.monotonic()
    with pytest.raises(ConfigError) as raised:
        load_watchlist(path)
    assert time.monotonic() - started < 5, "refusing a watchlist must be quick"
    message = str(raised.value)
    assert message.startswith(f"watchlist {path}: "), message
    assert fragment in message, message
    _message_is_for_a_user(message)
    assert raised.value.__cause__ is None  # raised `from None`: no chained trace behind it


def test_watchlist_mistakes_are_counted(figures, tmp_path):
    # which mistakes stopped loading (all of them) and how long the slowest took
    slowest, refused = 0.0, 0
    for _, content, _ in WATCHLIST_MISTAKES:
        path = tmp_path / "w.yaml"
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        started = time.monotonic()
        try:
            load_watchlist(path)
        except ConfigError:
            refused += 1
        slowest = max(slowest, time.monotonic() - started)
    assert refused == len(WATCHLIST_MISTAKES)
    figures.record("bad_input", "watchlist mistakes refused", f"{refused}/{len(WATCHLIST_MISTAKES)}", "files",
                   "not YAML, wrong shapes and types, unknown/duplicate ids and keys, bad strategies and weights, "
                   "NaN/inf/huge numbers, binary, UTF-16, 1.5 MB, YAML bomb; each a ConfigError naming file and entry")
    figures.record("bad_input", "slowest watchlist refusal", round(slowest * 1000, 1), "ms")


@pytest.mark.parametrize("content", [
    "# a comment first\r\n" + f"items: [{GREED}]\r\n",  # Windows line ends
    "\ufeff" + f"items: [{GREED}]\n",  # a UTF-8 byte-order mark
    f"items: [{GREED}]\n",  # league missing: the documented default, Standard
    f"league: Standard\nitems:\n  - {GREED}\n  - {WOE}\n",
])
def test_what_is_not_a_mistake_still_loads(tmp_path, content):
    path = tmp_path / "ok.yaml"
    path.write_bytes(content.encode("utf-8"))
    watchlist = load_watchlist(path)
    assert watchlist.league == "Standard" and GREED in watchlist.items


def test_a_missing_or_unreadable_watchlist_names_the_setting(tmp_path):
    with pytest.raises(ConfigError, match="no such file; fix TRADEWATCH_WATCHLIST"):
        load_watchlist(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_watchlist(tmp_path)  # a directory
    with pytest.raises(ConfigError, match="is more than 1000000 bytes"):
        load_watchlist(Path("/dev/zero"))  # endless: read only as far as the limit


def test_a_bad_league_from_the_environment_names_the_variable(tmp_path):
    with pytest.raises(ConfigError) as raised:
        load_watchlist(DEFAULT_WATCHLIST, league_override="Stan\ndard")
    assert "TRADEWATCH_LEAGUE" in str(raised.value)


# --- settings and .env -----------------------------------------------------------------------

SECRET = "s3cr3t-" + "9f8e7d6c5b4a"

SETTINGS_MISTAKES: list[tuple[str, str]] = [
    ("TRADEWATCH_TRADE_API_URL", "ftp://example.com"),
    ("TRADEWATCH_TRADE_API_URL", "www.pathofexile.com"),
    ("TRADEWATCH_TRADE_API_URL", "http://"),
    ("TRADEWATCH_TRADE_API_URL", "https://"),
    ("TRADEWATCH_TRADE_API_URL", "http://127.0.0.1:99999"),
    ("TRADEWATCH_TRADE_API_URL", "http://127.0.0.1:port"),
    ("TRADEWATCH_TRADE_API_URL", "http://[::1"),
    ("TRADEWATCH_TRADE_API_URL", "http://exa mple.com"),
    ("TRADEWATCH_TRADE_API_URL", "http://example.com/\r\nX-Injected: 1"),
    ("TRADEWATCH_DATABASE_URL", "mysql://root@localhost/tradewatch"),
    ("TRADEWATCH_DATABASE_URL", "redis://127.0.0.1:6379/0"),
    ("TRADEWATCH_DATABASE_URL", "localhost:5432"),
    ("TRADEWATCH_DATABASE_URL", f"postgresql://tw:{SECRET}@[::1/tradewatch"),
    ("TRADEWATCH_DATABASE_URL", f"postgresql://tw:{SECRET}@db:99999/tradewatch"),
    ("TRADEWATCH_DATABASE_URL", f"postgresql://tw:{SECRET}@db:five/tradewatch"),
    ("TRADEWATCH_DATABASE_URL", f"postgresql://tw:{SECRET}@db/trade\nwatch"),
    ("TRADEWATCH_PG_PORT", "abc"),
    ("TRADEWATCH_PG_PORT", "-3"),
    ("TRADEWATCH_PG_PORT", "70000"),
    ("TRADEWATCH_PG_PORT", "5432.5"),
    ("TRADEWATCH_PG_PORT", "1e3"),
    ("TRADEWATCH_PG_PORT", "nan"),
    ("TRADEWATCH_FETCH_GRACE_MINUTES", "soon"),
    ("TRADEWATCH_FETCH_GRACE_MINUTES", "-1"),
    ("TRADEWATCH_FETCH_GRACE_MINUTES", "nan"),
    ("TRADEWATCH_FETCH_GRACE_MINUTES", "inf"),
    ("TRADEWATCH_FETCH_GRACE_MINUTES", "1e308"),
    ("TRADEWATCH_FETCH_GRACE_MINUTES", "99999"),
    ("TRADEWATCH_LEAGUE", "Hard/core"),
    ("TRADEWATCH_LEAGUE", "L" * 500),
    ("TRADEWATCH_LEAGUE", "Stan\ndard"),
    ("TRADEWATCH_LEAGUE", "Stan\x00dard"),
    ("TRADEWATCH_USER_AGENT", "TradeWatch\r\nX-Injected: 1"),
    ("TRADEWATCH_WATCHLIST", "my\x00watchlist.yaml"),
    ("TRADEWATCH_HOME", "/tmp/\x00home"),
    ("POESESSID", f"{SECRET}\r\nSet-Cookie: x=1"),
    ("CF_CLEARANCE", f"{SECRET}\x00"),
    ("TRADEWATCH_READER_PASSWORD", f"{SECRET}\n"  "more"),
    ("TRADEWATCH_API_PASSWORD", f"\x7f{SECRET}"),
]


@pytest.mark.parametrize("name, value", SETTINGS_MISTAKES, ids=[f"{n}={v[:24]!r}" for n, v in SETTINGS_MISTAKES])
def test_every_malformed_setting_is_a_config_error_naming_the_variable(name, value):
    with pytest.raises(ConfigError) as raised:
        load_settings({name: value}, env_file=None)
    message = str(raised.value)
    assert name in message, message
    _message_is_for_a_user(message)
    assert SECRET not in message, "a secret (or a URL's password) was repeated in the message"


def test_settings_mistakes_are_counted(figures):
    refused = 0
    for name, value in SETTINGS_MISTAKES:
        try:
            load_settings({name: value}, env_file=None)
        except ConfigError:
            refused += 1
    assert refused == len(SETTINGS_MISTAKES)
    figures.record("bad_input", "malformed settings refused", f"{refused}/{len(SETTINGS_MISTAKES)}", "values",
                   "bad URLs and ports, non-numbers, NaN/inf/negative/huge numbers, league with / or control "
                   "characters, header injection in the user agent and cookies; the message names the variable "
                   "and never repeats a secret")


def test_api_settings_mistakes_name_the_variable():
    from graphql_api.config import load_api_settings

    for name, value in (("TRADEWATCH_API_STATEMENT_TIMEOUT_MS", "soon"), ("TRADEWATCH_API_STATEMENT_TIMEOUT_MS", "0"),
                        ("TRADEWATCH_GRAPHIQL", "maybe"), ("TRADEWATCH_API_DATABASE_URL", "mysql://x/y")):
        with pytest.raises(ConfigError, match=name):
            load_api_settings({name: value}, env_file=None)


@pytest.mark.parametrize("content, fragment", [
    (b"\xff\xfe\x00garbage" + random.Random(3).randbytes(2048), "is not a UTF-8 text file"),
    (b"TRADEWATCH_PG_PORT=port\n", "TRADEWATCH_PG_PORT='port' is not a int"),
    (b"TRADEWATCH_TRADE_API_URL=gopher://old\n", "TRADEWATCH_TRADE_API_URL"),
    (f'POESESSID="{SECRET}\\nX: y"\n'.encode(), "POESESSID contains a control character"),
], ids=["binary", "bad number", "bad url", "secret with a line break"])
def test_a_bad_env_file_is_a_config_error_naming_the_file_or_the_variable(tmp_path, content, fragment):
    env_file = tmp_path / ".env"
    env_file.write_bytes(content)
    with pytest.raises(ConfigError) as raised:
        load_settings({}, env_file=env_file)
    message = str(raised.value)
    assert fragment in message and SECRET not in message
    if "UTF-8" in fragment:
        assert str(env_file) in message
    _message_is_for_a_user(message)


def test_lines_an_env_file_cannot_parse_are_skipped_not_fatal(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("this is not a setting\nTRADEWATCH_LEAGUE=Settlers\n=oops\n")
    assert load_settings({}, env_file=env_file).league == "Settlers"


# --- through the command ----------------------------------------------------------------------


def _seeded(database_url: str) -> dict[str, int]:
    """Some stored history to protect; the table counts before anything is tried."""
    from tradewatch.warehouse.db import get_pool
    from tradewatch.cli.simulated_history import simulate_history
    from tradewatch.warehouse.snapshots import compute_snapshots

    watchlist = load_watchlist()
    end = datetime(2026, 11, 20, tzinfo=timezone.utc)  # fixed hours: nothing here depends on today
    simulate_history(get_pool(database_url), watchlist, end - timedelta(hours=3), end, seed=5)
    compute_snapshots(get_pool(database_url), watchlist, end - timedelta(hours=3), end)
    counts = table_counts(database_url)
    assert counts["warehouse.raw_trade_responses"] > 0 and counts["warehouse.price_snapshots"] > 0
    return counts


def _bad_watchlist(tmp_path: Path) -> Path:
    path = tmp_path / "typo.yaml"
    path.write_text(f"items: [{GREED}, deafening-essence-of-gred]\n")
    return path


CLI_MISTAKES = [
    (["db", "status"], "TRADEWATCH_DATABASE_URL", f"postgresql://tw:{SECRET}@[::1/x", "TRADEWATCH_DATABASE_URL"),
    (["db", "upgrade"], "TRADEWATCH_PG_PORT", "70000", "TRADEWATCH_PG_PORT"),
    (["db", "upgrade"], "TRADEWATCH_TRADE_API_URL", "http://exa mple.com", "TRADEWATCH_TRADE_API_URL"),
    (["simulate-history", "--days", "1"], "TRADEWATCH_WATCHLIST", "<typo>", "unknown item id 'deafening-essence-of-gred'"),
    (["simulate-history", "--days", "1"], "TRADEWATCH_FETCH_GRACE_MINUTES", "nan", "TRADEWATCH_FETCH_GRACE_MINUTES"),
    (["simulate-history", "--days", "1"], "TRADEWATCH_LEAGUE", "Hard/core", "TRADEWATCH_LEAGUE"),
    (["simulate-history", "--days", "1"], "POESESSID", f"{SECRET}\tx", "POESESSID"),
]


@pytest.mark.parametrize("argv, variable, value, needle", CLI_MISTAKES)
def test_the_command_stops_with_exit_code_2_and_one_line_before_touching_stored_data(
        database_url, tmp_path, monkeypatch, capsys, argv, variable, value, needle):
    from tradewatch.cli.main import main

    before = _seeded(database_url)
    monkeypatch.chdir(tmp_path)  # no .env of the developer's
    monkeypatch.setenv("TRADEWATCH_DATABASE_URL", database_url)
    monkeypatch.setenv("TRADEWATCH_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(variable, str(_bad_watchlist(tmp_path)) if value == "<typo>" else value)
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tradewatch: ") and needle in lines[0], err
    assert "Traceback" not in err and SECRET not in err
    assert table_counts(database_url) == before  # nothing was written, nothing was lost


def test_the_command_refuses_a_binary_env_file_with_one_line(database_url, tmp_path, monkeypatch, capsys):
    from tradewatch.cli.main import main

    before = _seeded(database_url)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRADEWATCH_DATABASE_URL", database_url)
    (tmp_path / ".env").write_bytes(b"\xff\xfe" + random.Random(1).randbytes(512))
    assert main(["db", "upgrade"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tradewatch: .env "), lines
    assert table_counts(database_url) == before


def test_the_installed_command_refuses_a_bad_watchlist_before_starting_anything(database_url, tmp_path, figures):
    """The real console script in a fresh process: `run` must not start PostgreSQL, Dagster or the API."""
    before = _seeded(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(TRADEWATCH_DATABASE_URL=database_url, TRADEWATCH_WATCHLIST=str(_bad_watchlist(tmp_path)),
               TRADEWATCH_HOME=str(tmp_path / "home"))
    dagster_port, api_port = free_port(), free_port()
    outcomes = []
    for argv in (["run", "--dagster-port", str(dagster_port), "--api-port", str(api_port)],
                 ["simulate-history", "--days", "2"], ["serve", "--port", str(api_port)]):
        started = time.monotonic()
        done = subprocess.run([str(TRADEWATCH), *argv], env=env, cwd=tmp_path, capture_output=True, text=True,
                              timeout=120, start_new_session=True)
        outcomes.append((argv[0], done.returncode, round(time.monotonic() - started, 2)))
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "watchlist" in lines[0] and "deafening-essence-of-gred" in lines[0], done.stderr
        assert "Traceback" not in done.stdout + done.stderr
    assert table_counts(database_url) == before
    assert not (tmp_path / "home" / "pg").exists()  # no embedded server was set up either
    for port in (dagster_port, api_port):
        from tradewatch.warehouse.embedded_pg import port_is_free

        assert port_is_free(port)
    # in process: each of CLI_MISTAKES and the binary .env file (one test each, above)
    in_process = len(CLI_MISTAKES) + 1
    figures.record("bad_input", "CLI refusals (exit 2, one line, data untouched)", len(outcomes) + in_process, "runs",
                   f"in-process main() with {len(CLI_MISTAKES)} bad settings/watchlists and a binary .env file, and "
                   "the installed console script "
                   f"({', '.join(f'{v}: {s} s' for v, _, s in outcomes)})")


def test_config_error_is_the_one_error_type_the_user_sees():
    assert issubclass(ConfigError, TradeWatchError)
