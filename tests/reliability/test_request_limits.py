"""Bounded requests and slow clients (reliability section "hardening").

Against `tradewatch serve` in its own process (as compose runs it), over raw sockets so the
test controls what is declared and what is actually sent:

* a body declared larger than the cap is refused with a coded 413 before it is read, on every
  route; a chunked body without a declared size is cut off once the bytes read cross the cap;
  ten such uploads at once leave the server's memory flat and `/health` answering;
* `variables` holding more values than the cap are refused before GraphQL looks at them;
* a client gone mid-body is not an error (no 500, nothing logged at ERROR, no trace);
* 300 sockets that send half a request line are closed after the head timeout, and the
  server answers again; a body trickled slower than the body deadline gets a 408.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from helpers.databases import create_database, drop_database
from helpers.servers import free_port, stop_process_group
from tradewatch.cli.api_server import HEAD_TIMEOUT, LIMIT_CONCURRENCY

from ._bad_input_server import LogKeeper, serve_api

BIN = Path(sys.executable).parent
MAX_BODY = 1_048_576      # the default cap (TRADEWATCH_API_MAX_BODY_BYTES)
MAX_VALUES = 10_000       # the default cap (TRADEWATCH_API_MAX_VARIABLE_VALUES)
GREED = "deafening-essence-of-greed"
WEIGHTS_QUERY = "query($w: [WeightInput!]) { evaluateStrategy(weights: $w) { summary { hours } } }"


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def open_sockets(self) -> int:
        return sum(1 for c in psutil.Process(self.proc.pid).net_connections("tcp")
                   if c.status == psutil.CONN_ESTABLISHED)


@pytest.fixture(scope="module")
def server(pg_server_url, _template_db, tmp_path_factory):
    name, url = create_database(pg_server_url, "tw_limits", template=_template_db)
    workdir = tmp_path_factory.mktemp("limits_server")  # no stray .env from the checkout
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("TRADEWATCH_")}
    env.update({"TRADEWATCH_DATABASE_URL": url, "TRADEWATCH_HOME": str(workdir / "home")})
    log_path = workdir / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen([str(BIN / "tradewatch"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                            cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    served = Server(proc, port, log_path)
    try:
        _wait_healthy(served, 60)
        yield served
    finally:
        stop_process_group(proc)
        log.close()
        drop_database(pg_server_url, name)


def _wait_healthy(server: Server, seconds: float) -> float:
    """Seconds until /health answers 200."""
    started = time.monotonic()
    while True:
        assert server.proc.poll() is None, server.log.read_text()
        try:
            if httpx.get(server.base + "/health", timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        assert time.monotonic() - started < seconds, f"/health did not answer within {seconds} s"
        time.sleep(0.05)


@dataclass
class Outcome:
    status: int | None
    body: bytes
    sent: int        # body bytes the client managed to send
    seconds: float   # from the first byte sent to the answer


def _read_response(sock: socket.socket) -> tuple[int | None, bytes]:
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, rest = data.partition(b"\r\n\r\n")
            if sep:
                length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), None)
                if length is not None and len(rest) >= length:
                    break
    except (ConnectionResetError, socket.timeout):
        pass
    if not data.startswith(b"HTTP/1.1 "):
        return None, data
    return int(data[9:12]), data.partition(b"\r\n\r\n")[2]


def raw_upload(port: int, path: str, headers: dict[str, str], total: int, chunked: bool,
               timeout: float = 30) -> Outcome:
    """POST `total` bytes of a JSON-ish body (or until the server answers and closes)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else "\r\n"
    sent = 0
    stop = threading.Event()
    piece = b'{"query": "{ items { id } }", "variables": {"x": "' + b"x" * 65_000

    def send_body() -> None:
        nonlocal sent
        try:
            while sent < total and not stop.is_set():
                part = piece[:min(len(piece), total - sent)]
                sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) if chunked else part)
                sent += len(part)
            if chunked and not stop.is_set():
                sock.sendall(b"0\r\n\r\n")
        except OSError:  # the server answered and closed: what the test wants
            pass

    started = time.monotonic()
    sock.sendall(head.encode())
    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    status, body = _read_response(sock)
    seconds = time.monotonic() - started
    stop.set()
    sock.close()
    sender.join(timeout=10)
    return Outcome(status, body, sent, seconds)


def _code(body: bytes) -> str:
    return json.loads(body)["errors"][0]["extensions"]["code"]


