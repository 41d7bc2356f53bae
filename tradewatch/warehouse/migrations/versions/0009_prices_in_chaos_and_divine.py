"""Every price of the Tableau views in chaos and in divine.

`analytics.price_history` and `analytics.reroll_profitability` keep their columns (in the
watchlist's currency, `paid_with`) and gain `chaos_per_divine` (the league-hour's divine price
in chaos: the Currency Exchange's executed chaos|divine vwap) and each price as `<column>_chaos`
and `<column>_divine`, null where that hour has no divine price (and the currency is not
already the one asked for). Columns are appended, so existing workbooks keep working.

Needs the Currency Exchange prices (0007) and follows the alerts (0008); the lead relinks.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DIVINE = ("LEFT JOIN analytics.exchange_divine_price d ON d.realm = CASE WHEN {t}.game = 'poe2' THEN 'poe2' "
          "ELSE 'pc' END AND d.league = {t}.league AND d.observed_hour = {t}.observed_hour")


def _in(column: str, currency: str) -> str:
    """`column` (in the row's paid_with) in `currency`, with the hour's divine price `d.chaos_per_divine`."""
    other = "d.chaos_per_divine" if currency == "chaos" else "(1 / d.chaos_per_divine)"
    source = "divine" if currency == "chaos" else "chaos"
    return (f"CASE WHEN {column.split('.')[0]}.paid_with = '{currency}' THEN {column} "
            f"WHEN {column.split('.')[0]}.paid_with = '{source}' THEN {column} * {other} END "
            f"AS {column.split('.')[1]}_{currency}")


def upgrade() -> None:
    prices = ", ".join(_in(f"s.{c}", cur) for c in ("min_price", "robust_min_price", "avg_price")
                       for cur in ("chaos", "divine"))
    op.execute(
        f"""
        CREATE OR REPLACE VIEW analytics.price_history AS
        SELECT s.league, s.game, s.item_id,
               COALESCE(i.item_name, initcap(replace(s.item_id, '-', ' '))) AS item_name,
               s.observed_hour, s.observed_at, s.paid_with, s.min_price, s.robust_min_price,
               s.listing_count, s.total_stock, s.target_quantity, s.bought, s.spent, s.avg_price,
               d.chaos_per_divine, {prices}
        FROM warehouse.price_snapshots s
        LEFT JOIN warehouse.items i ON i.game = s.game AND i.item_id = s.item_id
        {DIVINE.format(t='s')}
        """
    )
    profits = ", ".join(_in(f"r.{c}", cur) for c in ("expected_profit_per_unit", "break_even_reroll_cost")
                        for cur in ("chaos", "divine"))
    op.execute(
        f"""
        CREATE OR REPLACE VIEW analytics.reroll_profitability AS
        SELECT r.league, r.strategy, r.policy, r.observed_hour, r.input_item_id, r.input_unit_cost, r.reroll_cost,
               r.expected_rerolls, r.expected_sale_value, r.expected_profit_per_unit, r.expected_profit_total,
               r.roi, r.break_even_reroll_cost, d.chaos_per_divine, {profits}
        FROM warehouse.reroll_profitability r
        {DIVINE.format(t='r')}
        """
    )


def downgrade() -> None:
    # a view cannot lose columns with CREATE OR REPLACE: recreate 0003's (the grants go with the drop)
    op.execute("DROP VIEW analytics.reroll_profitability")
    op.execute("DROP VIEW analytics.price_history")
    op.execute(
        """
        CREATE VIEW analytics.price_history AS
        SELECT s.league, s.game, s.item_id,
               COALESCE(i.item_name, initcap(replace(s.item_id, '-', ' '))) AS item_name,
               s.observed_hour, s.observed_at, s.paid_with, s.min_price, s.robust_min_price,
               s.listing_count, s.total_stock, s.target_quantity, s.bought, s.spent, s.avg_price
        FROM warehouse.price_snapshots s
        LEFT JOIN warehouse.items i ON i.game = s.game AND i.item_id = s.item_id
        """
    )
    op.execute(
        """
        CREATE VIEW analytics.reroll_profitability AS
        SELECT league, strategy, policy, observed_hour, input_item_id, input_unit_cost, reroll_cost,
               expected_rerolls, expected_sale_value, expected_profit_per_unit, expected_profit_total,
               roi, break_even_reroll_cost
        FROM warehouse.reroll_profitability
        """
    )
    op.execute("GRANT SELECT ON analytics.price_history, analytics.reroll_profitability "
               "TO tradewatch_reader, tradewatch_api")
