"""Derived tables: hourly price snapshots (silver) and reroll profitability (gold).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE warehouse.price_snapshots (
            game             text        NOT NULL,
            league           text        NOT NULL,
            paid_with        text        NOT NULL,
            observed_hour    timestamptz NOT NULL,
            item_id          text        NOT NULL,
            observed_at      timestamptz NOT NULL,  -- when the raw response was fetched
            listing_count    integer     NOT NULL,
            total_stock      bigint      NOT NULL,
            min_price        double precision,
            robust_min_price double precision,
            target_quantity  integer     NOT NULL,
            bought           integer     NOT NULL,
            spent            double precision NOT NULL,
            avg_price        double precision,
            book             jsonb       NOT NULL,  -- [[unit_price, item_amount, stock], ...] cheapest first
            simulated        boolean     NOT NULL DEFAULT false,
            raw_response_id  bigint      NOT NULL,
            computed_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (game, league, paid_with, observed_hour, item_id)
        )
        """
    )
    op.execute("CREATE INDEX price_snapshots_item_hour ON warehouse.price_snapshots (item_id, observed_hour)")
    op.execute("CREATE INDEX price_snapshots_hour ON warehouse.price_snapshots (observed_hour)")
    op.execute(
        """
        CREATE TABLE warehouse.reroll_profitability (
            game                     text        NOT NULL,
            league                   text        NOT NULL,
            paid_with                text        NOT NULL,
            strategy                 text        NOT NULL,
            policy                   text        NOT NULL CHECK (policy IN ('top_k', 'optimal')),
            observed_hour            timestamptz NOT NULL,
            input_item_id            text        NOT NULL,
            input_unit_cost          double precision NOT NULL,
            quantity                 integer     NOT NULL,
            reroll_cost              double precision NOT NULL,
            expected_rerolls         double precision NOT NULL,
            expected_sale_value      double precision NOT NULL,
            expected_profit_per_unit double precision NOT NULL,
            expected_profit_total    double precision NOT NULL,
            roi                      double precision,
            break_even_reroll_cost   double precision,
            stop_set                 text[]      NOT NULL,
            simulated                boolean     NOT NULL DEFAULT false,
            computed_at              timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (game, league, paid_with, strategy, policy, observed_hour)
        )
        """
    )
    op.execute("CREATE INDEX reroll_profitability_hour ON warehouse.reroll_profitability (observed_hour)")


def downgrade() -> None:
    op.execute("DROP TABLE warehouse.reroll_profitability")
    op.execute("DROP TABLE warehouse.price_snapshots")
