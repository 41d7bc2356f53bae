"""The schema contract: the live schema is the released one plus what CHANGELOG.md lists, and
every answer names the schema version."""

from __future__ import annotations

import pytest

from graphql_api.contract import (CHANGELOG_FILE, RELEASED_SDL_FILE, SCHEMA_VERSION, VERSION_HEADER, problems,
                                  released_version, schema_changes)
from graphql_api.sdl import current_sdl

RELEASED = RELEASED_SDL_FILE.read_text()
CHANGELOG = CHANGELOG_FILE.read_text()


def test_the_live_schema_is_the_released_one_plus_the_changelog():
    assert problems(RELEASED, current_sdl(), CHANGELOG) == []


def test_the_version_being_built_is_newer_than_the_release():
    def key(v: str) -> tuple[int, ...]:
        return tuple(int(p) for p in v.split("."))

    assert key(SCHEMA_VERSION) > key(released_version(RELEASED))


def _without_field(sdl: str, type_name: str, field_line: str) -> str:
    from graphql import parse, print_ast

    document = parse(sdl)
    field = field_line.rstrip(":")
    for node in document.definitions:
        if getattr(node, "name", None) is not None and node.name.value == type_name:
            node.fields = tuple(f for f in node.fields if f.name.value != field)
    return print_ast(document)


def test_an_unlisted_breaking_change_fails_the_contract():
    # removing a field of the released schema, not deprecated there, and not in the changelog
    live = _without_field(RELEASED, "Alert", "policy:")
    found = problems(RELEASED, live, CHANGELOG)
    assert any("`Alert.policy` removed" in p for p in found), found
    assert any("breaking change not listed" in p and "Alert.policy" in p for p in found), found
    assert any("without a release in which it was @deprecated" in p for p in found), found
    assert any("need a new major version" in p for p in found), found


def test_a_listed_breaking_change_of_a_deprecated_field_passes_with_a_new_major_version():
    released = RELEASED.replace("  policy: String\n", '  policy: String @deprecated(reason: "gone")\n', 1)
    live = _without_field(released, "Alert", "policy:")
    changelog = ("## 2.0.0\n\n### Breaking\n\n- `Alert.policy` removed (deprecated in 1.0.0).\n\n"
                 + CHANGELOG.split("## 1.1.0", 1)[1].split("\n", 1)[1])
    # everything 1.1.0 lists is still listed (its section follows), but only the newest section counts:
    changelog = changelog.replace("## 2.0.0\n", "## 2.0.0\n" + _newest_section_body(CHANGELOG), 1)
    assert problems(released, live, changelog, version="2.0.0") == []


def _newest_section_body(changelog: str) -> str:
    return changelog.split("## 1.1.0", 1)[1].split("\n", 1)[1].split("\n## ", 1)[0].replace("### Breaking", "### Was")


def test_an_added_field_must_be_named_in_the_changelog():
    live = RELEASED.replace("type Alert {", "type Alert {\n  brandNew: Int\n", 1)
    found = problems(RELEASED, live, CHANGELOG)
    assert any("`Alert.brandNew` added" in p for p in found), found


def test_changes_are_named_by_schema_coordinates():
    from graphql import build_schema

    old = build_schema("type Query { a(x: Int): Int, b: E } enum E { ONE TWO }")
    new = build_schema("type Query { a(x: Int, y: Int = 2): Float, c: Int, b: E } enum E { ONE } type T { z: Int }")
    found = {(c.coordinate, c.what.split(" ")[0]) for c in schema_changes(old, new)}
    assert found == {("T", "added"), ("Query.c", "added"), ("Query.a", "type"), ("Query.a(y:)", "added"),
                     ("E.TWO", "removed")}


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_answer_names_the_schema_version(api, method):
    api_client = api.client
    if method == "GET":
        r = api_client.get("/graphql", params={"query": "{ strategies { name } }"})
    else:
        r = api_client.post("/graphql", json={"query": "{ strategies { name } }"})
    assert r.status_code == 200, r.text
    assert r.headers[VERSION_HEADER] == SCHEMA_VERSION
    assert r.json()["extensions"]["schemaVersion"] == SCHEMA_VERSION
    refused = api_client.post("/graphql", content=b"not json", headers={"content-type": "application/json"})
    assert refused.status_code == 400 and refused.headers[VERSION_HEADER] == SCHEMA_VERSION
