"""Benchmark: what one refused request costs the API's event loop (CPU time per refusal).

    .venv/bin/python bench/refusals.py [--requests 2000]

The most expensive accepted request of tests/reliability/test_overload.py, sent while every
worker slot is taken, so it is refused with 503 BUSY. Three ways: a query text the server has
not seen (parsed, validated, priced, refused), a known text with the early refusal switched
off (parser and validation caches hit, then priced and refused by the cost check), and a known
text refused by `admission` before Strawberry sees it. The app is called in-process through
its whole middleware stack (no socket, no database: nothing is read before the refusal), with
the pause admission holds a BUSY refusal for (`limits.BUSY_HOLD_SECONDS`, a timer: no CPU) off,
so that the refusals can be sent one after another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# this folder holds bench/graphql.py: drop it from the path so `import graphql` finds graphql-core
sys.path[:] = [str(ROOT), str(ROOT / "tests")] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench._context import RunContext  # noqa: E402
from graphql_api import limits  # noqa: E402
from graphql_api.app import create_app  # noqa: E402
from reliability.test_overload import HEAVY  # noqa: E402

URL = "postgresql://postgres@127.0.0.1:9/unused"  # never connected: a refusal reads nothing
VARIABLES = {"from31": "2026-11-01T00:00:00+00:00", "from10": "2026-11-22T00:00:00+00:00",
             "to": "2026-12-01T00:00:00+00:00", "cost": 3.0}


async def call(app, body: bytes) -> int:
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    await app({"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
               "path": "/graphql", "raw_path": b"/graphql", "query_string": b"", "root_path": "",
               "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                           (b"content-length", str(len(body)).encode())],
               "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}, receive, send)
    return sent[0]["status"]


async def per_refusal_us(app, bodies: list[bytes]) -> float:
    assert await call(app, bodies[0]) == 503
    started = time.process_time()
    for body in bodies:
        assert await call(app, body) == 503
    return (time.process_time() - started) / len(bodies) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    n = parser.parse_args().requests
    if n < 10:
        parser.error(f"--requests {n}: at least 10 (a tenth of them are new query texts)")
    context = RunContext()
    limits.BUSY_HOLD_SECONDS = 0.0  # before the app's middleware is built (on its first call)
    app = create_app(URL)
    app.state.workers.in_use = app.state.workers.slots  # every slot taken
    known = [json.dumps({"query": HEAVY, "variables": {**VARIABLES, "cost": 1.0 + i}}).encode() for i in range(n)]
    new = [json.dumps({"query": HEAVY + " " * (i + 1), "variables": VARIABLES}).encode() for i in range(n // 10)]
    documents = app.state.documents
    app.state.documents = None
    figures = {"a new query text (full path)": asyncio.run(per_refusal_us(app, new)),
               "a known text, early refusal off": asyncio.run(per_refusal_us(app, known))}
    app.state.documents = documents
    figures["a known text, refused in admission"] = asyncio.run(per_refusal_us(app, known))
    for label, us in figures.items():
        print(f"{label:40} {us:8.0f} µs CPU per refusal")
    print(context.line())


if __name__ == "__main__":
    main()
