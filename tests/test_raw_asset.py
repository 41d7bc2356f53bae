"""The raw_trade_responses asset through Dagster, against the simulator and a real PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from dagster import DagsterInstance, materialize

from tradewatch.warehouse.db import psycopg2_url
from tradewatch.hours import floor_hour, partition_key, utc_now
from tradewatch_assets.resources import TradeApiResource, WarehouseResource, WatchlistResource
from tradewatch_assets.trade_api.assets import raw_trade_responses
from helpers.raw_rows import select_raw

SECRET = "0123456789abcdef-very-secret-poesessid"


@pytest.fixture
def instance(database_url):
    # Dagster's own storage in the same PostgreSQL, as in production
    with _postgres_instance(database_url) as inst:
        yield inst


class _postgres_instance:
    def __init__(self, url: str) -> None:
        self.url = url

    def __enter__(self):
        from dagster._core.test_utils import instance_for_test

        self._cm = instance_for_test(overrides={"storage": {"postgres": {"postgres_url": psycopg2_url(self.url)}}})
        return self._cm.__enter__()

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def resources(database_url: str, sim_url: str, watchlist_path=None, **trade):
    warehouse = WarehouseResource(database_url=database_url)
    return {
        "warehouse": warehouse,
        "watchlist": WatchlistResource(path=str(watchlist_path) if watchlist_path else None),
        "trade_api": TradeApiResource(base_url=sim_url, limiter_pad_seconds=0.02,
                                      backoff_seconds=0.02, **trade),
    }


def exchange_requests(sim) -> int:
    return sum(1 for _, _, path in sim.app.state.request_log if "/exchange/" in path)


def raw_rows(url: str, hour=None):
    with psycopg.connect(url) as conn:
        return select_raw(conn, "item_id, status_code, response_body, request_body, rate_limit_headers, attempt",
                          "WHERE observed_hour = %s" if hour else "", (hour,) if hour else None)


def run(instance, database_url, sim, key, **kwargs):
    return materialize([raw_trade_responses], partition_key=key, instance=instance,
                       resources=resources(database_url, sim.url, **kwargs), raise_on_error=False)


def test_current_hour_is_stored_verbatim_for_every_watched_item(instance, database_url, start_sim):
    from trade_sim import exchange_response

    hour = floor_hour(utc_now())
    # the simulator serves this hour's market even if the clock turns the hour mid-test
    sim = start_sim(time_scale=0.01, fixed_hour=hour)
    result = run(instance, database_url, sim, partition_key(hour))
    assert result.success
    rows = raw_rows(database_url, hour)
    assert len(rows) == 22  # the 21 watched items and the divine book (divine paid in chaos)
    for item, status, body, request, headers, attempt in rows:
        assert status == 200 and attempt >= 1
        have = "chaos" if item == "divine" else "divine"
        assert request == {"engine": "new", "query": {"status": {"option": "online"}, "have": [have],
                                                       "want": [item]}, "sort": {"have": "asc"}}
        # the stored body is exactly what the server sent for that hour
        assert body == exchange_response(request, hour, league="Standard")
        assert "X-Rate-Limit-Ip" in headers or "x-rate-limit-ip" in {k.lower() for k in headers}
    metadata = result.asset_materializations_for_node("raw_trade_responses")[0].metadata
    assert metadata["items_fetched"].value == 21
    assert metadata["items_missing"].value == 0
    assert metadata["requests_made"].value >= 22
    assert metadata["divine_book"].value == "fetched"
    assert metadata["bytes_stored"].value > 0


def test_rerun_fetches_only_the_missing_items(instance, database_url, start_sim):
    sim = start_sim(time_scale=0.01)
    key = partition_key(utc_now())
    assert run(instance, database_url, sim, key).success
    before = exchange_requests(sim)
    with psycopg.connect(database_url) as conn:
        conn.execute("DELETE FROM warehouse.raw_trade_responses WHERE item_id IN "
                     "('deafening-essence-of-woe', 'primal-lifeforce')")
    result = run(instance, database_url, sim, key)
    assert result.success
    assert exchange_requests(sim) - before == 2
    assert len(raw_rows(database_url)) == 22
    # and a third run of the complete hour asks for nothing
    assert run(instance, database_url, sim, key).success
    assert exchange_requests(sim) - before == 2


def test_a_past_hour_that_is_missing_fails_with_the_explanation(instance, database_url, start_sim):
    sim = start_sim(time_scale=0.01)
    past = partition_key(utc_now() - timedelta(hours=5))
    result = run(instance, database_url, sim, past)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error.message
    assert f"raw partition {past} cannot be fetched now" in failure
    assert "backfill the derived assets" in failure
    assert exchange_requests(sim) == 0


def test_a_past_hour_that_is_stored_is_a_no_op(instance, database_url, start_sim):
    sim = start_sim(time_scale=0.01)
    hour = floor_hour(utc_now())
    assert run(instance, database_url, sim, partition_key(hour)).success
    past = hour - timedelta(hours=3)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE warehouse.raw_trade_responses SET observed_hour = %s", (past,))
    before = exchange_requests(sim)
    result = run(instance, database_url, sim, partition_key(past))
    assert result.success
    assert exchange_requests(sim) == before
    logs = [e.message for e in instance.all_logs(result.run_id)]
    assert any("already stored" in (m or "") for m in logs)


def test_injected_faults_are_retried_and_the_hour_completes(instance, database_url, start_sim):
    sim = start_sim(time_scale=0.01, error_5xx_rate=0.2, cloudflare_403_rate=0.1, truncated_json_rate=0.1)
    hour = floor_hour(utc_now())
    result = run(instance, database_url, sim, partition_key(hour), max_attempts=10)
    assert result.success
    rows = raw_rows(database_url, hour)
    assert len(rows) == 22
    assert all(isinstance(body, dict) and "result" in body for _, _, body, *_ in rows)
    statuses = [s for _, s, p in sim.app.state.request_log if "/exchange/" in p]
    assert any(s >= 500 for s in statuses) and any(s == 403 for s in statuses)
    assert max(attempt for *_, attempt in rows) > 1


def test_one_failing_item_never_loses_the_others(instance, database_url, start_sim, tmp_path):
    sim = start_sim(time_scale=0.01)
    watchlist = tmp_path / "wl.yaml"
    # PoE 2 ids are not checked against a catalogue, so a bad one reaches the server, which rejects it
    watchlist.write_text("game: poe2\npaid_with: divine\n"
                         "items: [deafening-essence-of-greed, no-such-item, primal-lifeforce]\n")
    hour = floor_hour(utc_now())
    result = run(instance, database_url, sim, partition_key(hour), watchlist_path=watchlist)
    assert result.success
    assert sorted(r[0] for r in raw_rows(database_url, hour)) == ["deafening-essence-of-greed", "divine",
                                                                     "primal-lifeforce"]
    metadata = result.asset_materializations_for_node("raw_trade_responses")[0].metadata
    assert "no-such-item" in metadata["missing_items"].value
    assert "rejected the query for 'no-such-item'" in metadata["missing_items"].value["no-such-item"]
    (check,) = result.get_asset_check_evaluations()
    assert check.passed is False


def test_a_secret_never_reaches_the_event_log_or_the_database(instance, database_url, start_sim):
    sim = start_sim(time_scale=0.01, error_5xx_rate=0.2)
    result = run(instance, database_url, sim, partition_key(utc_now()), poesessid=SECRET, cf_clearance=SECRET + "cf")
    assert result.success
    with psycopg.connect(database_url) as conn:
        tables = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE'"
        ).fetchall()
        assert any(name == "event_logs" for _, name in tables)  # Dagster's storage is in this database
        for schema, name in tables:
            hit = conn.execute(f'SELECT count(*) FROM "{schema}"."{name}" t WHERE t::text LIKE %s',
                               (f"%{SECRET[:20]}%",)).fetchone()[0]
            assert hit == 0, f"the secret appears in {schema}.{name}"
    # nor in Dagster's files (compute logs, artifacts)
    root = Path(instance.root_directory)
    for path in (p for p in root.rglob("*") if p.is_file()):
        assert SECRET[:20].encode() not in path.read_bytes(), f"the secret appears in {path}"
    assert all(SECRET[:20] not in (e.message or "") for e in instance.all_logs(result.run_id))
