"""The archive format of raw bodies: `pack`/`unpack` give back the very bytes, whatever they are."""

from __future__ import annotations

import base64
import json
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import zstandard

from trade_sim import SimConfig
from trade_sim.currency_exchange import currency_exchange_document
from trade_sim.market import exchange_response
from tradewatch.bulk_exchange.client import exchange_body
from tradewatch.raw_bodies import (ZLIB, ZLIB_JWT, ZLIB_LEVEL, ZSTD, StoredBodyCorrupt, checksum, decompress, pack,
                                  unpack, without_tokens)

SAMPLE = (Path(__file__).parent / "data" / "exchange_response_poe1_ancestor_have_chaos_want_divine.json").read_bytes()
HOUR = datetime(2025, 3, 1, tzinfo=timezone.utc)


def b64url(raw: bytes, padded: bool = False) -> bytes:
    text = base64.urlsafe_b64encode(raw)
    return text if padded else text.rstrip(b"=")


def jwt(payload: bytes, header: bytes = b'{"typ":"JWT","alg":"HS256"}', signature: bytes = bytes(range(32))) -> bytes:
    return b".".join((b64url(header), b64url(payload), b64url(signature)))


def round_trip(body: bytes) -> str:
    """The compression `pack` chose; asserts the stored form gives back `body` byte for byte."""
    packed = pack(body)
    assert packed.sha256 == checksum(body)
    assert unpack(packed.compression, packed.compressed, packed.sha256, "the test body") == body
    assert decompress(packed.compressed, packed.compression) == body
    return packed.compression


def simulated_bodies(items: tuple[str, ...] = ("essence-of-greed", "essence-of-hatred", "divine"), hours: int = 2,
                     **dumps) -> list[bytes]:
    return [json.dumps(exchange_response(exchange_body("chaos", item), HOUR + timedelta(hours=h), league="Standard"),
                       **dumps).encode()
            for item in items for h in range(hours)]


def test_the_real_sample_is_stored_as_zlib_jwt_smaller_and_given_back_byte_for_byte():
    assert round_trip(SAMPLE) == ZLIB_JWT
    assert len(pack(SAMPLE).compressed) < len(zlib.compress(SAMPLE, ZLIB_LEVEL))


@pytest.mark.parametrize("dumps", [{"separators": (",", ":")}, {"indent": 2}, {}])
def test_simulator_bodies_shrink_to_at_most_65_percent_of_zlib(dumps):
    bodies = simulated_bodies(**dumps)
    assert all(round_trip(b) == ZLIB_JWT for b in bodies)
    new = sum(len(pack(b).compressed) for b in bodies)
    old = sum(len(zlib.compress(b, ZLIB_LEVEL)) for b in bodies)
    assert new <= 0.65 * old, (new, old)  # compact: ~56 %; indented bodies repeat the compact payloads less


def test_a_body_without_tokens_is_stored_as_zstd():
    for body in (b"", b'{"id":"x","complexity":null,"result":{},"total":0}', b"<html>Cloudflare</html>",
                 (Path(__file__).parent / "data" / "exchange_response_poe1_ancestor_have_chaos_want_divine.json")
                 .read_bytes().replace(b"eyJ", b"xyJ")):
        assert round_trip(body) == ZSTD
        assert zstandard.frame_content_size(pack(body).compressed) == len(body)


def test_bodies_stored_as_zlib_before_zstd_are_still_read_byte_for_byte():
    for body in (b"", b'{"next_change_id":1,"markets":[]}', SAMPLE):
        assert unpack(ZLIB, zlib.compress(body, ZLIB_LEVEL), checksum(body), "an old row") == body
        assert without_tokens(zlib.compress(body, ZLIB_LEVEL), ZLIB) == body


def test_a_full_size_currency_exchange_document_is_stored_in_at_most_6_5_percent():
    config = SimConfig(cx_calendar=True, cx_markets_per_hour=1600)
    documents = [currency_exchange_document(datetime(2026, 3, 10, h, tzinfo=timezone.utc), "pc", config)
                 for h in (0, 13)]
    received = sum(map(len, documents))
    assert received > 2_000_000  # real-sized hours (~1.3 MB each), not a toy
    assert all(round_trip(d) == ZSTD for d in documents)
    stored = sum(len(pack(d).compressed) for d in documents)
    assert stored <= 0.065 * received, stored / received
    assert stored < sum(len(zlib.compress(d, ZLIB_LEVEL)) for d in documents)


def test_bodies_packed_and_unpacked_on_several_threads_at_once_round_trip():
    # each thread keeps its own zstd contexts: one shared by two threads at once would mix their frames
    bodies = [b'{"n":%d,"pad":"%s"}' % (i, b"x" * (i * 997 % 50_000)) for i in range(64)]

    def both(body: bytes) -> bytes:
        packed = pack(body)
        return unpack(packed.compression, packed.compressed, packed.sha256, "a threaded body")

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(both, bodies)) == bodies


