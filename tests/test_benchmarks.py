"""The benchmarks' shared parts: their databases keep the server URL's parameters (the embedded
server's passfile), their ranges are anchored on the present and refuse what cannot run, each
prints the load average and the commit, and bench-smoke covers every script under bench/.

(`make bench-smoke` and tests/test_bench_smoke.py run the benchmarks themselves; these tests check what
they stand on.)"""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # bench/ is not installed: the scripts import it from the repository root
    sys.path.insert(0, str(ROOT))

from bench import smoke  # noqa: E402
from bench._context import RunContext, commit  # noqa: E402
from bench._databases import SERVER_VARIABLE, bench_server, fresh_database, kept_database  # noqa: E402
from bench._hours import SizeRefused, newest_complete_hour, newest_range  # noqa: E402
from tradewatch.hours import HOUR  # noqa: E402


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_every_script_under_bench_has_a_smoke_run():
    scripts = {path.name for path in (ROOT / "bench").glob("*.py")
               if not path.name.startswith("_") and path.name != "smoke.py"}
    assert scripts == {entry.script for entry in smoke.SMOKES}


def test_a_range_ends_with_the_newest_complete_hour():
    newest = newest_complete_hour(now=_utc(2026, 3, 5, 10, 30))
    assert newest == _utc(2026, 3, 5, 9)
    start, end = newest_range(2, timedelta(days=1), _utc(2025, 1, 1), option="--days", first_source="x",
                              newest=newest)
    assert (start, end) == (_utc(2026, 3, 3, 10), _utc(2026, 3, 5, 10))


def test_an_hour_not_yet_published_is_not_in_the_range():
    # 30 s past the hour with a 60 s publication delay: the hour that just ended is not out yet
    assert newest_complete_hour(now=_utc(2026, 3, 5, 10, 0, 30), published_after=timedelta(seconds=60)) \
        == _utc(2026, 3, 5, 8)
    assert newest_complete_hour(now=_utc(2026, 3, 5, 10, 1, 30), published_after=timedelta(seconds=60)) \
        == _utc(2026, 3, 5, 9)


def test_a_size_reaching_before_the_first_hour_is_refused_with_how_much_fits():
    first, newest = _utc(2026, 3, 1), _utc(2026, 3, 5, 9)
    assert newest_range(106, HOUR, first, option="--hours", first_source="x", newest=newest)[0] == first
    with pytest.raises(SizeRefused, match=r"--hours 107 would start at 2026-02-28-23:00, before the first hour "
                                          r"2026-03-01-00:00 \(the feed\).*ask for at most 106"):
        newest_range(107, HOUR, first, option="--hours", first_source="the feed", newest=newest)
    with pytest.raises(SizeRefused, match="--days 0: a benchmark needs at least 1"):
        newest_range(0, timedelta(days=1), first, option="--days", first_source="x", newest=newest)


def test_the_backfill_bench_refuses_a_size_before_the_first_partition_before_starting_anything():
    done = subprocess.run([sys.executable, "bench/backfill.py", "--days", "100000"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert re.search(r"--days 100000 would start at .* before the first hour .*TRADEWATCH_HISTORY_START.*"
                     r"ask for at most \d+", done.stderr)
    assert "database" not in done.stdout  # refused before a server or a database was made


def test_a_fresh_database_keeps_the_server_urls_parameters_and_is_dropped(pg_server_url):
    # a parameter the server reports back: it reaches the new database only if the query string is kept
    server = pg_server_url + ("&" if "?" in pg_server_url else "?") + "application_name=tw_bench_kept"
    with fresh_database(server, "tw_bench_test") as url:
        name = url.split("?", 1)[0].rsplit("/", 1)[1]
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_database(), current_setting('application_name')").fetchone() \
                == (name, "tw_bench_kept")
    with psycopg.connect(pg_server_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,)).fetchone()[0] == 0


def test_a_kept_database_is_created_once_and_left_in_place(pg_server_url):
    from helpers.databases import drop_database, with_database

    url = with_database(pg_server_url, "tw_bench_kept_test")
    drop_database(pg_server_url, "tw_bench_kept_test")
    try:
        assert kept_database(url) == url
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE marker (id int)")
        kept_database(url)  # exists already: left as it is
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM marker").fetchone()[0] == 0
    finally:
        drop_database(pg_server_url, "tw_bench_kept_test")
    with pytest.raises(ValueError, match="must name a database"):
        kept_database(with_database(pg_server_url, ""))


def test_the_configured_bench_server_is_used_as_it_is(monkeypatch, pg_server_url):
    monkeypatch.setenv(SERVER_VARIABLE, pg_server_url)
    with bench_server() as server:
        assert server == pg_server_url


@pytest.mark.slow
def test_without_a_configured_server_an_embedded_one_with_passwords_serves_fresh_databases(monkeypatch):
    monkeypatch.delenv(SERVER_VARIABLE, raising=False)
    with bench_server() as server:
        assert "passfile=" in server
        passfile = Path(re.search(r"passfile=([^&]+)", server).group(1))
        with fresh_database(server) as url:
            assert "passfile=" in url
            with psycopg.connect(url) as conn:  # fe_sendauth: no password supplied, were the passfile lost
                assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not passfile.parent.exists()  # the run's server and its data are gone


def test_the_context_line_gives_the_load_average_and_this_checkout_s_commit(tmp_path):
    line = RunContext().line()
    assert re.fullmatch(smoke.CONTEXT + r"( \+ uncommitted changes)?", line), line
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    assert f"commit {head}" in line
    assert commit(tmp_path) == "unknown"  # not a git checkout


def test_smoke_names_each_figure_a_benchmark_did_not_print():
    entry = smoke.Smoke("x.py", (), (r"rows: \d+",))
    good = "rows: 12\n" + RunContext().line()
    assert smoke.missing_figures(entry, good, 0) == []
    problems = smoke.missing_figures(entry, "rows: none\n", 1)
    assert problems[0] == "exited with status 1"
    assert any(r"rows: \d+" in problem for problem in problems) and any("load average" in p for p in problems)
