"""The simulated market is calibrated so that the default strategy pays in some hours and
not in others (as traders report for Harvest rerolls), for both policies, deterministically:
the same seed and hours give the same answer on every run."""

from __future__ import annotations

from datetime import datetime, timezone

from helpers.databases import history_database
from tradewatch.warehouse.db import connect
from tradewatch.watchlist import load_watchlist

END = datetime(2026, 11, 20, 0, tzinfo=timezone.utc)  # a fixed window: the answer never depends on today


def _signs(server_url: str) -> dict[str, tuple[int, int]]:
    with history_database(server_url, load_watchlist(), "tw_calibration", days=3, seed=7, end=END) as made:
        with connect(made.url) as conn:
            rows = conn.execute(
                """SELECT policy, sum((expected_profit_per_unit > 0)::int), sum((expected_profit_per_unit <= 0)::int)
                     FROM warehouse.reroll_profitability WHERE strategy = 'deafening-top5' GROUP BY policy""").fetchall()
    return {policy: (paying, not_paying) for policy, paying, not_paying in rows}


def test_the_default_strategy_pays_in_some_hours_and_not_in_others_for_both_policies(pg_server_url):
    signs = _signs(pg_server_url)
    assert set(signs) == {"top_k", "optimal"}
    for policy, (paying, not_paying) in signs.items():
        assert paying >= 3 and not_paying >= 3, (policy, signs)  # both sides of zero, hours of each
    # the optimal stopping policy never does worse than the rule of thumb: it pays more often
    assert signs["optimal"][0] > signs["top_k"][0]
    assert _signs(pg_server_url) == signs  # deterministic
