"""The market overview kept current incrementally: per-window sums and a state that says they are valid.

* `warehouse.market_windows`: per realm, league and item, the sums the overview's figures come
  from, one array entry per window (W0 … W7 relative to `market_state.hour`): units traded, hours
  traded, and per unit (chaos, divine) the units and value counted in its price. One row per item
  (an hourly step touches nearly every window of every active item: one row update each, not
  eight). `numeric`, so that adding the hour entering a window and subtracting the one leaving it
  is exact: the table after any number of hourly steps equals the one a full rebuild sums (float
  sums would drift, and a window whose hours all left would keep a residue that reads as a
  price). Only items that traded in one of the eight windows.
* `warehouse.market_state.windows_valid`: false when an hourly rollup rewrote an hour the windows
  already counted (a re-run or a backfill of the last 192 hours); the next latest run then
  rebuilds the windows in full instead of stepping them.
* `warehouse.market_latest.hour` is dropped: the hour is `market_state.hour` (one row per realm), so
  an hourly step rewrites only the rows whose figures changed, not every row.
* Both tables get fillfactor 50: a step updates its rows in place (HOT updates on the same page), so
  the rows of a league stay where a rebuild wrote them, together, and `market` reads a few pages.

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

API = "tradewatch_api"
REALMS = "('pc', 'poe2', 'xbox', 'sony')"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE warehouse.market_windows (
            realm        text      NOT NULL CHECK (realm IN {REALMS}),
            league       text      NOT NULL,
            item_key     bigint    NOT NULL,
            volume       numeric[] NOT NULL CHECK (cardinality(volume) = 8),
            hours        integer[] NOT NULL CHECK (cardinality(hours) = 8),
            chaos_units  numeric[] NOT NULL CHECK (cardinality(chaos_units) = 8),
            chaos_value  numeric[] NOT NULL CHECK (cardinality(chaos_value) = 8),
            divine_units numeric[] NOT NULL CHECK (cardinality(divine_units) = 8),
            divine_value numeric[] NOT NULL CHECK (cardinality(divine_value) = 8),
            PRIMARY KEY (realm, league, item_key)
        ) WITH (fillfactor = 50)
        """
    )
    op.execute("ALTER TABLE warehouse.market_state ADD COLUMN windows_valid boolean NOT NULL DEFAULT false")
    op.execute("ALTER TABLE warehouse.market_latest DROP COLUMN hour")
    op.execute("ALTER TABLE warehouse.market_latest SET (fillfactor = 50)")
    op.execute(f"GRANT SELECT ON warehouse.market_windows TO {API}")


def downgrade() -> None:
    op.execute("ALTER TABLE warehouse.market_latest RESET (fillfactor)")
    op.execute("ALTER TABLE warehouse.market_latest ADD COLUMN hour timestamptz")
    op.execute("UPDATE warehouse.market_latest m SET hour = s.hour FROM warehouse.market_state s "
               "WHERE s.realm = m.realm")
    op.execute("DELETE FROM warehouse.market_latest WHERE hour IS NULL")
    op.execute("ALTER TABLE warehouse.market_latest ALTER COLUMN hour SET NOT NULL")
    op.execute("ALTER TABLE warehouse.market_state DROP COLUMN windows_valid")
    op.execute("DROP TABLE warehouse.market_windows")