@pytest.mark.timing  # a refusal within a second: judged in the serial pass
def test_a_body_over_the_cap_is_refused_before_it_is_read_on_every_route(server, figures):
    declared = 10 * 1024**3  # 10 GiB declared: refused on the header alone
    refusals = {}
    for path in ("/graphql", "/health", "/export/price-series.csv", "/dashboard", "/no/such/route"):
        outcome = raw_upload(server.port, path, {"Content-Length": str(declared)}, total=declared, chunked=False)
        assert outcome.status == 413, (path, outcome)
        assert _code(outcome.body) == "REQUEST_TOO_LARGE" and b"TRADEWATCH_API_MAX_BODY_BYTES" in outcome.body
        refusals[path] = outcome
    graphql = refusals["/graphql"]
    # refused on the declaration: far less than the cap went over the wire before the answer
    assert graphql.seconds < 1.0, graphql.seconds

    # no size declared: the bytes read are counted, and the upload is cut off past the cap
    streamed = raw_upload(server.port, "/graphql", {}, total=250 * 1024**2, chunked=True)
    assert streamed.status == 413 and _code(streamed.body) == "REQUEST_TOO_LARGE", streamed
    assert streamed.sent < 250 * 1024**2 // 4, f"the server read {streamed.sent} bytes before refusing"

    # just under the cap is still served
    under = httpx.post(server.base + "/graphql", timeout=30,
                       json={"query": "query($s: String) { items(search: $s) { id } }",
                             "variables": {"s": "x" * (MAX_BODY - 200)}})
    assert under.status_code == 200 and under.json()["data"] == {"items": []}
    figures.record("hardening", "largest body refused (declared)", "10 GiB", "",
                   f"Content-Length over the {MAX_BODY:,}-byte cap: 413 REQUEST_TOO_LARGE in "
                   f"{graphql.seconds * 1000:.1f} ms before any of it is read, on every route "
                   f"({', '.join(refusals)})")
    figures.record("hardening", "largest body refused (streamed, no size declared)", "250 MB", "",
                   f"chunked upload cut off with a 413 after {streamed.sent / 1e6:.1f} MB had been sent "
                   f"(cap {MAX_BODY / 1e6:.2f} MB plus socket buffers), in {streamed.seconds * 1000:.0f} ms")


def test_ten_oversize_uploads_at_once_leave_memory_flat_and_health_answering(server, figures):
    rss_before = server.rss()
    peak = rss_before
    done = threading.Event()
    outcomes: list[Outcome] = []

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, server.rss())
            time.sleep(0.01)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    lock = threading.Lock()

    def upload(i: int) -> None:
        # half declare 250 MB, half stream 250 MB without declaring
        result = raw_upload(server.port, "/graphql", {} if i % 2 else {"Content-Length": str(250 * 1024**2)},
                            total=250 * 1024**2, chunked=bool(i % 2))
        with lock:
            outcomes.append(result)

    uploaders = [threading.Thread(target=upload, args=(i,)) for i in range(10)]
    started = time.monotonic()
    for thread in uploaders:
        thread.start()
    health = []
    while (any(t.is_alive() for t in uploaders) or len(health) < 20) and time.monotonic() - started < 60:
        t0 = time.monotonic()
        assert httpx.get(server.base + "/health", timeout=10).status_code == 200
        health.append(time.monotonic() - t0)
    for thread in uploaders:
        thread.join(timeout=60)
    done.set()
    sampler.join()
    assert [o.status for o in outcomes] == [413] * 10, outcomes
    growth = peak - rss_before
    assert growth < 50 * 1024**2, f"the server grew by {growth / 1e6:.0f} MB"
    figures.record("hardening", "peak memory during 10 oversize requests", round(peak / 1e6, 1), "MB",
                   f"10 parallel uploads of 250 MB (5 declared, 5 streamed): all 413; RSS {rss_before / 1e6:.1f} MB "
                   f"before, growth {growth / 1e6:.1f} MB (the review, before the change: 181 → 1,009 MB for one 250 MB body)")
    figures.record("hardening", "/health during the oversize uploads", round(max(health) * 1000, 1), "ms",
                   f"slowest of {len(health)} probes while and after they ran (the review, before the change: stalled 1.4 s)")


