"""Per-market totals for item pages (`marketItem`), kept by the `exchange_market_hourly` asset.

* `warehouse.market_pairs`: per realm, item, league and quote currency (a market, a pair), the
  totals over every stored hour of `warehouse.exchange_prices`: hours stored, units and quote
  units traded (exact `numeric` sums, so adding an hour equals a rebuild), first and last stored
  hour, first and last hour with a trade. Keyed item first: an item page reads its few rows
  instead of every hour of every market of the item (~6,500 rows for a month of 9 leagues).
  Fillfactor 50: an hourly run updates ~1,300 of them in place (HOT; a full page moves each row
  and adds an index entry: ~4x slower).
* `warehouse.market_pairs_state`: per realm, the hour the totals cover up to (excluded): they
  equal the exchange-price rows before it. An hourly run after it adds its hours; a run of hours
  before it (a re-run, a backfill) rebuilds the realm's totals.

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
        CREATE TABLE warehouse.market_pairs_state (
            realm      text        PRIMARY KEY CHECK (realm IN {REALMS}),
            covered_to timestamptz NOT NULL
        )
        """
    )
    op.execute(
        f"""
        WITH s AS (SELECT realm, max(observed_hour) + interval '1 hour' AS covered_to
                   FROM warehouse.market_hourly GROUP BY realm),
        i AS (INSERT INTO warehouse.market_pairs
              SELECT p.realm, p.item_key, p.league, p.quote_currency, count(*), sum(p.volume::numeric),
                     sum(p.quote_volume::numeric), min(p.observed_hour), max(p.observed_hour),
                     min(p.observed_hour) FILTER (WHERE p.volume > 0), max(p.observed_hour) FILTER (WHERE p.volume > 0)
              FROM warehouse.exchange_prices p JOIN s ON s.realm = p.realm AND p.observed_hour < s.covered_to
              WHERE p.item_key <> {CHAOS_KEY}
              GROUP BY 1, 2, 3, 4)
        INSERT INTO warehouse.market_pairs_state SELECT realm, covered_to FROM s
        """
    )
    op.execute(f"GRANT SELECT ON warehouse.market_pairs, warehouse.market_pairs_state TO {API}")


def downgrade() -> None:
    op.execute("DROP TABLE warehouse.market_pairs_state")
    op.execute("DROP TABLE warehouse.market_pairs")
