"""Readers for the deployment files, and checks that what they name exists in this project.

* `interpolate` does what `docker compose` does to `${VAR}`, `${VAR:-default}` and
  `${VAR:?message}` (there is no docker here to do it);
* `parse_dockerfile` turns a Dockerfile into (instruction, arguments) pairs;
* `names_read_by_tradewatch` collects, from the code itself, every environment variable the
  settings, the API settings, the simulator and dagster.yaml read;
* `check_command` proves that an argv would start: the console script or module exists and
  its own argument parser (argparse or click) accepts the arguments.
"""

from __future__ import annotations

import ast
import dataclasses
import fnmatch
import importlib
import importlib.util
import json
import re
import shlex
import sys
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Iterator, Mapping

import click
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
WORKSPACE_FILE = ROOT / "workspace.compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_ENV_EXAMPLE = ROOT / "deploy" / "compose.env.example"
ENV_EXAMPLE = ROOT / ".env.example"
DAGSTER_YAML = ROOT / "dagster.yaml"

# Python files whose string constants name the variables TradeWatch reads: every such constant
# of the settings modules, and the TRADEWATCH_* ones of the rest (e.g. the CLI's own).
SETTINGS_SOURCES = [ROOT / "tradewatch" / "settings.py", ROOT / "graphql_api" / "config.py"]
PACKAGES = [ROOT / name for name in ("tradewatch", "tradewatch_assets", "graphql_api", "trade_sim")]


class MissingVariable(Exception):
    """What `docker compose` reports for `${VAR:?message}` when VAR is unset or empty."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"required variable {name} is missing a value: {message}")
        self.name = name
        self.message = message


_REFERENCE = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)")


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """`value` (a string, or any YAML tree) with compose's variable references resolved."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def resolve(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group("name") or match.group("bare")
        op, arg = match.group("op"), match.group("arg") or ""
        current = env.get(name)
        # the colon forms treat an empty value like an unset one, as compose does
        missing = current is None or (op is not None and op.startswith(":") and current == "")
        if op in ("-", ":-"):
            return arg if missing else current
        if op in ("?", ":?"):
            if missing:
                raise MissingVariable(name, arg)
        return current or ""

    return _REFERENCE.sub(resolve, value)


def references(value: Any) -> Iterator[tuple[str, str | None, str]]:
    """Every `${VAR...}` in a YAML tree, as (name, operator, argument)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, str):
        for match in _REFERENCE.finditer(value):
            name = match.group("name") or match.group("bare")
            if name:
                yield name, match.group("op"), match.group("arg") or ""


def load_compose() -> dict:
    # compose, like PyYAML, resolves anchors and `<<` merge keys before reading the services
    return yaml.safe_load(COMPOSE_FILE.read_text())


def service_environment(service: Mapping) -> dict[str, str]:
    """A service's `environment`, in either of compose's two spellings, as a dict."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (entry.split("=", 1) if "=" in entry else (entry, "") for entry in environment)
        return {key: value for key, value in pairs}
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def env_file_names(path: Path, include_commented: bool = True) -> set[str]:
    """The variable names an env file sets (optionally also the `# NAME=` examples in comments)."""
    pattern = re.compile(r"^\s*(#\s*)?([A-Za-z_][A-Za-z0-9_]*)=")
    names = set()
    for line in path.read_text().splitlines():
        match = pattern.match(line)
        if match and (include_commented or not match.group(1)):
            names.add(match.group(2))
    return names


def env_file_values(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def commented_env_values(path: Path) -> dict[str, str]:
    """The `# NAME=value` examples of an env file's comments."""
    values = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*#\s*([A-Z][A-Z0-9_]*)=(\S+)\s*$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


# --- what TradeWatch reads -------------------------------------------------------------------

def _env_refs(tree: Any) -> Iterator[str]:
    if isinstance(tree, dict):
        if set(tree) == {"env"} and isinstance(tree["env"], str):
            yield tree["env"]
        for item in tree.values():
            yield from _env_refs(item)
    elif isinstance(tree, list):
        for item in tree:
            yield from _env_refs(item)


def dagster_yaml_env_names() -> set[str]:
    """The variables dagster.yaml reads through `{env: NAME}`."""
    return set(_env_refs(yaml.safe_load(DAGSTER_YAML.read_text())))


@lru_cache(maxsize=1)
def names_read_by_tradewatch() -> frozenset[str]:
    """Every environment variable TradeWatch reads, collected from the code that reads them."""
    names: set[str] = set()
    sources = {path: r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)+|POESESSID" for path in SETTINGS_SOURCES}
    for package in PACKAGES:
        for path in package.rglob("*.py"):
            sources.setdefault(path, r"TRADEWATCH_[A-Z0-9_]*[A-Z0-9]")
    for path, pattern in sources.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(pattern, node.value):
                names.add(node.value)
    from trade_sim.config import ENV_PREFIX, SimConfig

    names.update(ENV_PREFIX + field.name.upper() for field in dataclasses.fields(SimConfig))
    names.update(dagster_yaml_env_names())
    return frozenset(names)


@lru_cache(maxsize=None)
def dagster_reads(name: str) -> bool:
    """Whether the installed Dagster's source mentions the variable `name` (e.g. DAGSTER_HOME)."""
    import dagster

    package = Path(dagster.__file__).parent
    needle = f'"{name}"'
    return any(needle in path.read_text(errors="ignore") for path in package.rglob("*.py"))


def unknown_variable(name: str, allowed_prefixes: tuple[str, ...] = ()) -> str | None:
    """Why `name` should not be set (a typo, a setting nobody reads), or None when it is fine."""
    if name in names_read_by_tradewatch():
        return None
    if name.startswith("DAGSTER_"):
        return None if dagster_reads(name) else f"{name}: the installed Dagster does not read it"
    if name.startswith(allowed_prefixes):
        return None
    return f"{name}: neither TradeWatch's settings, the simulator, dagster.yaml nor Dagster read it"


# --- Dockerfile -------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str

    def json_or_shell(self) -> list[str]:
        """The exec form (JSON array) as a list, or the shell form wrapped in `sh -c`."""
        text = self.arguments.strip()
        if text.startswith("["):
            return json.loads(text)
        return ["/bin/sh", "-c", text]


def parse_dockerfile(path: Path = DOCKERFILE) -> list[Instruction]:
    instructions, pending = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comments inside a continued instruction are dropped by Docker too
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = pending + stripped
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return instructions


def dockerfile_env(instructions: list[Instruction], final_stage_only: bool = True) -> dict[str, str]:
    """The ENV of the image (of its last stage), `$VAR` references resolved."""
    env: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "FROM" and final_stage_only:
            env = {}
        if instruction.keyword == "ENV":
            for token in shlex.split(instruction.arguments):
                key, _, value = token.partition("=")
                env[key] = expand(value, env)
    return env


def expand(text: str, env: Mapping[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), m.group(0)), text)