def test_padded_tokens_are_kept_as_text():
    header, payload = b'{"alg":"HS256"}', b'{"sub":"ab"}'  # 15 and 12 bytes: padded base64 of neither ends in =
    assert round_trip(jwt(payload, header) + b" " + jwt(payload + b"x", header)) == ZLIB_JWT
    padded = b".".join((b64url(b'{"a":1}', padded=True), b64url(b'{"bb":2}', padded=True), b64url(b"si", padded=True)))
    assert b"=" in padded
    body = b'{"whisper_token":"' + padded + b'"}'
    assert round_trip(body) == ZSTD


def test_non_canonical_base64_is_kept_as_text():
    # base64 of '{"a":1}' is eyJhIjoxfQ: its last character carries 4 unused bits; R sets them
    canonical, sloppy = b64url(b'{"a":1}'), b"eyJhIjoxfR"
    assert base64.urlsafe_b64decode(sloppy + b"==") == base64.urlsafe_b64decode(canonical + b"==")
    for token in (sloppy + b".eyJiIjoyfQ.c2ln", canonical + b".eyJiIjoyfR.c2ln"):
        assert round_trip(b'{"t":"' + token + b'"}') == ZSTD
    # only the signature is sloppy: header and payload are decoded, the signature kept as its text
    sloppy_signature = canonical + b".eyJiIjoyfQ.c2lo"
    assert round_trip(b'{"t":"' + sloppy_signature + b'"}') == ZLIB_JWT


def test_payloads_that_are_not_utf8_or_json_round_trip():
    for payload in (b"\xff\xfe\x00\x01{not json", bytes(range(256)), b"\x00" * 7, b'{"dat":[1,2,3]'):
        for signature in (b"", b"\x00", bytes(range(31))):
            assert round_trip(b'["' + jwt(payload, signature=signature) + b'"]') == ZLIB_JWT


@pytest.mark.parametrize("text", [
    b"eyJ.eyJ.x",                     # segments of impossible base64 lengths
    b"eyJhIjoxfQ.eyJiIjoyfQ",          # two segments
    b"eyJhIjoxfQ.eyJiIjoyfQ.c2ln.c2ln",  # four segments
    b"xeyJhIjoxfQ.eyJiIjoyfQ.c2ln",      # inside a longer run
    b"eyJhIjoxfQ.eyJiIjoyfQ.c2ln=",      # followed by padding
    b"eyJhIjoxfQ.eyJiIjoyfQ.c2ln.",      # followed by a dot
    b"eyJhIjoxfQ..c2ln",                 # empty payload
    b"abc.def.ghi", b"1.2.3", b"eyJ",
])
def test_text_that_is_not_a_jwt_is_left_alone(text):
    assert round_trip(b'{"t":"' + text + b'"}') == ZSTD


def test_escaped_quotes_backslashes_and_nul_bytes_next_to_tokens():
    token = jwt(b'{"sub":"\\"quoted\\"","dat":"a\\\\b"}')
    body = (b'{"a":"\\"' + token + b'\\"","b":"\\\\' + token + b'","c":"\\u0000' + token + b'"}\x00'
            + token + b"\x00\x00" + token + b"\x00")
    assert round_trip(body) == ZLIB_JWT
    assert round_trip(b"\x00\x01\x02\x00\x00") == ZSTD  # NUL bytes and what looks like a token tag, no token


def test_huge_bodies_and_huge_tokens():
    listings = b",".join(b'{"id":"%d","whisper_token":"%s"}' % (i, jwt(b'{"sub":"%d","dat":"%s"}' % (i, b"x" * (i % 97))))
                         for i in range(20_000))
    body = b'{"result":[' + listings + b"]}"
    assert len(body) > 3_000_000
    assert round_trip(body) == ZLIB_JWT
    huge = jwt(b'{"dat":"' + b"y" * 70_000 + b'"}')  # a segment longer than the format's 65,535 bytes stays text
    assert round_trip(b'"' + huge + b'"') == ZSTD
    assert round_trip(b'"' + huge + b'" "' + jwt(b'{"a":1}') + b'"') == ZLIB_JWT


# Bodies assembled from the pieces the transform has to tell apart.
_FRAGMENTS = st.one_of(
    st.binary(max_size=40),
    st.sampled_from([b"\x00", b"\x00\x00", b"\x00\x01", b"\x00\x02", b".", b"=", b'"', b"\\", b"eyJ", b"-", b"_"]),
    st.builds(lambda h, p, s: jwt(p, h, s), st.binary(max_size=30), st.binary(max_size=300), st.binary(max_size=40)),
    st.builds(lambda p: jwt(p).replace(b".", b"=.", 1), st.binary(max_size=50)),
    st.builds(lambda p, n: jwt(p)[:n], st.binary(min_size=1, max_size=50), st.integers(0, 120)),
    st.builds(lambda p: b64url(p), st.binary(max_size=50)),
)


@settings(max_examples=400, deadline=None, derandomize=True, database=None)
@given(st.lists(_FRAGMENTS, max_size=30).map(b"".join))
def test_any_body_round_trips_byte_for_byte(body):
    round_trip(body)


