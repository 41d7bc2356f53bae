"""The Dagster side of the compose deployment, for real: the dagster.yaml the image carries
loads a DagsterInstance on PostgreSQL, the `migrate` service's command prepares an empty
database (twice, as every `docker compose up` runs it), and `dagster definitions validate`
passes for workspace.compose.yaml against the `code` service's own command."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import yaml

from helpers.servers import free_port, stop_process_group
from tradewatch.cli.local_stack import wait_for_port
from tradewatch.warehouse.db import psycopg2_url

from .deploy_files import ROOT, WORKSPACE_FILE, load_compose, with_option

BIN = Path(sys.executable).parent  # the console scripts the image would have on its PATH


def _dagster_home(tmp_path: Path) -> Path:
    """A DAGSTER_HOME like the image's: the Dockerfile copies the repository's dagster.yaml."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((ROOT / "dagster.yaml").read_text())
    return home


def _env(database_url: str, home: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           # role passwords are cluster-wide: applying them here would change other tests' logins
           if key not in ("TRADEWATCH_API_PASSWORD", "TRADEWATCH_READER_PASSWORD")}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "DAGSTER_HOME": str(home),
        "TRADEWATCH_DATABASE_URL": database_url,
        "TRADEWATCH_DAGSTER_PG_URL": psycopg2_url(database_url),
    })
    return env


def test_the_images_dagster_yaml_loads_a_postgres_instance_with_the_queue_and_a_pool_of_one(
        database_url, tmp_path, monkeypatch):
    from dagster import DagsterInstance
    from dagster._core.run_coordinator import QueuedRunCoordinator
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage, PostgresScheduleStorage

    home = _dagster_home(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("TRADEWATCH_DAGSTER_PG_URL", psycopg2_url(database_url))
    instance = DagsterInstance.get()
    try:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert isinstance(instance.schedule_storage, PostgresScheduleStorage)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
        assert instance.get_runs() == []  # it really talks to the database
    finally:
        instance.dispose()


def test_the_migrate_service_prepares_an_empty_database_and_can_run_again(empty_database_url, tmp_path):
    command = load_compose()["services"]["migrate"]["command"]
    env = _env(empty_database_url, _dagster_home(tmp_path))
    for attempt in (1, 2):  # `docker compose up` runs it on every start
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"run {attempt}:\n{done.stdout}\n{done.stderr}"
    with psycopg.connect(empty_database_url) as conn:
        tables = {row[0] for row in conn.execute(
            "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname IN ('warehouse', 'public')")}
    assert "warehouse.raw_trade_responses" in tables
    assert {"public.runs", "public.event_logs", "public.concurrency_limits"} <= tables


@pytest.mark.slow
def test_dagster_validates_the_compose_workspace_against_the_code_services_command(database_url, tmp_path):
    services = load_compose()["services"]
    port = free_port()
    # the `code` service's command and healthcheck, on loopback and a free port instead of code:4000
    command = with_option(with_option(services["code"]["command"], "127.0.0.1", "-h", "--host"), str(port),
                          "-p", "--port")
    health = with_option(services["code"]["healthcheck"]["test"][1:], str(port), "-p", "--port")
    workspace = yaml.safe_load(WORKSPACE_FILE.read_text())
    workspace["load_from"][0]["grpc_server"].update(host="127.0.0.1", port=port)
    (tmp_path / "workspace.compose.yaml").write_text(yaml.safe_dump(workspace))
    env = _env(database_url, _dagster_home(tmp_path))
    log = (tmp_path / "code-server.log").open("w")
    proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        # the port first (a connect is cheap): each health check is a Python process importing Dagster
        proc.log_path = tmp_path / "code-server.log"  # wait_for_port's error shows its last lines
        wait_for_port(port, 120, proc, "the code server")
        while subprocess.run(health, env=env, capture_output=True, timeout=30).returncode != 0:
            assert proc.poll() is None, (tmp_path / "code-server.log").read_text()
            assert time.monotonic() < deadline, "the code server did not become healthy in 120 s"
            time.sleep(1)
        done = subprocess.run(["dagster", "definitions", "validate", "-w", "workspace.compose.yaml"], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=180)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "Validation successful for code location tradewatch" in output
    finally:
        stop_process_group(proc)
        log.close()


@pytest.mark.slow
def test_validation_fails_when_no_code_server_answers(database_url, tmp_path):
    # so the test above cannot pass by validating nothing
    workspace = yaml.safe_load(WORKSPACE_FILE.read_text())
    workspace["load_from"][0]["grpc_server"].update(host="127.0.0.1", port=free_port())
    (tmp_path / "workspace.compose.yaml").write_text(yaml.safe_dump(workspace))
    done = subprocess.run(["dagster", "definitions", "validate", "-w", "workspace.compose.yaml"],
                          env=_env(database_url, _dagster_home(tmp_path)), cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode != 0
