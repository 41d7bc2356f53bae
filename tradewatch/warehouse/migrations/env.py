"""Alembic environment: runs the migrations online, one process at a time."""

from alembic import context
from sqlalchemy import create_engine, text

config = context.config
MIGRATION_LOCK = 727_274_001  # any constant; the advisory lock serialises concurrent upgrades

connectable = config.attributes.get("connection")
engine = None
if connectable is None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    connectable = engine.connect()

try:
    with connectable.begin():
        connectable.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK})
        context.configure(connection=connectable, version_table_schema="public",
                          version_table="tradewatch_schema_version", transactional_ddl=True)
        context.run_migrations()
finally:
    if engine is not None:
        connectable.close()
        engine.dispose()
