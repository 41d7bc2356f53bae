"""The read-only roles cannot create large objects either.

PostgreSQL lets every role call `lo_create`, `lo_creat`, `lo_from_bytea` and `lo_import`,
even inside a read-only transaction: that was the one way `tradewatch_reader` (Tableau)
and `tradewatch_api` (GraphQL) could still persist something in the database (found by
tests/reliability/test_security.py). TradeWatch uses no large objects, so executing
those functions is revoked from PUBLIC in this database (function privileges are per
database); the owner and superusers keep them.

The functions belong to the bootstrap superuser, so only a superuser can revoke this;
migrating as another role skips the step with a warning instead of failing.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LARGE_OBJECT_WRITERS = ("lo_create(oid)", "lo_creat(integer)", "lo_from_bytea(oid, bytea)",
                        "lo_import(text)", "lo_import(text, oid)")


def _if_superuser(statement: str) -> str:
    return f"""
        DO $$
        BEGIN
            IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                {statement};
            ELSE
                RAISE WARNING 'not a superuser: large objects stay creatable by every role (run the '
                              'TradeWatch migrations as a superuser to revoke that)';
            END IF;
        END
        $$
    """


def upgrade() -> None:
    op.execute(_if_superuser(f"REVOKE EXECUTE ON FUNCTION {', '.join(LARGE_OBJECT_WRITERS)} FROM PUBLIC"))


def downgrade() -> None:
    op.execute(_if_superuser(f"GRANT EXECUTE ON FUNCTION {', '.join(LARGE_OBJECT_WRITERS)} TO PUBLIC"))
