"""Jobs for the worker-pool tests (importable by a spawned worker process)."""

from __future__ import annotations

import time


def sleep_then_answer(seconds: float, answer: object, deadline: float) -> object:
    time.sleep(seconds)
    return answer
