"""The abusive clients of tests/reliability/test_overload.py, run as a process of their own (so
the client that measures latestPrices never waits for the abusers' share of one interpreter's
GIL, while the abusers together still take at most one core, as they did as threads):

    python tests/helpers/overload_client.py <base_url> <clients> <timeout_s>   (the job on stdin, JSON)

The job is `{"query": ..., "variables": {...}}`; each request replaces `variables.cost` by a
fresh random reroll cost (no cache hits). Each client (a thread with its own keep-alive
connection) sends in a loop, ignoring Retry-After as an abusive client does. Prints `started`
once every client's first attempt is over, stops when its stdin is closed, then prints one
JSON line: outcomes by kind, durations of the answered requests, failures.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time
from collections import Counter

import httpx


def main(base: str, clients: int, timeout: float) -> None:
    job = json.loads(sys.stdin.readline())
    stop = threading.Event()
    outcomes: Counter = Counter()
    answered_ms: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()
    first_attempts = threading.Barrier(clients + 1)

    def abuse(seed: int) -> None:
        rng = random.Random(seed)
        first = True
        with httpx.Client(base_url=base, timeout=timeout) as client:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    response = client.post("/graphql", json={"query": job["query"], "variables": {
                        **job["variables"], "cost": rng.uniform(1, 200)}})
                except httpx.HTTPError as exc:  # a time-out or a dropped connection
                    response = None
                    with lock:
                        failures.append(f"{type(exc).__name__}: {exc}")
                if response is not None:
                    record(response, (time.perf_counter() - started) * 1000)
                if first:
                    first = False
                    first_attempts.wait(timeout * 2)

    def record(response: httpx.Response, elapsed: float) -> None:
        body = response.json()
        codes = sorted({e.get("extensions", {}).get("code", "?") for e in body.get("errors", [])})
        with lock:
            if response.status_code == 200 and not codes:
                outcomes["answered"] += 1
                answered_ms.append(elapsed)
            elif response.status_code == 503 and codes and set(codes) <= {"BUSY", "TIMEOUT"} \
                    and response.headers.get("retry-after"):
                outcomes["503 " + "+".join(codes)] += 1
            elif response.status_code == 200 and set(codes) <= {"BUSY", "TIMEOUT"}:
                outcomes["200 " + "+".join(codes)] += 1
            else:
                failures.append(f"{response.status_code}: {response.text[:300]}")

    threads = [threading.Thread(target=abuse, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    first_attempts.wait(timeout * 2)
    print("started", flush=True)
    sys.stdin.read()  # until the test closes it
    stop.set()
    for thread in threads:
        thread.join(timeout + 5)
    print(json.dumps({"outcomes": outcomes, "answered_ms": answered_ms, "failures": failures}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
