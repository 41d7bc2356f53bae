"""Checking and normalizing arguments: time ranges, item ids, page sizes, cursors.

Every failure is an ApiError naming the argument, so the client can fix its query.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

import orjson

from graphql_api.errors import ApiError, bad_input, did_you_mean, not_found, shown
from graphql_api import limits
from tradewatch.bulk_exchange.catalog import known_ids
from tradewatch.currency_exchange.catalogue import UnknownItem, catalogue_index
from tradewatch.hours import HOUR, floor_hour, utc_now
from tradewatch.settings import has_control_character, is_league_name


@dataclass(frozen=True)
class TimeRange:
    """[start, end) in UTC; `explicit_end` says whether the caller gave `to`."""

    start: datetime
    end: datetime


def as_utc(moment: datetime) -> datetime:
    # a naive time means UTC
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def time_range(start: datetime | None, end: datetime | None, cap: timedelta,
               default: timedelta = limits.DEFAULT_RANGE) -> TimeRange:
    """The range [from, to); defaults: `to` = the end of the current hour, `from` = `to` − 24 h."""
    try:
        end = as_utc(end) if end is not None else floor_hour(utc_now()) + HOUR
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00 is before the first representable UTC time
        raise bad_input("to", f"{end.isoformat()} is outside the years 1 to 9999 in UTC") from None
    try:
        start = as_utc(start) if start is not None else end - default
    except OverflowError:
        raise bad_input("from", f"{start.isoformat() if start else 'the default start'} is outside the years "
                                "1 to 9999 in UTC; give an explicit `from`") from None
    if start >= end:
        raise bad_input("from", f"{start.isoformat()} must be earlier than `to` ({end.isoformat()})")
    if end - start > cap:
        raise bad_input("to", f"the range {start.isoformat()} .. {end.isoformat()} is longer than the "
                              f"allowed {_span(cap)}; ask for a shorter range")
    return TimeRange(start, end)


def _span(delta: timedelta) -> str:
    return f"{delta.days} days" if delta.days else f"{delta.total_seconds() / 3600:.0f} hours"


def _closest_id(value: str, watched: Sequence[str], known: frozenset[str] | None) -> str:
    # a watched id first: that is what a dashboard or a script most likely meant
    return did_you_mean(value, watched) or (did_you_mean(value, sorted(known)) if known else "")


def _catalogue_trade_id(value: str, game: str) -> str | None:
    """The trade id of the catalogue item a metadata path or display name gives, if any."""
    try:
        return catalogue_index(game).resolve(value, hints=False).trade_id
    except UnknownItem:
        return None


def item_ids(values: Sequence[str], argument: str, watched: Sequence[str], game: str) -> list[str]:
    """Known item ids (given as ids, or as the exchange catalogue's metadata paths or display names),
    de-duplicated in the given order; an unknown id is NOT_FOUND."""
    known = known_ids(game)
    out: list[str] = []
    for index, value in enumerate(values):
        if value not in watched and (known is None or value not in known):
            trade_id = _catalogue_trade_id(value, game) if len(value) <= 200 else None
            if trade_id is not None and (trade_id in watched or (known is not None and trade_id in known)):
                value = trade_id
        if value not in watched and (known is None or value not in known):
            where = argument if len(values) == 1 and argument == "item" else f"{argument}[{index}]"
            raise not_found(where, f"unknown item id {shown(value)}{_closest_id(value, watched, known)}; the "
                                   "`items` field lists the watched ids, e.g. deafening-essence-of-greed")
        if value not in out:
            out.append(value)
    return out


def page_size(first: int | None, default: int, cap: int) -> int:
    if first is None:
        return default
    if first < 1 or first > cap:
        raise bad_input("first", f"{first} must be between 1 and {cap} (the page-size cap)")
    return first


def encode_cursor(*key: Any) -> str:
    parts = [k.isoformat() if isinstance(k, datetime) else k for k in key]
    # orjson writes what json.dumps(separators=(",", ":")) wrote but non-ASCII as UTF-8, not \u escapes
    # (the same JSON value, so an older cursor still reads the same); it is the cheaper of the two
    return base64.urlsafe_b64encode(orjson.dumps(parts)).decode().rstrip("=")


def decode_cursor(cursor: str | None, kinds: Sequence[type]) -> tuple | None:
    """The keyset a cursor holds, checked against the expected kinds (datetime, str)."""
    if cursor is None:
        return None
    try:
        parts = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(parts, list) or len(parts) != len(kinds):
            raise ValueError
        values = []
        for part, kind in zip(parts, kinds):
            if not isinstance(part, str) or not is_clean_text(part):
                raise ValueError
            values.append(datetime.fromisoformat(part) if kind is datetime else part)
        return tuple(values)
    except (ValueError, TypeError, UnicodeDecodeError, RecursionError):  # RecursionError: JSON nested too deeply
        raise bad_input("after", "is not a cursor this field returned; pass `pageInfo.endCursor` "
                                 "of the previous page unchanged") from None


def is_clean_text(value: str) -> bool:
    """No control characters (NUL cannot even be stored in PostgreSQL text) and no lone
    surrogates (not encodable as UTF-8): such a string cannot be a name or an id."""
    if has_control_character(value):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def league_name(league: str | None, default: str) -> str:
    if league is None:
        return default
    league = league.strip()
    if not is_league_name(league) or not is_clean_text(league):
        raise bad_input("league", f"{shown(league)} is not a league name; use the name the trade site shows, "
                                  "e.g. Standard")
    return league


__all__ = ["ApiError", "TimeRange", "as_utc", "decode_cursor", "encode_cursor", "is_clean_text", "item_ids",
           "league_name", "page_size", "time_range"]
