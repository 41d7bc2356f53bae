"""The envelope of a Currency Exchange answer is read only from a whole, valid document, as orjson would read it."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trade_sim import SimConfig
from trade_sim.currency_exchange import currency_exchange_document
from tradewatch.currency_exchange.client import read_envelope

HOUR = datetime(2026, 3, 10, 12, tzinfo=timezone.utc)
DOCUMENT = currency_exchange_document(HOUR, "pc", SimConfig(cx_markets_per_hour=40))


def by_orjson(body: bytes) -> tuple[int, int] | None:
    """What the envelope was before simdjson: the reference (None: refused)."""
    try:
        parsed = orjson.loads(body)
    except ValueError:
        return None
    if not isinstance(parsed, dict):
        return None
    next_id, markets = parsed.get("next_change_id"), parsed.get("markets")
    if isinstance(next_id, bool) or not isinstance(next_id, (int, float)) or next_id != int(next_id):
        return None
    if not isinstance(markets, list):
        return None
    return int(next_id), len(markets)


def envelope(body: bytes) -> tuple[int, int] | None:
    try:
        return read_envelope(body)
    except ValueError:
        return None


def test_a_whole_document_gives_its_next_change_id_and_market_count():
    markets = len(orjson.loads(DOCUMENT)["markets"])
    assert markets > 0
    assert envelope(DOCUMENT) == (int(HOUR.timestamp()) + 3600, markets) == by_orjson(DOCUMENT)


def test_every_cut_off_document_is_refused():
    for end in range(0, len(DOCUMENT) - 1, max(1, len(DOCUMENT) // 997)):
        with pytest.raises(ValueError):
            read_envelope(DOCUMENT[:end])


@pytest.mark.parametrize("body", [
    b"\xef\xbb\xbf" + DOCUMENT,  # a byte-order mark: orjson refuses it, so it is never stored
    DOCUMENT.replace(b'"league":"', b'"league":"\xff', 1),  # not UTF-8
    DOCUMENT[:-1] + b"}}",  # a superfluous brace
    DOCUMENT + b" x",  # text after the document
    b'{"next_change_id":1,"markets":[1e400]}',  # a number that is no double
    b'{"next_change_id":1,"markets":[NaN]}',
    b'{"next_change_id":"1","markets":[]}', b'{"next_change_id":1.5,"markets":[]}',
    b'{"next_change_id":true,"markets":[]}', b'{"next_change_id":1,"markets":{}}', b"[]", b"", b"null",
])
def test_what_is_not_a_document_is_refused(body):
    assert by_orjson(body) is None
    with pytest.raises(ValueError):
        read_envelope(body)


@pytest.mark.parametrize("body", [
    b'{"next_change_id":7200,"next_change_id":3600,"markets":[1]}',  # a repeated key: orjson keeps the last
    b'{"next_change_id":3600,"markets":[123456789012345678901234567890]}',  # beyond 64 bits: orjson reads a float
    b'{"next_change_id":3600.0,"markets":[1,2]}', b' \n{"next_change_id":3600,"markets":[]}\n ',
])
def test_the_texts_two_parsers_could_judge_differently_are_read_as_orjson_reads_them(body):
    assert by_orjson(body) is not None
    assert envelope(body) == by_orjson(body)


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.integers(0, len(DOCUMENT) - 1), st.integers(0, 255), st.booleans())
def test_any_damaged_document_is_judged_as_orjson_judges_it(at, byte, insert):
    body = DOCUMENT[:at] + bytes([byte]) + DOCUMENT[at + (0 if insert else 1):]
    assert envelope(body) == by_orjson(body)


def test_threads_reading_envelopes_at_once_each_get_their_own():
    results: list[tuple[int, int] | None] = []
    lock = threading.Lock()

    def read(body: bytes) -> None:
        for _ in range(30):
            value = envelope(body)
            with lock:
                results.append(value)

    bodies = [DOCUMENT, DOCUMENT[:-3], b'{"next_change_id":3600,"markets":[1,2,3]}']
    threads = [threading.Thread(target=read, args=(bodies[i % 3],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(results, key=repr) == sorted([by_orjson(b) for b in bodies for _ in range(60)], key=repr)
