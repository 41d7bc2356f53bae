"""The README, `.env.example` and `docs/reliability.md` say what the code does: every variable the
settings loader reads is listed in `.env.example` and named in the README, with Dagster's instance
variables; the README's GraphQL field and cost tables hold every root field of the committed schema
with its arguments and the cost model's own words; the reliability report is exactly what its
generator writes (figures of one run, nothing merged in by hand)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from graphql import build_schema

from deployment.deploy_files import env_file_names
from graphql_api.config import ApiSettings
from graphql_api.cost import FIELD_COSTS
from tradewatch.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
ENV_EXAMPLE = ROOT / ".env.example"
# Dagster's instance: read by dagster.yaml and Dagster itself, set by `tradewatch demo` / `tradewatch dagster`
INSTANCE_VARIABLES = {"DAGSTER_HOME", "TRADEWATCH_DAGSTER_PG_URL"}


def _loader_variables() -> set[str]:
    return {field.alias for settings in (Settings, ApiSettings) for field in settings.model_fields.values()}


def test_every_variable_the_settings_read_is_in_env_example_and_the_readme():
    variables = _loader_variables() | INSTANCE_VARIABLES
    assert len(variables) > 30  # the aliases were found: the check is not empty
    listed = env_file_names(ENV_EXAMPLE)  # `NAME=` or `# NAME=` lines
    assert variables - listed == set(), "read by the settings but not listed in .env.example"
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", README))
    assert variables - named == set(), "read by the settings but not named in the README"


def _table(heading: str) -> list[list[str]]:
    """The rows (cells) of the README table whose header row is `heading`."""
    start = README.index(heading)
    lines = README[start:].split("\n\n", 1)[0].splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines]


def test_the_readme_field_and_cost_tables_hold_every_root_field_of_the_schema():
    schema = build_schema((ROOT / "graphql_api" / "schema.graphql").read_text())
    fields = schema.query_type.fields
    documented = [row[0] for row in _table("| field | what it answers |")]
    expected = [f"`{name}({', '.join(field.args)})`" if field.args else f"`{name}`" for name, field in fields.items()]
    assert documented == expected
    assert all(row[1] for row in _table("| field | what it answers |"))
    costs = {row[0].strip("`"): row[1] for row in _table("| field | cost |")}
    assert costs == {name: FIELD_COSTS[name] for name in fields}


def _report_module():
    path = ROOT / "bench" / "reliability_report.py"
    spec = importlib.util.spec_from_file_location("reliability_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _figures(text: str, titles: dict[str, str]) -> dict:
    """The figures JSON a report was rendered from (values as the text shows them)."""
    keys = {title: key for key, title in titles.items()}
    data: dict = {"sections": {}}
    section = None
    for line in text.splitlines():
        if line.startswith("- generated: "):
            data["generated_at"] = line.removeprefix("- generated: ")
        elif line.startswith("- machine: "):
            data["machine"] = line.removeprefix("- machine: ")
        elif line.startswith("## "):
            section = data["sections"].setdefault(keys.get(line[3:], line[3:]), {})
        elif section is not None and line.startswith("| ") and not line.startswith(("| figure |", "|---")):
            name, value, note = line[2:-2].split(" | ")
            section[name] = {"value": value, "note": note}
    return data


def test_the_reliability_report_is_what_its_generator_writes():
    report = _report_module()
    text = (ROOT / "docs" / "reliability.md").read_text()
    figures = _figures(text, report.TITLES)
    assert len(figures["sections"]) >= 5 and all(figures["sections"].values())
    assert report.render(figures) == text
    # and the check catches a paragraph written into it by hand
    assert report.render(_figures(text + "\nA figure merged by hand: 12 ms.\n", report.TITLES)) != \
        text + "\nA figure merged by hand: 12 ms.\n"
