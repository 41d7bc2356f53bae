"""Running the simulator: in a background thread for tests, or in the foreground.

Both paths bind the listening socket themselves before starting uvicorn, so the real
port is known at once (port 0 = any free port) and "port in use" surfaces as a clear
`PortInUseError` in the caller's thread instead of a log line from uvicorn.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from types import TracebackType

import uvicorn
from starlette.applications import Starlette

from .app import create_app
from .config import SimConfig

__all__ = ["PortInUseError", "SimServer", "bind_socket", "serve"]


class PortInUseError(OSError):
    """The requested port is taken by another process."""


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound (not yet listening) TCP socket; raises PortInUseError with advice."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # Lets a restarted simulator reuse a port still in TIME_WAIT; a live listener
    # on the port still makes bind fail, which is what we want to report.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                errno.EADDRINUSE,
                f"port {port} on {host} is already in use: stop the process listening on it "
                f"or start the simulator on another port (e.g. --port {port + 1}, or 0 for any free port)",
            ) from None
        raise
    return sock


def _uvicorn_config(app: Starlette, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level=log_level,
        access_log=log_level in ("debug", "info"),
        lifespan="off",
        # In-flight slow responses must not hold a shutdown for long.
        timeout_graceful_shutdown=1,
    )


class SimServer:
    """The simulator on 127.0.0.1 in a background thread; use as a context manager.

    >>> with SimServer(SimConfig(time_scale=0.02)) as sim:
    ...     requests.post(sim.url + "/api/trade/exchange/Standard", json=body)
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout: float = 10.0,
        log_level: str = "warning",
    ) -> None:
        self.config = config if config is not None else SimConfig()
        self.app = create_app(self.config)
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.log_level = log_level
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. "http://127.0.0.1:54321" (valid once started)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> "SimServer":
        if self._thread is not None:
            raise RuntimeError("SimServer already started")
        self._sock = bind_socket(self.host, self.port)
        self.port = self._sock.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(self.app, self.log_level))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]},
            name=f"trade-sim-{self.port}", daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not self._server.started:
            if not self._thread.is_alive():
                self._cleanup()
                raise RuntimeError(f"trade simulator on {self.url} exited during startup")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(
                    f"trade simulator on {self.url} did not start within {self.startup_timeout} s"
                )
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Ask uvicorn to exit and wait (bounded); force it if it lingers."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout)
            if self._thread.is_alive():
                self._server.force_exit = True
                self._thread.join(timeout)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._thread = None
        self._server = None

    def __enter__(self) -> "SimServer":
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def serve(port: int, host: str = "127.0.0.1", config: SimConfig | None = None) -> None:
    """Run the simulator in the foreground until interrupted (Ctrl-C).

    Raises PortInUseError (message names the port and what to do) if `port` is taken.
    """
    config = config if config is not None else SimConfig()
    sock = bind_socket(host, port)
    actual = sock.getsockname()[1]
    print(f"trade simulator listening on http://{host}:{actual} "
          f"(policy {config.policy}, time scale {config.time_scale}); Currency Exchange feed at "
          f"http://{host}:{actual}/api/currency-exchange", flush=True)
    try:
        uvicorn.Server(_uvicorn_config(create_app(config), "info")).run(sockets=[sock])
    finally:
        sock.close()
