"""Per-market totals for item pages (`marketItem`), kept by the `exchange_market_hourly` asset.

* `warehouse.market_pairs`: per realm, item, league and quote currency (a market, a pair), the
  totals over every stored hour of `warehouse.exchange_prices`: hours stored, units and quote
  units traded (exact `numeric` sums, so adding an hour equals a rebuild), first and last stored
  hour, first and last hour with a trade. Keyed item first: an item page reads its few rows
  instead of every hour of every market of the item (~6,500 rows for a month of 9 leagues).
  Fillfactor 50: an hourly run updates ~1,300 of them in place (HOT; a full page moves each row
  and adds an index entry: ~4x slower).
* `warehouse.market_pairs_hours`: per realm, the hours whose exchange-price rows the totals count
  (those with rows). A run over hours none of which is counted adds them (the hour after the
  last, or one that had no rows: a document stored late); a run over a counted hour (a re-run, a
  backfill of stored hours) sums the realm's counted hours anew: its old rows are gone.

Filled here from the hours the hourly market rollup already holds.

Revision ID: 0020
Revises: 0018
"""

from alembic import op

revision = "0020"
down_revision = "0018"
branch_labels = None
depends_on = None

API = "tradewatch_api"
REALMS = "('pc', 'poe2', 'xbox', 'sony')"
CHAOS_KEY = 4699871746869261772  # item_storage_key(CHAOS_PATH): the unit, not an item (as market_hourly)


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE warehouse.market_pairs (
            realm          text        NOT NULL CHECK (realm IN {REALMS}),
            item_key       bigint      NOT NULL,
            league         text        NOT NULL,
            quote_currency text        NOT NULL CHECK (quote_currency IN ('chaos', 'divine')),
            hours          integer     NOT NULL,
            volume         numeric     NOT NULL,
            quote_volume   numeric     NOT NULL,
            first_hour     timestamptz NOT NULL,
            last_hour      timestamptz NOT NULL,
            traded_first   timestamptz,
            traded_last    timestamptz,
            PRIMARY KEY (realm, item_key, league, quote_currency)
        ) WITH (fillfactor = 50)
        """
    )
    op.execute(
        f"""
        CREATE TABLE warehouse.market_pairs_hours (
            realm         text        NOT NULL CHECK (realm IN {REALMS}),
            observed_hour timestamptz NOT NULL,
            PRIMARY KEY (realm, observed_hour)
        )
        """
    )
    op.execute(
        f"""
        WITH s AS (SELECT realm, max(observed_hour) AS last_hour FROM warehouse.market_hourly GROUP BY realm),
        h AS (INSERT INTO warehouse.market_pairs_hours
              SELECT DISTINCT p.realm, p.observed_hour
              FROM warehouse.exchange_prices p JOIN s ON s.realm = p.realm AND p.observed_hour <= s.last_hour
              WHERE p.item_key <> {CHAOS_KEY})
        INSERT INTO warehouse.market_pairs
        SELECT p.realm, p.item_key, p.league, p.quote_currency, count(*), sum(p.volume::numeric),
               sum(p.quote_volume::numeric), min(p.observed_hour), max(p.observed_hour),
               min(p.observed_hour) FILTER (WHERE p.volume > 0), max(p.observed_hour) FILTER (WHERE p.volume > 0)
        FROM warehouse.exchange_prices p JOIN s ON s.realm = p.realm AND p.observed_hour <= s.last_hour
        WHERE p.item_key <> {CHAOS_KEY}
        GROUP BY 1, 2, 3, 4
        """
    )
    op.execute(f"GRANT SELECT ON warehouse.market_pairs, warehouse.market_pairs_hours TO {API}")


def downgrade() -> None:
    op.execute("DROP TABLE warehouse.market_pairs_hours")
    op.execute("DROP TABLE warehouse.market_pairs")
