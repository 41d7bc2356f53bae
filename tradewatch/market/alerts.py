"""When an alert fires: the pure semantics of a threshold rule over an hourly series.

A rule's condition is a comparison of one number per hour (a price, a profit per unit)
with a threshold. It fires once, in the hour its condition becomes true, and again only
after it was false for a whole hour: an hour with the condition true while the rule is
not re-armed fires nothing, however long it stays true. An hour without a value (no
snapshot, nothing traded) is not "false": it neither fires nor re-arms the rule.

Because the state after any hour depends only on that hour's condition (true: disarmed;
false: armed), a window can be evaluated on its own once the last known value before it
is given (`armed_after`). No I/O here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

__all__ = ["Comparison", "Crossing", "armed_after", "condition_holds", "crossings"]

Comparison = Literal["below", "above"]


@dataclass(frozen=True)
class Crossing:
    """One firing of a rule: the hour its condition became true, the value and the threshold."""

    hour: datetime
    value: float
    threshold: float
    comparison: Comparison


def condition_holds(value: float | None, comparison: Comparison, threshold: float) -> bool | None:
    """True/False for a known finite value; None when there is no value to compare."""
    if value is None or not math.isfinite(value):
        return None
    return value < threshold if comparison == "below" else value > threshold


def armed_after(value: float | None, comparison: Comparison, threshold: float) -> bool:
    """Whether a rule is armed after an hour with `value` (no value known: armed, as at the start)."""
    return condition_holds(value, comparison, threshold) is not True


def crossings(series: Iterable[tuple[datetime, float | None]], comparison: Comparison, threshold: float,
              armed: bool = True) -> list[Crossing]:
    """The hours of `series` (oldest first) in which the rule fires; `armed` is its state before them."""
    fired: list[Crossing] = []
    for hour, value in series:
        holds = condition_holds(value, comparison, threshold)
        if holds is None:
            continue
        if holds and armed:
            fired.append(Crossing(hour, float(value), threshold, comparison))
        armed = not holds
    return fired
