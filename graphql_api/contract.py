"""The schema contract: what changed between the released SDL and the live one, and whether
`CHANGELOG.md` says so.

`graphql_api/schema.released.graphql` is the SDL of the last release; its first line names the
version (`# TradeWatch GraphQL schema 1.0.0`). `SCHEMA_VERSION` is the version being built, the
first `## <version>` section of `CHANGELOG.md`. Every answer carries it (`X-TradeWatch-Schema-Version`
and `extensions.schemaVersion`), so a client can tell which contract it talks to.

Every difference is named by its schema coordinate (`Query.market`, `Query.exchangePrices(alignBy:)`,
`MarketOrder.NAME_ASC`, `MarketRow`). `problems()` lists what breaks the contract: a changed
coordinate the newest CHANGELOG section does not name, a breaking change outside its `### Breaking`
list or without a new major version, and a field removed without having been deprecated in the
release before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from graphql import (GraphQLEnumType, GraphQLInputObjectType, GraphQLInterfaceType, GraphQLNamedType,
                     GraphQLObjectType, GraphQLSchema, GraphQLUnionType, build_schema,
                     is_specified_scalar_type)
from graphql.utilities import find_breaking_changes, find_dangerous_changes

SCHEMA_VERSION = "1.1.0"
HERE = Path(__file__).parent
RELEASED_SDL_FILE = HERE / "schema.released.graphql"
CHANGELOG_FILE = HERE.parent / "CHANGELOG.md"
VERSION_HEADER = "X-TradeWatch-Schema-Version"

_VERSION_LINE = re.compile(r"^# TradeWatch GraphQL schema (\d+\.\d+\.\d+)\s*$", re.M)
_SECTION = re.compile(r"^## \[?(\d+\.\d+\.\d+)\]?.*$", re.M)


@dataclass(frozen=True)
class Change:
    """One difference between two schemas: its coordinate and what happened to it."""

    coordinate: str
    what: str  # added, removed, type changed, default changed, deprecated, undeprecated


def released_version(sdl: str) -> str:
    """The version the released SDL's first line names."""
    found = _VERSION_LINE.search(sdl)
    if not found:
        raise ValueError("schema.released.graphql must start with '# TradeWatch GraphQL schema X.Y.Z'")
    return found.group(1)


