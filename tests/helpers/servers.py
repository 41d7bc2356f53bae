"""Serving on loopback for the tests (and the benchmarks): a free port, an ASGI app under
uvicorn in a thread with an httpx client for it, and stopping a server started as its own
process group.

Imported as `helpers.servers` by the tests (tests/conftest.py puts tests/ on sys.path) and as
`tests.helpers.servers` by the bench scripts (which put the repository root there)."""

from __future__ import annotations

import socket
import subprocess
import threading
import time

import httpx
import uvicorn


# a trade site that refuses at once (the discard port): what apps under test read the live leagues
# from unless a test serves them, so that no test reaches the real site
UNREACHABLE_URL = "http://127.0.0.1:9"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServedApp:
    """The app under uvicorn on 127.0.0.1:<free port> (a real TCP server) in a thread, and an
    httpx client for it at `client`. Subclasses add their own request helpers."""

    def __init__(self, app, *, startup_seconds: float = 20, client_timeout: float = 30, **uvicorn_options) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    lifespan="on", **uvicorn_options))
        self.thread = threading.Thread(target=self.server.run, name=f"api-{self.port}", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + startup_seconds
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                self.stop()
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.base = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.base, timeout=client_timeout)

    def stop(self) -> None:
        client = getattr(self, "client", None)  # absent when the server never started
        if client is not None:
            client.close()
        self.server.should_exit = True
        self.thread.join(timeout=15)
        if self.thread.is_alive():  # a graceful shutdown waits for open connections: stop waiting
            self.server.force_exit = True
            self.thread.join(timeout=5)


def stop_process_group(proc: subprocess.Popen) -> None:
    """SIGTERM to a process started with start_new_session=True, SIGKILL after 15 s, and
    SIGKILL to whatever of its group outlived it (children such as code servers)."""
    from tradewatch.cli.local_stack import stop_all

    stop_all([proc], grace=15)
