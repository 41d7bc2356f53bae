"""Raw bodies kept verbatim: the one compressed archive format, with a checksum, of every source.

Both bronze tables (`warehouse.raw_trade_responses`, `warehouse.raw_currency_exchange`)
store a response body as the bytes received, compressed, next to the SHA-256 of the
uncompressed bytes and the name of the compression (`compression`):

* `zstd` — a Zstandard frame (level 6, content size in the header) of the bytes: a Currency
  Exchange document takes ~6.1 % of its size, against 6.7 % as zlib level 6, for about half
  the CPU (7 ms an hour instead of 13; bench/full_history.py);
* `zlib` — zlib level 6 of the bytes (what `pack` wrote for a body without tokens before
  revision 0019; still read);
* `zlib-jwt` — zlib of the bytes with every JWT (`whisper_token` of each trade listing,
  `base64url(header).base64url(payload).base64url(signature)`) replaced in place by its
  decoded bytes. A token's payload repeats its listing's id, character and offers, which
  base64 hides from zlib; decoded, they sit next to the listing they repeat (well inside
  zlib's 32 kB window) and compress away: a trade body takes about 55 % of its `zlib`
  size. Only tokens whose segments are canonical base64url (re-encoding the decoded bytes
  gives back the very same text) are replaced, so the restoration is exact; any other
  text, however token-like, stays as it was.

`pack` picks `zlib-jwt` when the body holds at least one such token and `zstd` otherwise
(Currency Exchange documents, empty books, error pages). `unpack` reads all three and gives
back the very bytes received, or raises `StoredBodyCorrupt` when they cannot be proven to be
them.

The `zlib-jwt` stream, before zlib: the body's bytes, with each NUL byte doubled and each
replaced token written as NUL, a tag (1: signature decoded, 2: signature kept as text),
the lengths of header, payload and signature (3 × 2 bytes, big-endian), then the header
and the payload bytes each zero-padded to a multiple of 3 and the signature. The padding
lets the reader re-encode a whole token with one base64 call (base64 of 3-byte groups is
the concatenation of their encodings); tokens with a segment over 65,535 bytes stay text.

Decompression uses zlib-ng (the same zlib format, inflated ~1.6× faster than the standard
library's zlib: a year's backfill inflates ~180k bodies); zlib compression stays the standard
zlib. Zstandard (de)compression contexts are not thread-safe: each thread keeps its own.
"""

from __future__ import annotations

import binascii
import hashlib
import re
import struct
import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import zstandard
from zlib_ng import zlib_ng

from tradewatch.errors import TradeWatchError

__all__ = ["COMPRESSIONS", "ZLIB", "ZLIB_JWT", "ZLIB_LEVEL", "ZSTD", "ZSTD_LEVEL", "PackedBody", "StoredBodyCorrupt",
           "checksum", "compress", "compress_zstd", "decompress", "pack", "unpack", "without_tokens"]

ZLIB = "zlib"
ZLIB_JWT = "zlib-jwt"
ZSTD = "zstd"
COMPRESSIONS = (ZLIB, ZLIB_JWT, ZSTD)
ZLIB_LEVEL = 6
# level 6: 6.1 % of a document in ~7 ms; 7 gives 5.9 % for 20 % more CPU, 5 is 6.6 % (over the 6.5 % goal)
ZSTD_LEVEL = 6
# a stored frame announcing more than this is corrupt (a document is ~1.6 MB): never allocate what it claims
MAX_BODY_BYTES = 1 << 30

# Three base64url segments, the first one starting as base64 of '{"', taken whole: never
# part of a longer run of base64/base64url characters, padding or dots.
_TOKEN = re.compile(rb"(?<![A-Za-z0-9_=.-])(eyJ[A-Za-z0-9_-]*)\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]*)"
                    rb"(?![A-Za-z0-9_=.-])")
_TO_STD = bytes.maketrans(b"-_", b"+/")
_TO_URL = bytes.maketrans(b"+/", b"-_")
_PADDING = (b"", None, b"==", b"=")  # by len(segment) % 4; None: no base64 has that length
_ZEROS = (b"", b"\x00\x00", b"\x00")  # by len(bytes) % 3: up to the next multiple of 3
_LENGTHS = struct.Struct(">HHH")
_MAX_SEGMENT = 0xFFFF
_NUL = b"\x00"
_ESCAPED_NUL = b"\x00\x00"
_TAG_SIGNATURE_DECODED = 1
_TAG_SIGNATURE_TEXT = 2


class StoredBodyCorrupt(TradeWatchError):
    """A stored body does not decompress to the bytes it was stored from."""


