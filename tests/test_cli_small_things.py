"""The command line's small promises: help on every option, ports checked for range, and
`db url` / `db status` asking the running server for its port instead of assuming it."""

from __future__ import annotations

import argparse

import pytest

from helpers.servers import free_port
from tradewatch.cli.main import build_parser, main


def _options(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                for inner in _options(sub):
                    yield (name, *inner[1:]) if inner[0] == "tradewatch" else inner
        elif not isinstance(action, argparse._HelpAction):
            yield parser.prog, action.dest, action.help


def test_every_option_of_every_verb_has_help():
    missing = [(prog, dest) for prog, dest, text in _options(build_parser()) if not text]
    assert missing == []


@pytest.mark.parametrize("argv", [["demo", "--api-port", "99999"], ["run", "--dagster-port", "0"],
                                  ["serve", "--port", "eighty"], ["sim", "--port", "-1"]])
def test_a_port_out_of_range_is_a_one_line_error(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(argv)
    assert stopped.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "is not a port number" in err and "Traceback" not in err


def test_db_url_and_status_ask_the_running_server_for_its_port(server_dir, monkeypatch, capsys):
    from tradewatch.warehouse.embedded_pg import EmbeddedPostgres

    home, started_on, configured = server_dir / "home", free_port(), free_port()
    monkeypatch.delenv("TRADEWATCH_DATABASE_URL", raising=False)
    monkeypatch.setenv("TRADEWATCH_HOME", str(home))
    monkeypatch.setenv("TRADEWATCH_PG_PORT", str(configured))  # not the port the server runs on
    # stopped: a clear error at once, no server started, no traceback
    assert main(["db", "url"]) == 2
    assert "is not running; start it with `tradewatch db start`" in capsys.readouterr().err
    assert not (home / "pg" / "PG_VERSION").exists()

    server = EmbeddedPostgres(home / "pg", started_on)
    server.start()
    try:
        assert main(["db", "url"]) == 0
        printed = capsys.readouterr().out.strip()
        assert f"127.0.0.1:{started_on}/tradewatch" in printed and ":***@" not in printed
        assert main(["db", "status"]) == 0
        assert f"running (port {started_on})" in capsys.readouterr().out
    finally:
        server.stop()
    assert main(["db", "status"]) == 0
    assert f"stopped (would start on port {configured})" in capsys.readouterr().out


def test_a_second_demo_on_the_same_home_names_the_running_one_and_starts_nothing(tmp_path, capsys, monkeypatch):
    from tradewatch.cli.stack_record import StackRecord

    home = tmp_path / "home"
    monkeypatch.setenv("TRADEWATCH_HOME", str(home))
    # this test's process stands for a demo that is running on the same home
    running = StackRecord.new(home, "demo", tmp_path, {"dagster": 3456, "api": 4567})
    try:
        ports = [str(free_port()) for _ in range(3)]
        code = main(["demo", "--dagster-port", ports[0], "--api-port", ports[1], "--sim-port", ports[2]])
        err = capsys.readouterr().err
        assert code == 2
        assert "`tradewatch demo` (pid" in err and "dagster 3456" in err and "is already running" in err
        assert "tradewatch stop" in err
        assert not (home / "pg").exists()  # nothing was started
    finally:
        running.clear()
    # once the first is gone (its record with it), the home is free again
    assert StackRecord.load(home) is None


def test_waiting_shows_each_status_change_and_the_elapsed_time_between():
    import io

    from tradewatch.cli.dagster_remote import _wait_until_final

    out = io.StringIO()
    statuses = iter(["QUEUED", "STARTED", "STARTED", "STARTED", "SUCCESS"])
    from tradewatch.cli.dagster_remote import WaitProgress

    progress = WaitProgress("run r1", every=0.0, out=out)
    final = _wait_until_final(lambda: next(statuses), frozenset({"SUCCESS"}), 10, 0.01, "run r1", "page", progress)
    lines = out.getvalue().splitlines()
    assert final == "SUCCESS"
    assert [line.split(" (")[0] for line in lines] == ["run r1: QUEUED", "run r1: STARTED", "run r1: STARTED",
                                                        "run r1: STARTED", "run r1: SUCCESS"]
    assert all(line.endswith(" s)") for line in lines)
    # with the default pace, an unchanged status is not repeated at every poll
    quiet = io.StringIO()
    once = WaitProgress("run r2", out=quiet)
    for status in ("STARTED", "STARTED", "STARTED"):
        once(status)
    assert quiet.getvalue().count("STARTED") == 1
