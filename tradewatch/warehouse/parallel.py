"""CPU work of a derivation spread over worker processes, in order, with bounded read-ahead.

Derived tables are recomputed from stored raw bodies: decompressing, parsing and pricing
is pure CPU work, so a long window is priced in one worker per core while the calling
process streams the results into one COPY. At most `2 × workers` tasks are in flight, so
a year's window runs in flat memory however long the source is.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TypeVar

__all__ = ["default_workers", "ordered_map"]

T = TypeVar("T")
R = TypeVar("R")

MAX_WORKERS = 4


def default_workers(hours: float, parallel_from_hours: int) -> int:
    """One worker per core (at most 4) for windows of `parallel_from_hours` or more, else 1 (no workers to start)."""
    return min(os.cpu_count() or 1, MAX_WORKERS) if hours >= parallel_from_hours else 1


def ordered_map(fn: Callable[[T], R], tasks: Iterable[T], workers: int) -> Iterator[R]:
    """`map(fn, tasks)` in `workers` processes (in this one when `workers <= 1`), results in task order.

    `fn` must be a module-level function; an exception it raises is re-raised here.
    """
    if workers <= 1:
        yield from map(fn, tasks)
        return
    # spawn: the calling process holds database connections and threads that must not be forked
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: deque[Future] = deque()
        for task in tasks:
            pending.append(pool.submit(fn, task))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
