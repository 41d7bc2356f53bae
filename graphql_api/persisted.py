"""Automatic persisted queries, Apollo's protocol (`extensions.persistedQuery`, version 1).

A client sends only the SHA-256 of its query (`{"persistedQuery": {"version": 1, "sha256Hash": h}}`),
usually as a GET, so that the URL is short and a CDN or the browser can cache the answer. When the
server does not know the hash it answers `PersistedQueryNotFound` and the client sends the hash
with the query text once; from then on the hash alone is enough.

The resolved text then takes exactly the path of a sent query: its size, depth, cost and every other
limit apply to it as to any other. A text is kept only after its hash was checked, and only up to
`limits.MAX_QUERY_CHARS` characters; the newest `size` texts are kept per process.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from collections import OrderedDict
from typing import Any

from graphql_api import limits

NOT_FOUND = "PersistedQueryNotFound"
STATIC = Path(__file__).parent / "static"
NOT_FOUND_CODE = "PERSISTED_QUERY_NOT_FOUND"
_HASH = re.compile(r"^[0-9a-f]{64}$")


class PersistedQueryError(Exception):
    """A persisted-query request that cannot run: answered as a GraphQL error, not a 500."""

    def __init__(self, message: str, code: str, status: int = 200) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status

    def body(self) -> dict[str, Any]:
        return {"data": None, "errors": [{"message": self.message, "extensions": {"code": self.code}}]}


def sha256_of(query: str) -> str:
    """The hash Apollo's clients send: SHA-256 of the query text, lowercase hex."""
    return hashlib.sha256(query.encode("utf-8")).hexdigest()


class PersistedQueries:
    """The texts of persisted queries by hash, the newest `size`."""

    def __init__(self, size: int = 2_000) -> None:
        self.size = size
        self._texts: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._texts)

    def preload(self, queries: list[str]) -> None:
        """Know these texts from the start (the dashboard's own queries): its first GET needs no round trip."""
        for query in queries:
            self._texts[sha256_of(query)] = query

    def resolve(self, query: Any, extensions: Any) -> Any:
        """The query text to run for a request with these `query` and `extensions`: the sent text
        (remembered under its hash when it asks to be persisted), or the remembered one.
        Raises PersistedQueryError when the hash is unknown, malformed or not the text's."""
        if not isinstance(extensions, dict) or "persistedQuery" not in extensions:
            return query
        persisted = extensions["persistedQuery"]
        if not isinstance(persisted, dict) or persisted.get("version") != 1:
            raise PersistedQueryError("Unsupported persistedQuery: only version 1 is known "
                                      '({"version": 1, "sha256Hash": "<64 hex digits>"})', "PERSISTED_QUERY_INVALID", 400)
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not _HASH.match(digest):
            raise PersistedQueryError("persistedQuery.sha256Hash must be the SHA-256 of the query text in 64 "
                                      "lowercase hex digits", "PERSISTED_QUERY_INVALID", 400)
        if query is None:
            known = self._texts.get(digest)
            if known is None:
                raise PersistedQueryError(NOT_FOUND, NOT_FOUND_CODE)
            self._texts.move_to_end(digest)
            return known
        if not isinstance(query, str):
            return query  # the view refuses a query that is not a string, as for any request
        if sha256_of(query) != digest:
            raise PersistedQueryError("provided sha does not match query: persistedQuery.sha256Hash must be the "
                                      "SHA-256 of the query text sent with it", "PERSISTED_QUERY_HASH_MISMATCH", 400)
        if len(query) <= limits.MAX_QUERY_CHARS:  # an over-long text is refused by the view, never kept
            self._texts[digest] = query
            self._texts.move_to_end(digest)
            while len(self._texts) > self.size:
                self._texts.popitem(last=False)
        return query


_SCRIPT_QUERY = re.compile(r"`((?:query|mutation) \w+[^`]*)`")


def queries_in_scripts(folder: Path = STATIC) -> list[str]:
    """The GraphQL documents the dashboard's scripts send (template literals starting `query Name`)."""
    return [q for script in sorted(folder.glob("*.js")) for q in _SCRIPT_QUERY.findall(script.read_text())]
