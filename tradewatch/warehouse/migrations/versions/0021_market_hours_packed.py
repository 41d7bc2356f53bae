"""The market's hourly rollup packed: one row per realm, hour and league instead of one per item.

* `warehouse.market_hours`: per realm, hour and league, the items that traded (`item_keys`, sorted)
  and, at the same positions, what `warehouse.market_hourly` held per item: units traded, the chaos
  and divine units and values counted in the prices, and the markets. An hour of a realm is a
  handful of rows (one per league) instead of ~1,200: writing it costs a few row inserts instead of
  ~1,200 index insertions (measured: the hourly rollup was 60 % of a 5,000-hour backfill's derived
  phase), and it takes ~65 bytes an item-hour on disk instead of ~190 (a row per item carried its
  realm, league and hour, and two indexes). The arrays are stored uncompressed (`EXTERNAL`):
  floats hardly compress and pglz would cost CPU on every write.
* `warehouse.market_hourly` becomes a view of it with the same columns and rows (`unnest`), so its
  readers (dumps, the Dagster history, Tableau) read what they read before; the rollup's own
  statements and `marketItem` read the packed rows. Filters on realm, league and hour reach the
  table's primary key.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

API = "tradewatch_api"
REALMS = "('pc', 'poe2', 'xbox', 'sony')"
ARRAYS = ("volume", "chaos_units", "chaos_value", "divine_units", "divine_value", "markets")

VIEW = """
CREATE VIEW warehouse.market_hourly AS
SELECT h.realm, u.item_key, h.league, h.observed_hour, u.volume, u.chaos_units, u.chaos_value, u.divine_units,
       u.divine_value, u.markets
FROM warehouse.market_hours h
CROSS JOIN LATERAL unnest(h.item_keys, h.volume, h.chaos_units, h.chaos_value, h.divine_units, h.divine_value,
                          h.markets) AS u(item_key, volume, chaos_units, chaos_value, divine_units, divine_value, markets)
"""


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE warehouse.market_hours (
            realm         text        NOT NULL CHECK (realm IN {REALMS}),
            observed_hour timestamptz NOT NULL,
            league        text        NOT NULL,
            item_keys     bigint[]    NOT NULL,
            volume        double precision[] NOT NULL,
            chaos_units   double precision[] NOT NULL,
            chaos_value   double precision[] NOT NULL,
            divine_units  double precision[] NOT NULL,
            divine_value  double precision[] NOT NULL,
            markets       smallint[]  NOT NULL,
            PRIMARY KEY (realm, observed_hour, league),
            CHECK (cardinality(item_keys) > 0
                   AND {' AND '.join(f'cardinality({a}) = cardinality(item_keys)' for a in ARRAYS)})
        )
        """
    )
    op.execute("ALTER TABLE warehouse.market_hours "
               + ", ".join(f"ALTER COLUMN {c} SET STORAGE EXTERNAL" for c in ("item_keys", *ARRAYS)))
    op.execute(
        f"""
        INSERT INTO warehouse.market_hours
        SELECT realm, observed_hour, league, array_agg(item_key ORDER BY item_key),
               {', '.join(f'array_agg({a} ORDER BY item_key)' for a in ARRAYS)}
        FROM warehouse.market_hourly GROUP BY realm, observed_hour, league
        """
    )
    op.execute("DROP TABLE warehouse.market_hourly")
    op.execute(VIEW)
    op.execute(f"GRANT SELECT ON warehouse.market_hours, warehouse.market_hourly TO {API}")


def downgrade() -> None:
    op.execute("ALTER VIEW warehouse.market_hourly RENAME TO market_hourly_packed")
    op.execute(
        f"""
        CREATE TABLE warehouse.market_hourly (
            realm         text        NOT NULL CHECK (realm IN {REALMS}),
            item_key      bigint      NOT NULL,
            league        text        NOT NULL,
            observed_hour timestamptz NOT NULL,
            volume        double precision NOT NULL,
            chaos_units   double precision NOT NULL,
            chaos_value   double precision NOT NULL,
            divine_units  double precision NOT NULL,
            divine_value  double precision NOT NULL,
            markets       smallint    NOT NULL,
            PRIMARY KEY (realm, item_key, league, observed_hour)
        )
        """
    )
    op.execute("INSERT INTO warehouse.market_hourly SELECT * FROM warehouse.market_hourly_packed")
    op.execute("CREATE INDEX market_hourly_hour ON warehouse.market_hourly (realm, observed_hour)")
    op.execute("DROP VIEW warehouse.market_hourly_packed")
    op.execute("DROP TABLE warehouse.market_hours")
    op.execute(f"GRANT SELECT ON warehouse.market_hourly TO {API}")
