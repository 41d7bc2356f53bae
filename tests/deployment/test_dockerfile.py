"""The Dockerfile: python:3.11-slim, the lock then the project with --no-deps, a non-root user,
dagster.yaml in DAGSTER_HOME, sources that exist and survive .dockerignore, a real CMD."""

from __future__ import annotations

import glob
import shlex
from pathlib import PurePosixPath

from .deploy_files import (
    ROOT, check_command, dockerfile_env, dockerignored, expand, parse_dockerfile,
)


def stages(instructions):
    """[(stage name or None, [instructions of that stage])]."""
    out = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            tokens = instruction.arguments.split()
            name = tokens[2] if len(tokens) == 3 and tokens[1].lower() == "as" else None
            out.append((name, tokens[0], []))
        else:
            out[-1][2].append(instruction)
    return out


def copies(instructions):
    """(flags, sources, destination) of every COPY/ADD."""
    for instruction in instructions:
        if instruction.keyword in ("COPY", "ADD"):
            tokens = shlex.split(instruction.arguments)
            flags = [t for t in tokens if t.startswith("--")]
            paths = [t for t in tokens if not t.startswith("--")]
            yield flags, paths[:-1], paths[-1]


def test_every_stage_is_python_3_11_slim():
    for _, base, _ in stages(parse_dockerfile()):
        assert base == "python:3.11-slim"


def test_copy_sources_exist_and_are_not_dockerignored():
    instructions = parse_dockerfile()
    names = [name for name, _, _ in stages(instructions)]
    for flags, sources, _ in copies(instructions):
        from_stage = next((f.split("=", 1)[1] for f in flags if f.startswith("--from=")), None)
        if from_stage is not None:
            assert from_stage in names, f"COPY --from={from_stage}: no such stage"
            continue
        for source in sources:
            matches = glob.glob(str(ROOT / source))
            assert matches, f"COPY {source}: not in the repository"
            assert not dockerignored(source), f"COPY {source}: .dockerignore keeps it out of the build context"


def test_dockerignore_keeps_secrets_and_local_state_out():
    for path in (".env", "deploy/compose.env", ".venv/bin/python", ".tradewatch/pg/PG_VERSION", ".git/HEAD"):
        assert dockerignored(path), path


def test_the_lock_is_installed_first_then_the_project_without_dependencies():
    final = stages(parse_dockerfile())[-1][2]
    runs = [i.arguments for i in final if i.keyword == "RUN"]
    lock = next(n for n, run in enumerate(runs) if "pip install" in run and "-r" in run and "requirements.lock" in run)
    project = next(n for n, run in enumerate(runs) if "pip install" in run and "--no-deps" in run)
    assert lock < project
    # the wheel installed is the project built from this repository's pyproject.toml
    builder = stages(parse_dockerfile())[0][2]
    assert any("pip wheel" in i.arguments and "--no-deps" in i.arguments for i in builder if i.keyword == "RUN")
    assert any("pyproject.toml" in sources for _, sources, _ in copies(builder))


def test_runs_as_a_non_root_user_with_dagster_home_holding_dagster_yaml():
    instructions = parse_dockerfile()
    final = stages(instructions)[-1][2]
    users = [i.arguments for i in final if i.keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"
    user_at = max(n for n, i in enumerate(final) if i.keyword == "USER")
    assert all(i.keyword not in ("RUN",) for i in final[user_at + 1:]), "RUN after USER would need root"
    env = dockerfile_env(instructions)
    home = env["DAGSTER_HOME"]
    destinations = {}
    workdir = "/"
    for instruction in final:
        if instruction.keyword == "WORKDIR":
            workdir = str(PurePosixPath(workdir) / expand(instruction.arguments, env))
        if instruction.keyword == "COPY":
            _, sources, dest = next(copies([instruction]))
            dest = str(PurePosixPath(workdir) / expand(dest, env))
            for source in sources:
                destinations[dest if not dest.endswith("/") else dest + PurePosixPath(source).name] = source
    assert destinations.get(f"{home}/dagster.yaml") == "dagster.yaml"
    # the webserver and the daemon are started with `-w workspace.compose.yaml` from the WORKDIR
    assert destinations.get(f"{workdir}/workspace.compose.yaml") == "workspace.compose.yaml"
    # the same user must be able to write Dagster's local storage (compute logs)
    assert any("chown" in i.arguments and "DAGSTER_HOME" in i.arguments for i in final if i.keyword == "RUN")


def test_cmd_and_entrypoint_are_real_commands():
    final = stages(parse_dockerfile())[-1][2]
    commands = [i for i in final if i.keyword in ("CMD", "ENTRYPOINT")]
    assert commands
    for instruction in commands:
        argv = instruction.json_or_shell()
        assert argv[0] != "/bin/sh", f"{instruction.keyword}: use the exec (JSON) form so signals reach the process"
        check_command(argv)