def _fields(t: GraphQLNamedType) -> dict:
    if isinstance(t, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
        return dict(t.fields)
    return {}


def _user_types(schema: GraphQLSchema) -> dict[str, GraphQLNamedType]:
    return {n: t for n, t in schema.type_map.items() if not n.startswith("__") and not is_specified_scalar_type(t)}


def _deprecation(x) -> str | None:
    return getattr(x, "deprecation_reason", None)


def schema_changes(old: GraphQLSchema, new: GraphQLSchema) -> list[Change]:
    """Every added, removed or changed type, field, argument, input field and enum value."""
    changes: list[Change] = []
    old_types, new_types = _user_types(old), _user_types(new)
    for name in sorted(old_types.keys() - new_types.keys()):
        changes.append(Change(name, "removed"))
    for name in sorted(new_types.keys() - old_types.keys()):
        changes.append(Change(name, "added"))
    for name in sorted(old_types.keys() & new_types.keys()):
        a, b = old_types[name], new_types[name]
        if type(a) is not type(b):
            changes.append(Change(name, "kind changed"))
            continue
        if isinstance(a, GraphQLEnumType):
            for v in sorted(a.values.keys() ^ b.values.keys()):
                changes.append(Change(f"{name}.{v}", "removed" if v in a.values else "added"))
            for v in sorted(a.values.keys() & b.values.keys()):
                if _deprecation(a.values[v]) != _deprecation(b.values[v]):
                    changes.append(Change(f"{name}.{v}", "deprecation changed"))
        if isinstance(a, GraphQLUnionType):
            old_members = {t.name for t in a.types}
            new_members = {t.name for t in b.types}
            for m in sorted(old_members ^ new_members):
                changes.append(Change(f"{name}", f"member {m} {'removed' if m in old_members else 'added'}"))
        fa, fb = _fields(a), _fields(b)
        for f in sorted(fa.keys() ^ fb.keys()):
            changes.append(Change(f"{name}.{f}", "removed" if f in fa else "added"))
        for f in sorted(fa.keys() & fb.keys()):
            x, y = fa[f], fb[f]
            coordinate = f"{name}.{f}"
            if str(x.type) != str(y.type):
                changes.append(Change(coordinate, f"type changed from {x.type} to {y.type}"))
            if _deprecation(x) != _deprecation(y):
                changes.append(Change(coordinate, "deprecation changed"))
            if getattr(x, "default_value", None) != getattr(y, "default_value", None):
                changes.append(Change(coordinate, "default changed"))
            ax, ay = getattr(x, "args", {}) or {}, getattr(y, "args", {}) or {}
            for arg in sorted(ax.keys() ^ ay.keys()):
                changes.append(Change(f"{coordinate}({arg}:)", "removed" if arg in ax else "added"))
            for arg in sorted(ax.keys() & ay.keys()):
                if str(ax[arg].type) != str(ay[arg].type):
                    changes.append(Change(f"{coordinate}({arg}:)", f"type changed from {ax[arg].type} to {ay[arg].type}"))
                if ax[arg].default_value != ay[arg].default_value:
                    changes.append(Change(f"{coordinate}({arg}:)", "default changed"))
    return changes


def newest_section(changelog: str) -> tuple[str, str]:
    """The first `## <version>` section of the changelog: (version, its text)."""
    heads = list(_SECTION.finditer(changelog))
    if not heads:
        raise ValueError("CHANGELOG.md has no '## X.Y.Z' section")
    end = heads[1].start() if len(heads) > 1 else len(changelog)
    return heads[0].group(1), changelog[heads[0].end():end]


def _breaking_part(section: str) -> str:
    found = re.search(r"^### Breaking.*?(?=^### |\Z)", section, re.M | re.S)
    return found.group(0) if found else ""


def _named(coordinate: str, text: str) -> bool:
    return f"`{coordinate}`" in text


def problems(released_sdl: str, live_sdl: str, changelog: str, version: str = SCHEMA_VERSION) -> list[str]:
    """What breaks the contract (empty when the live schema is the released one plus the changes
    the newest CHANGELOG section lists)."""
    old, new = build_schema(released_sdl), build_schema(live_sdl)
    out: list[str] = []
    section_version, section = newest_section(changelog)
    if section_version != version:
        out.append(f"CHANGELOG.md's newest section is {section_version}, but SCHEMA_VERSION is {version}")
    for change in schema_changes(old, new):
        if not _named(change.coordinate, section):
            out.append(f"`{change.coordinate}` {change.what}, but CHANGELOG.md's {section_version} section does "
                       "not name it (write the coordinate in backticks)")
    breaking = find_breaking_changes(old, new)
    if breaking:
        old_major, new_major = int(released_version(released_sdl).split(".")[0]), int(version.split(".")[0])
        if new_major <= old_major:
            out.append(f"{len(breaking)} breaking change(s) need a new major version (released "
                       f"{released_version(released_sdl)}, building {version})")
        listed = _breaking_part(section)
        for b in breaking:
            if not _named(_coordinates_in(b.description)[0], listed):
                out.append(f"breaking change not listed under '### Breaking': {b.description}")
            if b.type.name == "FIELD_REMOVED":
                type_name, field = b.description.split(" ")[0].split(".", 1)
                was = _fields(old.type_map[type_name]).get(field)
                if was is not None and not _deprecation(was):
                    out.append(f"{type_name}.{field} was removed without a release in which it was "
                               "@deprecated(reason: …); deprecate it first")
    for d in find_dangerous_changes(old, new):
        if not _named(_coordinates_in(d.description)[0], section):
            out.append(f"dangerous change not listed: {d.description}")
    return out


def _coordinates_in(description: str) -> list[str]:
    """The schema coordinates a graphql-core change description mentions, most specific first
    (`Type.field(arg:)`, `Enum.VALUE`, `Type.field`, `Type`)."""
    out: list[str] = []
    arg = (re.search(r"(\w+\.\w+) arg (\w+)", description)
           or re.search(r"arg (\w+) on (\w+\.\w+)", description))
    if arg:
        field, name = (arg.group(1), arg.group(2)) if "." in arg.group(1) else (arg.group(2), arg.group(1))
        out.append(f"{field}({name}:)")
    enum = re.match(r"(\w+) was (?:removed from|added to) enum type (\w+)", description)
    if enum:
        out.append(f"{enum.group(2)}.{enum.group(1)}")
    out += re.findall(r"\b[A-Z]\w*\.\w+", description)
    out += [w for w in re.findall(r"\b[A-Z]\w*\b", description) if w not in ("A", "An")]
    return out


class SchemaVersionHeader:
    """ASGI middleware: every HTTP answer names the schema version it follows."""

    def __init__(self, app) -> None:
        self.app = app
        self.header = (VERSION_HEADER.lower().encode(), SCHEMA_VERSION.encode())

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_version(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self.header]
            await send(message)

        await self.app(scope, receive, send_with_version)