def _stored(body: bytes) -> tuple[str, bytes, bytes]:
    packed = pack(body)
    return packed.compression, packed.compressed, packed.sha256


def test_corrupted_stored_bytes_are_reported_not_returned():
    compression, data, sha = _stored(SAMPLE)
    assert compression == ZLIB_JWT
    flipped = data[:40] + bytes([data[40] ^ 0x55]) + data[41:]
    with pytest.raises(StoredBodyCorrupt, match=r"raw trade response 7: .*restore the row from a backup"):
        unpack(compression, flipped, sha, "raw trade response 7")
    with pytest.raises(StoredBodyCorrupt, match="does not match the checksum it was stored with"):
        unpack(compression, data, checksum(b"something else"), "raw trade response 7")
    with pytest.raises(StoredBodyCorrupt, match=r"raw trade response 7: .*does not decompress"):
        unpack(compression, data[:-5], sha, "raw trade response 7")


def test_corrupted_zstd_bytes_are_reported_not_returned():
    body = b'{"next_change_id":1790000000,"markets":[' + b'{"league":"Standard"},' * 2000 + b'{}]}'
    compression, data, sha = _stored(body)
    assert compression == ZSTD
    flipped = data[:60] + bytes([data[60] ^ 0x55]) + data[61:]
    bad_size = data[:5] + bytes([data[5] ^ 0x01]) + data[6:]  # the frame header's content size, off by one
    unsized = zstandard.ZstdCompressor(write_content_size=False).compress(body)
    # a frame announcing 1 TiB (single segment, 8-byte content size, one empty last block): never allocated
    huge = b"\x28\xb5\x2f\xfd" + bytes([0xE0]) + (1 << 40).to_bytes(8, "little") + b"\x01\x00\x00"
    for problem in (data[:-5], flipped, bad_size, unsized, huge, b"", b"not zstd at all"):
        # a flipped literal inflates to other bytes: the checksum, not zstd, catches that one
        with pytest.raises(StoredBodyCorrupt, match=r"the CX hour 5.*(does not decompress \(.*\)|does not match the "
                                                    r"checksum it was stored with); restore the row from a backup"):
            unpack(compression, problem, sha, "the CX hour 5")
    with pytest.raises(StoredBodyCorrupt, match="does not match the checksum it was stored with"):
        unpack(compression, data, checksum(b"something else"), "the CX hour 5")
    assert unpack(compression, data, sha, "the CX hour 5") == body


@pytest.mark.parametrize("stream, problem", [
    (b"abc\x00", "ends inside an escape"),
    (b"abc\x00\x07rest", "unknown token tag 7"),
    (b"abc\x00\x01\x00\x01", "cut off"),
    (b"abc\x00\x01\x00\x03\x00\x03\x00\x20eyJ", "cut off"),
])
def test_a_malformed_zlib_jwt_stream_is_reported(stream, problem):
    with pytest.raises(StoredBodyCorrupt, match=rf"zlib-jwt body is malformed \(.*{problem}.*\); restore the row"):
        decompress(zlib.compress(stream), ZLIB_JWT)


def _blank_tokens(value):
    if isinstance(value, dict):
        return {k: "" if k == "whisper_token" else _blank_tokens(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_tokens(v) for v in value]
    return value


@pytest.mark.parametrize("body", [SAMPLE, *simulated_bodies(hours=1), *simulated_bodies(hours=1, indent=2)],
                         ids=lambda b: f"{len(b)} bytes")
def test_the_reading_without_tokens_is_the_same_json_with_empty_tokens(body):
    packed = pack(body)
    assert packed.compression == ZLIB_JWT
    read = without_tokens(packed.compressed, packed.compression)
    assert b"eyJ" not in read and len(read) < len(body)
    assert json.loads(read) == _blank_tokens(json.loads(body))


def test_the_reading_without_tokens_of_a_plain_body_is_the_body():
    body = rb'{"result": {}, "note": "eyJ is only text here", "nul": "\u0000"}'
    packed = pack(body)
    assert without_tokens(packed.compressed, packed.compression) == body


@pytest.mark.parametrize("stream", [b"abc\x00", b"abc\x00\x07rest", b"abc\x00\x01\x00\x01",
                                    b"abc\x00\x01\x00\x03\x00\x03\x00\x20eyJ"])
def test_a_malformed_stream_read_without_tokens_is_reported(stream):
    with pytest.raises(StoredBodyCorrupt, match=r"zlib-jwt body is malformed \(.*\); restore the row"):
        without_tokens(zlib.compress(stream), ZLIB_JWT)
    with pytest.raises(StoredBodyCorrupt, match="does not decompress"):
        without_tokens(b"not zlib", ZLIB_JWT)


def test_an_unknown_compression_names_the_known_ones():
    with pytest.raises(StoredBodyCorrupt, match=r"unknown compression 'lz4' .*'zlib', 'zlib-jwt' and 'zstd': upgrade"):
        unpack("lz4", b"", b"", "raw trade response 7")