@dataclass(frozen=True)
class PackedBody:
    """A body ready to store: the compression's name, the compressed bytes and the SHA-256 of the original."""

    compression: str
    compressed: bytes
    sha256: bytes


def compress(body: bytes) -> bytes:
    """Plain `zlib` (level 6) of a body."""
    return zlib.compress(body, ZLIB_LEVEL)


_contexts = threading.local()


def compress_zstd(body: bytes) -> bytes:
    """The `zstd` frame of a body (level `ZSTD_LEVEL`, its size in the header); releases the GIL."""
    compressor = getattr(_contexts, "compressor", None)
    if compressor is None:
        compressor = _contexts.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True)
    return compressor.compress(body)


def _decompress_zstd(data: bytes) -> bytes:
    size = zstandard.frame_content_size(data)  # ZstdError when the header is not a frame's
    if size < 0 or size > MAX_BODY_BYTES:
        raise zstandard.ZstdError(f"the frame announces {'no' if size < 0 else size} content size")
    decompressor = getattr(_contexts, "decompressor", None)
    if decompressor is None:
        decompressor = _contexts.decompressor = zstandard.ZstdDecompressor()
    body = decompressor.decompress(data)
    if len(body) != size:
        raise zstandard.ZstdError(f"{len(body)} bytes instead of the {size} the frame announces")
    return body


def _decoded(segment: bytes) -> bytes | None:
    """The bytes of a canonical base64url segment (no padding), None for any other text."""
    padding = _PADDING[len(segment) & 3]
    if padding is None:
        return None
    raw = binascii.a2b_base64(segment.translate(_TO_STD) + padding)
    # a2b_base64 ignores stray characters and nonzero trailing bits: only an exact re-encoding proves the text
    if binascii.b2a_base64(raw, newline=False).translate(_TO_URL).rstrip(b"=") != segment:
        return None
    return raw


def _untokenized(body: bytes) -> bytes | None:
    """The `zlib-jwt` stream of a body before zlib, None when it holds no token to decode."""
    if b"eyJ" not in body:  # a memory search: a Currency Exchange document is 1.6 MB of JSON without tokens
        return None
    out: list[bytes] = []
    pos = 0
    for match in _TOKEN.finditer(body):
        header, payload = _decoded(match[1]), _decoded(match[2])
        if header is None or payload is None or len(header) > _MAX_SEGMENT or len(payload) > _MAX_SEGMENT:
            continue
        signature = _decoded(match[3])
        tag = _TAG_SIGNATURE_DECODED
        if signature is None:
            signature, tag = match[3], _TAG_SIGNATURE_TEXT
        if len(signature) > _MAX_SEGMENT:
            continue
        out.append(body[pos:match.start()].replace(_NUL, _ESCAPED_NUL))
        out.append(bytes((0, tag)) + _LENGTHS.pack(len(header), len(payload), len(signature)))
        out.append(header + _ZEROS[len(header) % 3] + payload + _ZEROS[len(payload) % 3] + signature)
        pos = match.end()
    if not out:
        return None
    out.append(body[pos:].replace(_NUL, _ESCAPED_NUL))
    return b"".join(out)


def _rebuilt(stream: bytes, token: Callable[[bytes, int, int, int, int, int], bytes]) -> bytes:
    """The body of a `zlib-jwt` stream (before zlib), each token written as
    `token(stream, tag, start, n_header, n_payload, n_signature)` gives it; ValueError when the
    stream is malformed."""
    out: list[bytes] = []
    append = out.append
    find = stream.find
    lengths = _LENGTHS.unpack_from
    end = len(stream)
    pos = 0
    while (at := find(_NUL, pos)) >= 0:
        append(stream[pos:at])
        if at + 1 == end:
            raise ValueError(f"the stream ends inside an escape at byte {at}")
        tag = stream[at + 1]
        if tag == 0:
            append(_NUL)
            pos = at + 2
            continue
        if tag not in (_TAG_SIGNATURE_DECODED, _TAG_SIGNATURE_TEXT):
            raise ValueError(f"unknown token tag {tag} at byte {at}")
        if at + 8 > end:
            raise ValueError(f"the token at byte {at} is cut off")
        n_header, n_payload, n_signature = lengths(stream, at + 2)
        start = at + 8
        pos = start + (n_header + 2) // 3 * 3 + (n_payload + 2) // 3 * 3 + n_signature
        if pos > end:
            raise ValueError(f"the token at byte {at} is cut off")
        append(token(stream, tag, start, n_header, n_payload, n_signature))
    append(stream[pos:])
    return b"".join(out)


