"""Where each profitability row's prices came from: `price_source` ('book' | 'exchange').

Hours with stored order books are priced from the books (`book`, every row before this
migration); hours of a window without any book but with Currency Exchange trades are priced
from the executed vwaps (`exchange`), so a backfill of the exchange history gives strategy
history for the same hours. `analytics.reroll_profitability` (0009) gains the column at its
end (CREATE OR REPLACE keeps the view's grants and existing workbooks' columns).

Revision ID: 0010
Revises: 0009
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _migration_0009():
    """0009's module: its view definition is the one this migration extends (one copy of the SQL)."""
    path = Path(__file__).with_name("0009_prices_in_chaos_and_divine.py")
    spec = importlib.util.spec_from_file_location("tradewatch_migration_0009", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _profitability_view(extra: str) -> str:
    m = _migration_0009()
    profits = ", ".join(m._in(f"r.{c}", cur) for c in ("expected_profit_per_unit", "break_even_reroll_cost")
                        for cur in ("chaos", "divine"))
    return f"""
        CREATE OR REPLACE VIEW analytics.reroll_profitability AS
        SELECT r.league, r.strategy, r.policy, r.observed_hour, r.input_item_id, r.input_unit_cost, r.reroll_cost,
               r.expected_rerolls, r.expected_sale_value, r.expected_profit_per_unit, r.expected_profit_total,
               r.roi, r.break_even_reroll_cost, d.chaos_per_divine, {profits}{extra}
        FROM warehouse.reroll_profitability r
        {m.DIVINE.format(t='r')}
        """


def upgrade() -> None:
    op.execute("ALTER TABLE warehouse.reroll_profitability ADD COLUMN price_source text NOT NULL DEFAULT 'book' "
               "CONSTRAINT reroll_profitability_price_source CHECK (price_source IN ('book', 'exchange'))")
    op.execute(_profitability_view(", r.price_source"))


def downgrade() -> None:
    # a view cannot lose a column with CREATE OR REPLACE: drop it, recreate 0009's, grant again
    op.execute("DROP VIEW analytics.reroll_profitability")
    op.execute(_profitability_view(""))
    op.execute("GRANT SELECT ON analytics.reroll_profitability TO tradewatch_reader, tradewatch_api")
    op.execute("ALTER TABLE warehouse.reroll_profitability DROP COLUMN price_source")
