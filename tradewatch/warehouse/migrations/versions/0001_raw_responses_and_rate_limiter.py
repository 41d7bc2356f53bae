"""Raw trade responses (bronze) and the shared rate-limiter state.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS warehouse")
    op.execute(
        """
        CREATE TABLE warehouse.raw_trade_responses (
            id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            game               text        NOT NULL CHECK (game IN ('poe1', 'poe2')),
            league             text        NOT NULL,
            observed_hour      timestamptz NOT NULL,
            item_id            text        NOT NULL,
            paid_with          text        NOT NULL,
            request_path       text        NOT NULL,
            request_body       jsonb       NOT NULL,
            status_code        integer     NOT NULL,
            response_body      jsonb       NOT NULL,
            rate_limit_headers jsonb       NOT NULL,
            fetched_at         timestamptz NOT NULL,
            duration_ms        double precision NOT NULL,
            attempt            integer     NOT NULL CHECK (attempt >= 1),
            response_bytes     integer     NOT NULL,
            simulated          boolean     NOT NULL DEFAULT false,
            -- raw partitions are immutable: one stored response per item and hour
            CONSTRAINT raw_one_response_per_item_hour
                UNIQUE (game, league, observed_hour, item_id, paid_with),
            CONSTRAINT raw_hour_is_whole
                CHECK (observed_hour = date_trunc('hour', observed_hour, 'UTC'))
        )
        """
    )
    op.execute("CREATE INDEX raw_trade_responses_hour ON warehouse.raw_trade_responses (observed_hour)")
    op.execute(
        """
        CREATE TABLE warehouse.rate_limit_state (
            limiter_key      text PRIMARY KEY,
            rules            jsonb       NOT NULL,
            restricted_until double precision,
            updated_at       timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE warehouse.rate_limit_hits (
            id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            limiter_key text             NOT NULL,
            scope       text             NOT NULL,
            at          double precision NOT NULL
        )
        """
    )
    op.execute("CREATE INDEX rate_limit_hits_key_at ON warehouse.rate_limit_hits (limiter_key, scope, at)")


def downgrade() -> None:
    op.execute("DROP TABLE warehouse.rate_limit_hits")
    op.execute("DROP TABLE warehouse.rate_limit_state")
    op.execute("DROP TABLE warehouse.raw_trade_responses")
