"""Raw bodies kept verbatim: one compressed format with a checksum for every source's archive.

Both bronze tables (`warehouse.raw_trade_responses`, `warehouse.raw_currency_exchange`)
store a response body as the bytes received, zlib-compressed (level 6: JSON of this
market compresses to about 8–15 %), next to the SHA-256 of the uncompressed bytes and
the name of the compression. `unpack` gives back the very bytes received, or raises
`StoredBodyCorrupt` when they cannot be proven to be them.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

from tradewatch.errors import TradeWatchError

__all__ = ["COMPRESSION", "ZLIB_LEVEL", "PackedBody", "StoredBodyCorrupt", "checksum", "compress", "decompress",
           "pack", "unpack"]

COMPRESSION = "zlib"
ZLIB_LEVEL = 6


class StoredBodyCorrupt(TradeWatchError):
    """A stored body does not decompress to the bytes it was stored from."""


@dataclass(frozen=True)
class PackedBody:
    """A body ready to store: compressed bytes and the SHA-256 of the original."""

    compressed: bytes
    sha256: bytes


def compress(body: bytes) -> bytes:
    return zlib.compress(body, ZLIB_LEVEL)


def decompress(data: bytes, compression: str = COMPRESSION) -> bytes:
    if compression != COMPRESSION:
        raise StoredBodyCorrupt(f"unknown compression {compression!r} of a stored body; this version reads only "
                                f"{COMPRESSION!r}: upgrade TradeWatch or restore the row from a backup")
    try:
        return zlib.decompress(data)
    except zlib.error as exc:
        raise StoredBodyCorrupt(f"a stored body does not decompress ({exc}); restore the row from a backup") from None


def checksum(body: bytes) -> bytes:
    return hashlib.sha256(body).digest()


def pack(body: bytes) -> PackedBody:
    return PackedBody(compress(body), checksum(body))


def unpack(compression: str, data: bytes, sha256: bytes, what: str) -> bytes:
    """The original bytes of a stored body, checked against its SHA-256; `what` names the row in errors."""
    body = decompress(bytes(data), compression)
    if checksum(body) != bytes(sha256):
        raise StoredBodyCorrupt(f"the stored body of {what} does not match the checksum it was stored with; "
                                "restore the row from a backup")
    return body