@pytest.mark.timing  # a refusal within a second: judged in the serial pass
def test_too_many_variable_values_are_refused_before_graphql_sees_them(server, figures):
    cases = {
        "200,000 weights (11 MB, over the body cap)": [{"item": GREED, "weight": 1.0}] * 200_000,
        f"{MAX_VALUES + 1:,} values in 3,334 weights": [{"item": GREED, "weight": 1.0}] * 3_334,
        "10,001 items": [GREED] * 10_001,
    }
    timings = {}
    with httpx.Client(base_url=server.base, timeout=30) as client:
        for what, weights in cases.items():
            started = time.monotonic()
            response = client.post("/graphql", json={"query": WEIGHTS_QUERY, "variables": {"w": weights}})
            timings[what] = time.monotonic() - started
            assert response.status_code == 413, (what, response.text[:300])
            assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE", what
            assert timings[what] < 1.0, (what, timings[what])
        # at the cap: handed to GraphQL, which answers about the weights themselves
        at_cap = client.post("/graphql", json={"query": WEIGHTS_QUERY,
                                               "variables": {"w": [{"item": GREED, "weight": 1.0}] * 3_333}})
        assert at_cap.status_code == 200 and at_cap.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert client.get("/health").status_code == 200
    figures.record("hardening", "variables over the value cap", len(cases), "requests",
                   f"cap {MAX_VALUES:,} values (TRADEWATCH_API_MAX_VARIABLE_VALUES): each a 413 REQUEST_TOO_LARGE, "
                   + "; ".join(f"{w} in {s * 1000:.0f} ms" for w, s in timings.items())
                   + " (the review, before the change: 200,000 weights answered after 5.4 s, /health blocked 5.3 s)")


def test_a_client_gone_mid_body_is_not_an_error(database_url, figures):
    from tradewatch.watchlist import load_watchlist

    keeper = LogKeeper()
    import logging

    root = logging.getLogger()
    root.addHandler(keeper)
    api = serve_api(database_url, load_watchlist())
    try:
        for path in ("/graphql", "/export/price-series.csv"):
            for _ in range(5):
                sock = socket.create_connection(("127.0.0.1", api.port), timeout=5)
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                             f"Content-Length: 100000\r\n\r\n".encode() + b'{"query": "{ items { id } }", "x": "' + b"y" * 5000)
                sock.close()
        assert api.client.get("/health").status_code == 200  # and the server is fine
        time.sleep(0.2)  # let the server notice the last disconnect before the log is read
    finally:
        api.stop()
        root.removeHandler(keeper)
    problems = [r.text for r in keeper.records if r.levelno >= logging.WARNING or "Traceback" in r.text
                or "ClientDisconnect" in r.text]
    assert not problems, problems
    figures.record("hardening", "bodies cut off mid-way", 10, "requests",
                   "client closed after 5 kB of a declared 100 kB: no answer, nothing logged at WARNING or above, "
                   "no trace (the review, before the change: a ClientDisconnect traceback and a 500)")


def test_slow_clients_are_closed_and_the_server_answers_again(server, figures):
    sockets = []
    started = time.monotonic()
    for _ in range(300):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=HEAD_TIMEOUT + 10)
        sock.sendall(b"GET /health HT")  # half a request line, then nothing
        sockets.append(sock)
    deadline = time.monotonic() + 3
    while (opened := server.open_sockets()) < 300 and time.monotonic() < deadline:
        time.sleep(0.05)  # the accept loop takes them in batches
    # while they hold their slots the server refuses at once instead of queueing without bound
    during = httpx.get(server.base + "/health", timeout=10).status_code
    closed = 0
    for sock in sockets:
        try:
            closed += sock.recv(1) == b""
        except (ConnectionResetError, socket.timeout):
            closed += 1
        sock.close()
    seconds = time.monotonic() - started
    assert closed == 300, f"{300 - closed} slow sockets were still open after {seconds:.1f} s"
    assert seconds < HEAD_TIMEOUT + 5
    recovered = _wait_healthy(server, 10)
    assert during in (200, 503)
    figures.record("hardening", "slow clients (half a request line)", 300, "sockets",
                   f"all closed by the server after {seconds:.1f} s (head timeout {HEAD_TIMEOUT:g} s); "
                   f"{opened} established while held; /health during: {during} (limit-concurrency "
                   f"{LIMIT_CONCURRENCY}), answering again {recovered * 1000:.0f} ms after (the review, before the change: held open "
                   "indefinitely)")


def test_a_trickled_body_gets_a_408(database_url, monkeypatch):
    import graphql_api.app as app_module
    from tradewatch.watchlist import load_watchlist

    monkeypatch.setattr(app_module, "BODY_TIMEOUT_SECONDS", 0.5)
    api = serve_api(database_url, load_watchlist())
    try:
        sock = socket.create_connection(("127.0.0.1", api.port), timeout=10)
        sock.sendall(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 1000\r\n\r\n{")
        status, body = _read_response(sock)
        sock.close()
    finally:
        api.stop()
    assert status == 408 and _code(body) == "REQUEST_TIMEOUT", (status, body)
