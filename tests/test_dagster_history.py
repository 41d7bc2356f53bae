"""The partitions' first hour is chosen once per installation and kept (tradewatch/cli/dagster_history.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tradewatch.errors import TradeWatchError
from tradewatch.cli.dagster_history import HISTORY_START_FILE, persisted_history_start

FIRST = datetime(2026, 11, 24, 13, tzinfo=timezone.utc)


def test_the_first_start_keeps_its_first_hour_and_later_starts_do_not_move_it(tmp_path):
    assert persisted_history_start(tmp_path, FIRST) == "2026-11-24-13:00"
    assert (tmp_path / HISTORY_START_FILE).read_text().strip() == "2026-11-24-13:00"
    # a later start (its own history would begin later) keeps the first one
    assert persisted_history_start(tmp_path, FIRST.replace(day=28)) == "2026-11-24-13:00"


def test_a_configured_start_wins_and_is_kept(tmp_path):
    persisted_history_start(tmp_path, FIRST)
    assert persisted_history_start(tmp_path, FIRST, configured="2026-01-01-00:00") == "2026-01-01-00:00"
    assert persisted_history_start(tmp_path, FIRST.replace(day=28)) == "2026-01-01-00:00"


def test_a_damaged_file_is_an_error_not_a_moved_start(tmp_path):
    (tmp_path / HISTORY_START_FILE).write_text("yesterday\n")
    with pytest.raises(TradeWatchError, match="history_start holds 'yesterday'"):
        persisted_history_start(tmp_path, FIRST)