def _token_text(stream: bytes, tag: int, start: int, n_header: int, n_payload: int, n_signature: int) -> bytes:
    """A token's text as it was received, from its decoded bytes (see the stream's layout above)."""
    padded_header, padded_payload = (n_header + 2) // 3 * 3, (n_payload + 2) // 3 * 3
    decoded_end = start + padded_header + padded_payload
    end = decoded_end + n_signature
    if tag == _TAG_SIGNATURE_DECODED:
        text = binascii.b2a_base64(stream[start:end], newline=False).translate(_TO_URL).rstrip(b"=")
        signature = text[(padded_header + padded_payload) // 3 * 4:]
    else:
        text = binascii.b2a_base64(stream[start:decoded_end], newline=False).translate(_TO_URL)
        signature = stream[decoded_end:end]
    payload_at = padded_header // 3 * 4
    return b".".join((text[:(4 * n_header + 2) // 3], text[payload_at:payload_at + (4 * n_payload + 2) // 3],
                      signature))


def _no_text(stream: bytes, tag: int, start: int, n_header: int, n_payload: int, n_signature: int) -> bytes:
    return b""


def _tokenized(stream: bytes) -> bytes:
    """The body a `zlib-jwt` stream (before zlib) was made from; ValueError when it is malformed."""
    return _rebuilt(stream, _token_text)


def _blanked(stream: bytes) -> bytes:
    """The body a `zlib-jwt` stream was made from with every decoded token left out (an empty string
    where it was); ValueError when the stream is malformed."""
    return _rebuilt(stream, _no_text)


def _read(data: bytes, compression: str, rebuild: Callable[[bytes], bytes]) -> bytes:
    """Inflate a stored body; a `zlib-jwt` one then goes through `rebuild` (its tokens as text, or left out)."""
    if compression not in COMPRESSIONS:
        known = ", ".join(map(repr, COMPRESSIONS[:-1])) + f" and {COMPRESSIONS[-1]!r}"
        raise StoredBodyCorrupt(f"unknown compression {compression!r} of a stored body; this version reads {known}: "
                                "upgrade TradeWatch or restore the row from a backup")
    if compression == ZSTD:
        try:
            return _decompress_zstd(data)
        except zstandard.ZstdError as exc:
            raise StoredBodyCorrupt(f"a stored body does not decompress ({exc}); restore the row from a backup") \
                from None
    try:
        inflated = zlib_ng.decompress(data)
    except zlib_ng.error as exc:
        raise StoredBodyCorrupt(f"a stored body does not decompress ({exc}); restore the row from a backup") from None
    if compression == ZLIB:
        return inflated
    try:
        return rebuild(inflated)
    except (ValueError, struct.error) as exc:
        raise StoredBodyCorrupt(f"a stored {ZLIB_JWT} body is malformed ({exc}); restore the row from a backup") \
            from None


def without_tokens(data: bytes, compression: str) -> bytes:
    """A stored body with its decoded JWTs left out (`"whisper_token": ""`), for readers that parse the
    JSON and never look at the tokens (pricing): the same JSON otherwise, without re-encoding a token's
    base64. Not the received bytes, so never checked against the SHA-256: `unpack` gives those."""
    return _read(data, compression, _blanked)


def decompress(data: bytes, compression: str) -> bytes:
    """The bytes a stored body was made from (not checked: `unpack` checks them against the SHA-256)."""
    return _read(data, compression, _tokenized)


def checksum(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


def pack(body: bytes) -> PackedBody:
    """A body compressed in the archive format: `zlib-jwt` when it holds tokens to decode, else `zstd`."""
    body = bytes(body)
    stream = _untokenized(body)
    if stream is not None and _restores(stream, body):
        return PackedBody(ZLIB_JWT, zlib.compress(stream, ZLIB_LEVEL), checksum(body))
    return PackedBody(ZSTD, compress_zstd(body), checksum(body))


def _restores(stream: bytes, body: bytes) -> bool:
    # proven before it is stored: a flaw in the transform must never cost a received body
    try:
        return _tokenized(stream) == body
    except (ValueError, struct.error):
        return False


def unpack(compression: str, data: bytes, sha256: bytes, what: str) -> bytes:
    """The original bytes of a stored body, checked against its SHA-256; `what` names the row in errors."""
    try:
        body = decompress(bytes(data), compression)
    except StoredBodyCorrupt as exc:
        raise StoredBodyCorrupt(f"{what}: {exc}") from None
    if checksum(body) != bytes(sha256):
        raise StoredBodyCorrupt(f"the stored body of {what} does not match the checksum it was stored with; "
                                "restore the row from a backup")
    return body
