"""CPU work off the event loop: a small, bounded pool of worker processes.

The strategy math is Python and numpy over small arrays; in a thread it holds the GIL most
of the time and every other request on the event loop waits for it. So CPU-bound resolvers
run in `limits.CPU_WORKERS` separate processes (spawned, so no lock or connection of the API
process is inherited), with at most `limits.CPU_QUEUE` more jobs waiting. When every slot is
taken, `run` answers at once with a coded `BUSY` error instead of queueing without bound.

Each job gets the request's deadline: the job itself stops when it passes (the jobs check it
between hours), and the caller stops waiting then with a coded `TIMEOUT`. The processes run
at a lower CPU priority (`WORKER_NICENESS`) than the event loop's. A slot is given back
only when its process has really finished the job, so abandoned work never piles up.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Callable

from graphql_api import limits
from graphql_api.errors import ApiError


class JobFailed(Exception):
    """What a job reports instead of raising: (code, message) of the ApiError to raise here."""


# The workers run at a lower CPU priority than the API process: on a machine short of cores the
# event loop (every cheap request) gets the CPU first, and the expensive jobs take what is left.
WORKER_NICENESS = 5


def _lower_priority() -> None:
    import os

    try:
        os.nice(WORKER_NICENESS)
    except (AttributeError, OSError):  # not on this platform, or not allowed: run at the same priority
        pass


def _warm() -> None:
    import numpy  # noqa: F401  - the first job should not pay the imports

    import graphql_api.evaluation  # noqa: F401


class WorkerPool:
    """`workers` processes and `queue` waiting jobs at most; started on first use or `start`."""

    def __init__(self, workers: int = limits.CPU_WORKERS, queue: int = limits.CPU_QUEUE) -> None:
        self.workers = workers
        self.slots = workers + queue
        self.in_use = 0
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=_lower_priority)
            for _ in range(self.workers):
                self._executor.submit(_warm)

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def free(self) -> int:
        return self.slots - self.in_use

    async def run(self, job: Callable[..., Any], *args: Any, deadline: float) -> Any:
        """`job(*args, deadline)` in a worker process; BUSY when full, TIMEOUT past `deadline`."""
        if self.in_use >= self.slots:
            raise ApiError(f"the server is busy with other expensive requests ({self.slots} at a time); "
                           "retry in a second", code="BUSY")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timeout()
        self.start()
        assert self._executor is not None
        self.in_use += 1
        try:
            future: Future = self._executor.submit(job, *args, deadline)
        except Exception:  # a broken pool (a worker was killed): start a fresh one next time
            self.in_use -= 1
            self.shutdown()
            raise ApiError("the worker pool restarted; retry in a second", code="BUSY") from None
        loop = asyncio.get_running_loop()
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._release))
        try:
            result = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), remaining)
        except asyncio.TimeoutError:
            raise _timeout() from None
        except JobFailed as failed:
            code, message = failed.args
            raise ApiError(message, code=code) from None
        except Exception as exc:  # BrokenProcessPool and the like
            if type(exc).__name__ == "BrokenProcessPool":
                self.shutdown()
                raise ApiError("the worker pool restarted; retry in a second", code="BUSY") from None
            raise
        return result

    def _release(self) -> None:
        self.in_use -= 1


def _timeout() -> ApiError:
    return ApiError(f"the request ran longer than its budget of {limits.REQUEST_BUDGET_SECONDS:g} s; ask for a "
                    "shorter range or fewer fields", code="TIMEOUT")
