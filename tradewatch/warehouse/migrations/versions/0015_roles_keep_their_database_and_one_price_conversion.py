"""The read-only roles keep CONNECT on the warehouse's own database; one chaos↔divine conversion.

* **Roles.** Before this revision, 0006 revoked CONNECT on the maintenance databases
  (`postgres`, `template1`) from the read-only roles, also when the warehouse *is* `postgres`
  (the default database of most servers): `tradewatch_reader` and `tradewatch_api` were then
  refused ("permission denied for database postgres"). 0006 now leaves the warehouse's own
  database alone; this revision grants CONNECT on it back to both roles for warehouses
  migrated before (a superuser or the database's owner can; anyone else gets a WARNING).
  `template1` stays closed to them.
* **One conversion.** `analytics.convert_price(value, from_currency, to_currency,
  chaos_per_divine)`: `value` in `from_currency` expressed in `to_currency` (chaos or divine)
  with a league-hour's divine price in chaos. The same value where both currencies are the
  same; null where the rate is missing, zero, negative, NaN or infinite, and for any other
  currency (a view cannot refuse a row; the API and the notebooks refuse such a currency before
  they ask). `tradewatch.market.currency.convert` is its Python twin, and a test holds them
  equal. `analytics.price_history` and `analytics.reroll_profitability` compute their `_chaos`
  / `_divine` columns with it (same columns, same order: workbooks keep working), the API's
  `currency` argument and `tradewatch.frames` read through it. It is a plain SQL expression
  (IMMUTABLE, not STRICT), so PostgreSQL inlines it into each statement: no call overhead.
  It lives in `analytics`, the schema both read-only roles may use; EXECUTE stays with PUBLIC
  (a pure function reveals nothing) and is granted to both roles by name as well, so it
  survives a DBA's `ALTER DEFAULT PRIVILEGES ... REVOKE EXECUTE`.

Revision ID: 0015
Revises: 0014
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

ROLES = ("tradewatch_reader", "tradewatch_api")
MAINTENANCE_DATABASES = ("postgres", "template1")

CONVERT_PRICE = """
    CREATE OR REPLACE FUNCTION analytics.convert_price(value double precision, from_currency text,
                                                       to_currency text, chaos_per_divine double precision)
    RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$
        SELECT CASE
            WHEN from_currency = to_currency THEN value
            -- NaN compares greater than every number in PostgreSQL: `< 'Infinity'` turns it away too
            WHEN chaos_per_divine IS NULL
                 OR NOT (chaos_per_divine > 0 AND chaos_per_divine < 'Infinity'::double precision) THEN NULL
            WHEN from_currency = 'divine' AND to_currency = 'chaos' THEN value * chaos_per_divine
            WHEN from_currency = 'chaos' AND to_currency = 'divine' THEN value / chaos_per_divine
        END
    $$
"""


def _migration(name: str):
    """An earlier revision's module: its view definitions are the ones this one rewrites."""
    path = Path(__file__).with_name(name)
    spec = importlib.util.spec_from_file_location(f"tradewatch_migration_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _converted(column: str, currency: str) -> str:
    """`t.column` (in the row's `paid_with`) in `currency`, with the hour's divine price `d.chaos_per_divine`."""
    table, name = column.split(".")
    return (f"analytics.convert_price({column}, {table}.paid_with, '{currency}', d.chaos_per_divine) "
            f"AS {name}_{currency}")


def _price_history(convert) -> str:
    divine = _migration("0009_prices_in_chaos_and_divine.py").DIVINE
    prices = ", ".join(convert(f"s.{c}", cur) for c in ("min_price", "robust_min_price", "avg_price")
                       for cur in ("chaos", "divine"))
    return f"""
        CREATE OR REPLACE VIEW analytics.price_history AS
        SELECT s.league, s.game, s.item_id,
               COALESCE(i.item_name, initcap(replace(s.item_id, '-', ' '))) AS item_name,
               s.observed_hour, s.observed_at, s.paid_with, s.min_price, s.robust_min_price,
               s.listing_count, s.total_stock, s.target_quantity, s.bought, s.spent, s.avg_price,
               d.chaos_per_divine, {prices}
        FROM warehouse.price_snapshots s
        LEFT JOIN warehouse.items i ON i.game = s.game AND i.item_id = s.item_id
        {divine.format(t='s')}
        """


def _reroll_profitability() -> str:
    divine = _migration("0009_prices_in_chaos_and_divine.py").DIVINE
    profits = ", ".join(_converted(f"r.{c}", cur) for c in ("expected_profit_per_unit", "break_even_reroll_cost")
                        for cur in ("chaos", "divine"))
    return f"""
        CREATE OR REPLACE VIEW analytics.reroll_profitability AS
        SELECT r.league, r.strategy, r.policy, r.observed_hour, r.input_item_id, r.input_unit_cost, r.reroll_cost,
               r.expected_rerolls, r.expected_sale_value, r.expected_profit_per_unit, r.expected_profit_total,
               r.roi, r.break_even_reroll_cost, d.chaos_per_divine, {profits}, r.price_source
        FROM warehouse.reroll_profitability r
        {divine.format(t='r')}
        """


def _connect_on_own_database() -> str:
    roles = ", ".join(ROLES)
    maintenance = ", ".join(f"'{name}'" for name in MAINTENANCE_DATABASES)
    return f"""
        DO $$
        DECLARE
            is_super boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
            is_owner boolean := pg_has_role(current_user,
                (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE');
        BEGIN
            IF current_database() NOT IN ({maintenance}) THEN
                RETURN;  -- 0006 never touched CONNECT on it
            END IF;
            IF is_super OR is_owner THEN
                EXECUTE format('GRANT CONNECT ON DATABASE %I TO {roles}', current_database());
            ELSE
                RAISE WARNING 'not a superuser nor the owner of database %: {roles} may still be refused CONNECT '
                              'on it (run the TradeWatch migrations as its owner, or GRANT CONNECT ON DATABASE % '
                              'TO {roles})', current_database(), current_database();
            END IF;
        END
        $$
    """


def upgrade() -> None:
    op.execute(_connect_on_own_database())
    op.execute(CONVERT_PRICE)
    op.execute(f"GRANT EXECUTE ON FUNCTION analytics.convert_price(double precision, text, text, double precision) "
               f"TO {', '.join(ROLES)}")
    op.execute(_price_history(_converted))
    op.execute(_reroll_profitability())


def downgrade() -> None:
    # the views of 0009/0010 again (CREATE OR REPLACE keeps their grants), then the function can go;
    # CONNECT on the warehouse's own database stays: taking it away was the bug
    m0009 = _migration("0009_prices_in_chaos_and_divine.py")
    op.execute(_price_history(m0009._in))
    op.execute(_migration("0010_profitability_price_source.py")._profitability_view(", r.price_source"))
    op.execute("DROP FUNCTION analytics.convert_price(double precision, text, text, double precision)")
