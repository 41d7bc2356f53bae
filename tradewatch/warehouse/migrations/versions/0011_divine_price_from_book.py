"""The divine price from the order book where the Currency Exchange has none, with its source.

* `warehouse.book_divine_prices`: per game, league and hour the robust minimum ask of the
  stored book of divine paid in chaos (the raw asset fetches it every hour besides the
  watched items; `tradewatch/warehouse/book_divine.py` writes it with the price snapshots).
* `analytics.exchange_divine_price` is replaced (CREATE OR REPLACE: its columns are kept and
  `source` is appended, so the views built on it, `analytics.exchange_prices` (0007),
  `analytics.price_history` and `analytics.reroll_profitability` (0009), need no change and
  now convert with the fallback too): the Currency Exchange's rate (`source = 'exchange'`)
  where it has one, else the book's (`source = 'book'`, realm `pc` for PoE 1 and `poe2` for
  PoE 2; the exchange-only columns min/max/volumes are null there).

Depends on 0009's schema only; the lead chains it after 0010.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

API = "tradewatch_api"

EXCHANGE = """
        SELECT p.realm, p.league, p.observed_hour, p.vwap_price AS chaos_per_divine,
               p.min_price AS min_chaos_per_divine, p.max_price AS max_chaos_per_divine,
               p.volume AS divine_volume, p.quote_volume AS chaos_volume, 'exchange'::text AS source
        FROM warehouse.exchange_prices p
        JOIN warehouse.exchange_items x ON x.item_key = p.item_key
        WHERE x.item_id = 'divine' AND p.quote_currency = 'chaos'"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE warehouse.book_divine_prices (
            game             text        NOT NULL CHECK (game IN ('poe1', 'poe2')),
            league           text        NOT NULL,
            observed_hour    timestamptz NOT NULL,
            chaos_per_divine double precision CHECK (chaos_per_divine > 0 AND chaos_per_divine < 'infinity'),
            min_price        double precision CHECK (min_price > 0 AND min_price < 'infinity'),
            listing_count    integer     NOT NULL,
            total_stock      bigint      NOT NULL,
            simulated        boolean     NOT NULL DEFAULT false,
            raw_response_id  bigint      NOT NULL,
            PRIMARY KEY (game, league, observed_hour)
        )
        """
    )
    # the book's rows join the view by realm; an empty book (no ask) gives no rate
    op.execute(
        f"""
        CREATE OR REPLACE VIEW analytics.exchange_divine_price AS {EXCHANGE}
        UNION ALL
        SELECT CASE WHEN b.game = 'poe2' THEN 'poe2' ELSE 'pc' END, b.league, b.observed_hour, b.chaos_per_divine,
               NULL::double precision, NULL::double precision, NULL::double precision, NULL::double precision,
               'book'::text
        FROM warehouse.book_divine_prices b
        WHERE b.chaos_per_divine IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM warehouse.exchange_prices p
                          JOIN warehouse.exchange_items x ON x.item_key = p.item_key
                          WHERE x.item_id = 'divine' AND p.quote_currency = 'chaos'
                            AND p.realm = CASE WHEN b.game = 'poe2' THEN 'poe2' ELSE 'pc' END
                            AND p.league = b.league AND p.observed_hour = b.observed_hour)
        """
    )
    op.execute(f"GRANT SELECT ON warehouse.book_divine_prices TO {API}")


def downgrade() -> None:
    # CREATE OR REPLACE cannot drop a column: `source` stays (always 'exchange') so that the views
    # built on this one need not be dropped and recreated
    op.execute(f"CREATE OR REPLACE VIEW analytics.exchange_divine_price AS {EXCHANGE}")
    op.execute("DROP TABLE warehouse.book_divine_prices")
