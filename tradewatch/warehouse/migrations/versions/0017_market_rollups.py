"""The market overview's rollups, kept by the `exchange_market_hourly` and `exchange_market_latest` assets.

* `warehouse.market_hourly`: per realm, item, league and hour, what the item traded on the
  Currency Exchange against chaos and divine: units (every market), and per unit (chaos,
  divine) the value (each market's quote volume converted with that league-hour's chaos/divine
  rate, `analytics.exchange_divine_price`, the rate `divinePrice` uses) and the units of the
  markets counted in it (a market in an hour without a rate is left out of those). Only hours
  in which the item traded. Keyed item first: an item page reads every league of one item.
* `warehouse.market_latest`: per realm, league and item, the overview's figures for the
  newest stored hour (W0 = the 24 hours ending with it … W7): price, changes, value,
  sparkline in chaos and in divine, volume, hours traded, the confidence flag.
* `warehouse.market_state`: per realm, the hour `market_latest` was built for.
* `warehouse.market_leagues`: per realm and league, the first and last hour anything traded
  (league age for `exchangePrices(alignBy: LEAGUE_DAY)`, without scanning a league's history).

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

API = "tradewatch_api"
REALMS = "('pc', 'poe2', 'xbox', 'sony')"


def upgrade() -> None:
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
    # the writers replace a window of hours; the latest table reads the newest 192 hours
    op.execute("CREATE INDEX market_hourly_hour ON warehouse.market_hourly (realm, observed_hour)")
    op.execute(
        f"""
        CREATE TABLE warehouse.market_latest (
            realm            text        NOT NULL CHECK (realm IN {REALMS}),
            league           text        NOT NULL,
            item_key         bigint      NOT NULL,
            hour             timestamptz NOT NULL,
            volume24h        double precision NOT NULL,
            hours24h         integer     NOT NULL,
            low_confidence   boolean     NOT NULL,
            chaos_price      double precision,
            chaos_change24h  double precision,
            chaos_change7d   double precision,
            chaos_value24h   double precision,
            chaos_sparkline  double precision[] NOT NULL,
            divine_price     double precision,
            divine_change24h double precision,
            divine_change7d  double precision,
            divine_value24h  double precision,
            divine_sparkline double precision[] NOT NULL,
            PRIMARY KEY (realm, league, item_key)
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE warehouse.market_state (
            realm       text        PRIMARY KEY CHECK (realm IN {REALMS}),
            hour        timestamptz NOT NULL,
            rows        integer     NOT NULL,
            computed_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE warehouse.market_leagues (
            realm      text        NOT NULL CHECK (realm IN {REALMS}),
            league     text        NOT NULL,
            first_hour timestamptz NOT NULL,
            last_hour  timestamptz NOT NULL,
            PRIMARY KEY (realm, league)
        )
        """
    )
    op.execute(f"GRANT SELECT ON warehouse.market_hourly, warehouse.market_latest, warehouse.market_state, "
               f"warehouse.market_leagues TO {API}")


def downgrade() -> None:
    op.execute("DROP TABLE warehouse.market_leagues")
    op.execute("DROP TABLE warehouse.market_state")
    op.execute("DROP TABLE warehouse.market_latest")
    op.execute("DROP TABLE warehouse.market_hourly")