def dockerignore_patterns() -> list[str]:
    return [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
            if line.strip() and not line.strip().startswith("#")]


def dockerignored(relative: str) -> bool:
    """Whether .dockerignore keeps `relative` (or a folder above it) out of the build context."""
    ignored = False
    parts = relative.strip("/").split("/")
    for pattern in dockerignore_patterns():
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        for depth in range(1, len(parts) + 1):
            candidate = "/".join(parts[:depth])
            if fnmatch.fnmatchcase(candidate, pattern) or (
                    pattern.startswith("**/") and fnmatch.fnmatchcase(parts[depth - 1], pattern[3:])):
                ignored = not negate
                break
    return ignored


# --- commands ---------------------------------------------------------------------------------

class CommandError(AssertionError):
    pass


def _console_script(name: str):
    found = [ep for ep in entry_points(group="console_scripts") if ep.name == name]
    if not found:
        raise CommandError(f"{name}: no such console script is installed")
    return found[0].load()


def _argparse_accepts(parser, args: list[str], what: str) -> None:
    try:
        parser.parse_args(args)
    except SystemExit as exc:
        if exc.code not in (0, None):  # 0: --help
            raise CommandError(f"{what} {' '.join(args)}: rejected by its argument parser (exit {exc.code})") from None


def _click_accepts(command: click.Command, name: str, args: list[str]) -> None:
    path = [name]
    while isinstance(command, click.Group):
        if not args or args[0].startswith("-"):
            raise CommandError(f"{' '.join(path)}: a subcommand is missing")
        sub = command.get_command(click.Context(command, info_name=name), args[0])
        if sub is None:
            raise CommandError(f"{' '.join(path)} has no subcommand {args[0]!r}")
        path.append(args[0])
        command, args = sub, args[1:]
    try:
        # parses and converts every option (unknown flags and bad values fail) without running it
        command.make_context(" ".join(path), list(args))
    except click.exceptions.Exit as exc:
        if exc.exit_code != 0:
            raise CommandError(f"{' '.join(path)}: exited {exc.exit_code}") from None
    except click.ClickException as exc:
        raise CommandError(f"{' '.join(path + args)}: {exc.format_message()}") from None


def check_command(argv: list[str]) -> None:
    """Raise CommandError unless `argv` names an installed program that accepts these arguments."""
    if not argv:
        raise CommandError("empty command")
    program, args = Path(argv[0]).name, list(argv[1:])
    if program in ("sh", "bash") and args[:1] == ["-c"]:
        for part in re.split(r"&&|\|\||;", args[1]):
            if part.strip():
                check_command(shlex.split(part))
        return
    if program in ("python", "python3", "python3.11"):
        if args[:1] == ["-c"]:
            compile(args[1], "<healthcheck>", "exec")
            return
        if args[:1] != ["-m"] or len(args) < 2:
            raise CommandError(f"{' '.join(argv)}: expected `python -m <module>` or `python -c <code>`")
        module, rest = args[1], args[2:]
        spec = importlib.util.find_spec(module)
        if spec is None:
            raise CommandError(f"python -m {module}: no such module")
        main = f"{module}.__main__" if spec.submodule_search_locations is not None else module
        if importlib.util.find_spec(main) is None:
            raise CommandError(f"python -m {module}: the package has no __main__")
        loaded = importlib.import_module(main)
        if hasattr(loaded, "build_parser"):
            _argparse_accepts(loaded.build_parser(), rest, f"python -m {module}")
        return
    target = _console_script(program)
    module = sys.modules[target.__module__]
    if hasattr(module, "build_parser"):
        _argparse_accepts(module.build_parser(), args, program)
    elif isinstance(getattr(module, "cli", None), click.Command):
        _click_accepts(module.cli, program, args)
    else:
        raise CommandError(f"{program}: cannot tell how it parses its arguments")


def option_value(argv: list[str], *flags: str) -> str | None:
    for index, token in enumerate(argv[:-1]):
        if token in flags:
            return argv[index + 1]
    return None


def with_option(argv: list[str], value: str, *flags: str) -> list[str]:
    """`argv` with the value after any of `flags` replaced."""
    out = list(argv)
    for index, token in enumerate(out[:-1]):
        if token in flags:
            out[index + 1] = value
    return out
