"""Dagster's instance storage for TradeWatch: dagster-postgres, with planned asset checks stored in one statement.

`dagster.yaml` names `TradeWatchPostgresStorage` (`storage: custom`): the same three PostgreSQL
storages, tables and configuration as `storage: postgres` (it *is* a `DagsterPostgresStorage`),
but its event log stores the "check planned" rows of a partition range cheaply.

Why: a run over a range of partitions plans every asset check once per partition. Dagster
writes one `asset_check_executions` row per check and partition, serializing the same planned
event again for each row and compiling one multi-row INSERT of them all: for a year of hours and
three checks that is 26,280 serializations and bind parameters, about 9 s before the run even
starts. Here the event is serialized once and PostgreSQL expands the partition keys
(`unnest`), so the rows written are the same and a year's plan takes a fraction of a second.

It also creates the tables one process at a time (a PostgreSQL advisory lock held while the
three storages check and create them): processes that start together on a fresh database (the
webserver and the daemon of a new deployment, two `tradewatch exchange backfill --local` at once)
otherwise race to create the same tables, and dagster-postgres retries only once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

import sqlalchemy as db
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.config import PostgresStorageConfig
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage, PostgresEventLogStorage
from dagster_postgres.run_storage import PostgresRunStorage
from dagster_postgres.schedule_storage import PostgresScheduleStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from dagster_shared.serdes import serialize_value

__all__ = ["TradeWatchEventLogStorage", "TradeWatchPostgresStorage"]

_MODULE = __name__


class TradeWatchEventLogStorage(PostgresEventLogStorage):
    """`PostgresEventLogStorage` whose planned check rows of many partitions cost one statement."""

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,
                          config_value: Mapping[str, Any]) -> TradeWatchEventLogStorage:
        return cls(inst_data=inst_data, postgres_url=pg_url_from_config(config_value),
                   should_autocreate_tables=config_value.get("should_autocreate_tables", True),
                   token_provider=get_token_provider_from_config(config_value))

    def _store_asset_check_evaluation_planned(self, event, event_id: int | None) -> None:
        planned = event.dagster_event.event_specific_data
        if planned.partitions_subset is None:  # one row: Dagster's own way is as cheap
            super()._store_asset_check_evaluation_planned(event, event_id)
            return
        keys = list(planned.partitions_subset.get_partition_keys())
        if not keys:
            return
        table = AssetCheckExecutionsTable
        # the columns Dagster writes for each partition, every value the same but the partition
        values = {
            "asset_key": planned.asset_key.to_string(),
            "check_name": planned.check_name,
            "run_id": event.run_id,
            "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
            "evaluation_event": serialize_value(event),
            "evaluation_event_timestamp": self._event_insert_timestamp(event),
            "evaluation_event_storage_id": event_id,
        }
        partition = db.func.unnest(db.bindparam("partitions", keys, type_=db.ARRAY(db.Text))).alias("p")
        columns = [db.bindparam(name, value, type_=table.c[name].type) for name, value in values.items()]
        select = db.select(*columns, db.column("p", db.Text)).select_from(partition)
        with self.index_connection() as conn:
            conn.execute(table.insert().from_select([*values, "partition"], select))


# any constant: the lock's name in pg_locks
_CREATION_LOCK = 0x7477_6461_6773  # "twdags"


@contextmanager
def _one_creator(postgres_url: str, creating: bool) -> Iterator[None]:
    """Hold a session-level advisory lock of the database while the storages check and create their tables."""
    if not creating:
        yield
        return
    engine = db.create_engine(postgres_url, poolclass=db.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(db.text("SELECT pg_advisory_lock(:key)"), {"key": _CREATION_LOCK})
            try:
                yield
            finally:
                conn.execute(db.text("SELECT pg_advisory_unlock(:key)"), {"key": _CREATION_LOCK})
    finally:
        engine.dispose()


class TradeWatchPostgresStorage(DagsterPostgresStorage):
    """`DagsterPostgresStorage` with `TradeWatchEventLogStorage` as its event log (same configuration)."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None) -> None:
        # DagsterPostgresStorage.__init__ would build a second event log storage (and its engine)
        self.postgres_url = postgres_url
        self.should_autocreate_tables = should_autocreate_tables
        self._inst_data = inst_data
        with _one_creator(postgres_url, should_autocreate_tables and token_provider is None):
            self._run_storage = PostgresRunStorage(postgres_url, should_autocreate_tables,
                                                   token_provider=token_provider)
            self._event_log_storage = TradeWatchEventLogStorage(postgres_url, should_autocreate_tables,
                                                                token_provider=token_provider)
            self._schedule_storage = PostgresScheduleStorage(postgres_url, should_autocreate_tables,
                                                             token_provider=token_provider)
        DagsterStorage.__init__(self)

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None,  # ty: ignore[invalid-method-override]
                          config_value: PostgresStorageConfig) -> TradeWatchPostgresStorage:
        config = cast("Mapping[str, Any]", config_value)
        return cls(inst_data=inst_data, postgres_url=pg_url_from_config(config),
                   should_autocreate_tables=config.get("should_autocreate_tables", True),
                   token_provider=get_token_provider_from_config(config))

    @property
    def event_storage_data(self) -> ConfigurableClassData | None:
        return ConfigurableClassData(_MODULE, "TradeWatchEventLogStorage", self.inst_data.config_yaml) \
            if self.inst_data else None
