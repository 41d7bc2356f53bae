"""The read-only role of the GraphQL API: `tradewatch_api`.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

API = "tradewatch_api"
SERVED_TABLES = ("raw_trade_responses", "price_snapshots", "reroll_profitability", "items")


def upgrade() -> None:
    # roles are cluster-wide: another database on the same server may have created it
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{API}') THEN
                CREATE ROLE {API} NOLOGIN;
            END IF;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA warehouse, analytics TO {API}")
    for table in SERVED_TABLES:
        op.execute(f"GRANT SELECT ON warehouse.{table} TO {API}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {API}")
    op.execute(f"ALTER ROLE {API} SET default_transaction_read_only = on")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA analytics FROM {API}")
    for table in SERVED_TABLES:
        op.execute(f"REVOKE ALL ON warehouse.{table} FROM {API}")
    op.execute(f"REVOKE ALL ON SCHEMA warehouse, analytics FROM {API}")
