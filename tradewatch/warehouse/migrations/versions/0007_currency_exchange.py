"""GGG's Currency Exchange history: raw hourly documents (bronze), exchange prices (silver), views.

* `warehouse.raw_currency_exchange`: one row per realm and hour, the body exactly as received
  (bytes, zlib-compressed, with its SHA-256), status, kept headers, timings, sizes,
  `next_change_id` (always the hour + 3600: only valid documents are stored).
* `warehouse.exchange_prices`: per realm, league, hour, item and quote currency (chaos or
  divine) the executed prices and volumes of that hour (see tradewatch/market/exchange.py);
  items by key into `warehouse.exchange_items` (metadata path, trade id, mapped or not).
* `analytics.exchange_prices` (Tableau, the API): the prices with the item's trade id and
  name and the league-hour's divine price in chaos; `analytics.exchange_divine_price`: that
  rate alone, per realm, league and hour.

Written against 0005 only (nothing here depends on 0006); the lead relinks `down_revision`.

Revision ID: 0007
Revises: 0005
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

READER = "tradewatch_reader"
API = "tradewatch_api"
REALMS = "('pc', 'poe2', 'xbox', 'sony')"


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE warehouse.raw_currency_exchange (
            realm          text        NOT NULL CHECK (realm IN {REALMS}),
            observed_hour  timestamptz NOT NULL,
            request_url    text        NOT NULL,
            status_code    integer     NOT NULL,
            headers        jsonb       NOT NULL,
            fetched_at     timestamptz NOT NULL,
            duration_ms    double precision NOT NULL,
            attempt        integer     NOT NULL CHECK (attempt >= 1),
            response_bytes integer     NOT NULL,
            stored_bytes   integer     NOT NULL,
            next_change_id bigint      NOT NULL,
            market_count   integer     NOT NULL,
            compression    text        NOT NULL CHECK (compression IN ('zlib')),
            body_sha256    bytea       NOT NULL,
            body           bytea       NOT NULL,
            simulated      boolean     NOT NULL DEFAULT false,
            PRIMARY KEY (realm, observed_hour),
            CONSTRAINT cx_hour_is_whole CHECK (observed_hour = date_trunc('hour', observed_hour, 'UTC')),
            -- only a document of its own hour is stored (the feed's validity rule)
            CONSTRAINT cx_document_of_its_hour
                CHECK (next_change_id = extract(epoch FROM observed_hour)::bigint + 3600)
        )
        """
    )
    # the body is compressed already: no second (TOAST) compression attempt
    op.execute("ALTER TABLE warehouse.raw_currency_exchange ALTER COLUMN body SET STORAGE EXTERNAL")
    # The feed's items: ~1,500 markets an hour name a few thousand metadata paths; rows refer
    # to them by a 64-bit key derived from the path (tradewatch.currency_exchange.catalog), so
    # the long paths are stored once and the writer needs no round trip to number them.
    op.execute(
        """
        CREATE TABLE warehouse.exchange_items (
            item_key  bigint PRIMARY KEY,
            item_path text    NOT NULL UNIQUE,
            item_id   text    NOT NULL,
            mapped    boolean NOT NULL
        )
        """
    )
    op.execute(
        f"""
        CREATE TABLE warehouse.exchange_prices (
            realm               text        NOT NULL CHECK (realm IN {REALMS}),
            league              text        NOT NULL,
            item_key            bigint      NOT NULL,
            quote_currency      text        NOT NULL CHECK (quote_currency IN ('chaos', 'divine')),
            observed_hour       timestamptz NOT NULL,
            item_first          boolean     NOT NULL,
            vwap_price          double precision CHECK (vwap_price > 0 AND vwap_price < 'infinity'),
            min_price           double precision CHECK (min_price > 0 AND min_price < 'infinity'),
            max_price           double precision CHECK (max_price > 0 AND max_price < 'infinity'),
            volume              double precision NOT NULL,
            quote_volume        double precision NOT NULL,
            item_lowest_stock   double precision,
            item_highest_stock  double precision,
            quote_lowest_stock  double precision,
            quote_highest_stock double precision,
            PRIMARY KEY (realm, league, item_key, quote_currency, observed_hour)
        )
        """
    )
    op.execute("CREATE INDEX exchange_prices_hour ON warehouse.exchange_prices (observed_hour)")
    op.execute(
        """
        CREATE VIEW analytics.exchange_divine_price AS
        SELECT p.realm, p.league, p.observed_hour, p.vwap_price AS chaos_per_divine,
               p.min_price AS min_chaos_per_divine, p.max_price AS max_chaos_per_divine,
               p.volume AS divine_volume, p.quote_volume AS chaos_volume
        FROM warehouse.exchange_prices p
        JOIN warehouse.exchange_items x ON x.item_key = p.item_key
        WHERE x.item_id = 'divine' AND p.quote_currency = 'chaos'
        """
    )
    op.execute(
        """
        CREATE VIEW analytics.exchange_prices AS
        SELECT p.realm, p.league, p.observed_hour, x.item_id,
               COALESCE(i.item_name, x.item_path) AS item_name, x.item_path, x.mapped,
               p.quote_currency, p.vwap_price, p.min_price, p.max_price, p.volume, p.quote_volume,
               p.item_lowest_stock, p.item_highest_stock, p.quote_lowest_stock, p.quote_highest_stock,
               d.chaos_per_divine, p.item_first
        FROM warehouse.exchange_prices p
        JOIN warehouse.exchange_items x ON x.item_key = p.item_key
        LEFT JOIN warehouse.items i ON i.game = CASE WHEN p.realm = 'poe2' THEN 'poe2' ELSE 'poe1' END
                                   AND i.item_id = x.item_id
        LEFT JOIN analytics.exchange_divine_price d
               ON d.realm = p.realm AND d.league = p.league AND d.observed_hour = p.observed_hour
        """
    )
    op.execute(f"GRANT SELECT ON analytics.exchange_prices, analytics.exchange_divine_price TO {READER}, {API}")
    op.execute(f"GRANT SELECT ON warehouse.exchange_prices, warehouse.exchange_items TO {API}")


def downgrade() -> None:
    op.execute("DROP VIEW analytics.exchange_prices")
    op.execute("DROP VIEW analytics.exchange_divine_price")
    op.execute("DROP TABLE warehouse.exchange_prices")
    op.execute("DROP TABLE warehouse.exchange_items")
    op.execute("DROP TABLE warehouse.raw_currency_exchange")
