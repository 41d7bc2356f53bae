"""The simulated market is calibrated so that the default strategy pays in some hours and
not in others (as traders report for Harvest rerolls), for both policies, deterministically:
the same seed and hours give the same answer on every run. The README's calibration note
states what is asserted here, over a fixed week of seed 7."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from helpers.databases import history_database
from tradewatch.warehouse.db import connect
from tradewatch.watchlist import load_watchlist

END = datetime(2026, 11, 20, 0, tzinfo=timezone.utc)  # a fixed window: the answer never depends on today
DAYS = 7


def _paying_hours(server_url: str, days: int) -> dict[tuple[str, datetime], tuple[int, int]]:
    """(policy, day) -> (hours paying, hours not paying) of `deafening-top5` over `days` days to END."""
    with history_database(server_url, load_watchlist(), "tw_calibration", days=days, seed=7, end=END) as made:
        with connect(made.url) as conn:
            rows = conn.execute(
                """SELECT policy, date_trunc('day', observed_hour), sum((expected_profit_per_unit > 0)::int),
                          sum((expected_profit_per_unit <= 0)::int)
                     FROM warehouse.reroll_profitability WHERE strategy = 'deafening-top5' GROUP BY 1, 2""").fetchall()
    return {(policy, day): (paying, not_paying) for policy, day, paying, not_paying in rows}


@pytest.fixture(scope="module")
def week(pg_server_url) -> dict[tuple[str, datetime], tuple[int, int]]:
    return _paying_hours(pg_server_url, DAYS)


def _share(week, policy: str) -> float:
    paying = sum(p for (pol, _), (p, _) in week.items() if pol == policy)
    return paying / (DAYS * 24)


def test_the_week_is_priced_in_every_hour_for_both_policies(week):
    assert {policy for policy, _ in week} == {"top_k", "optimal"}
    assert all(sum(counts) == 24 for counts in week.values()) and len(week) == 2 * DAYS


def test_optimal_pays_in_at_least_three_hours_of_four_but_not_in_all(week):
    assert 0.75 <= _share(week, "optimal") < 1.0, week
    assert sum(n for (pol, _), (_, n) in week.items() if pol == "optimal") >= 3  # hours of each side of zero


def test_top_k_pays_in_a_third_to_two_thirds_of_the_hours_and_crosses_zero_every_day(week):
    assert 1 / 3 <= _share(week, "top_k") <= 2 / 3, week
    for (policy, day), (paying, not_paying) in week.items():
        if policy == "top_k":
            assert paying and not_paying, (day, paying, not_paying)
    # the optimal stopping policy never does worse than the rule of thumb: it pays more often
    assert _share(week, "optimal") > _share(week, "top_k")


def test_the_same_seed_and_hours_give_the_same_answer(pg_server_url, week):
    last_day = _paying_hours(pg_server_url, 1)
    assert last_day == {key: counts for key, counts in week.items() if key[1] == END - timedelta(days=1)}
