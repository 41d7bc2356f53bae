"""The catalogue of every Currency Exchange item, PoE 1 and PoE 2, by game and path key.

* `warehouse.exchange_catalogue`: one row per game and metadata path: `item_key` (the same
  64-bit key of the path `warehouse.exchange_prices` uses), the path, `id` (the trade id where
  one exists, else the path), display name, category, trade id, image, gold fee, and `named`
  (false: a path the catalogue lacks, named from the path). Filled by
  `tradewatch.warehouse.exchange_catalogue.sync_catalogue` (run by every `tradewatch db upgrade`
  after the migrations, so a refreshed packaged catalogue reaches the warehouse) and by the
  exchange_prices writer for paths first seen in the feed.
* `warehouse.realm_game(realm)`: the game of a feed realm ('poe2' → 'poe2', else 'poe1').
* `analytics.exchange_catalogue` (Tableau, the API) and `analytics.exchange_prices` naming every
  item from the catalogue (before: the 27 researched trade ids, else the path).

`warehouse.exchange_items` (0007) stays as it was: the divine rate, profitability and the
watched items' executed prices read its trade ids.

Written against 0014; the lead re-points `down_revision` to 0015 when that is merged.

Revision ID: 0016
Revises: 0015
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

READER = "tradewatch_reader"
API = "tradewatch_api"

PRICES_VIEW = """
        CREATE OR REPLACE VIEW analytics.exchange_prices AS
        SELECT p.realm, p.league, p.observed_hour, x.item_id,
               {name} AS item_name, x.item_path, x.mapped,
               p.quote_currency, p.vwap_price, p.min_price, p.max_price, p.volume, p.quote_volume,
               p.item_lowest_stock, p.item_highest_stock, p.quote_lowest_stock, p.quote_highest_stock,
               d.chaos_per_divine, p.item_first
        FROM warehouse.exchange_prices p
        JOIN warehouse.exchange_items x ON x.item_key = p.item_key
        {catalogue}
        LEFT JOIN warehouse.items i ON i.game = CASE WHEN p.realm = 'poe2' THEN 'poe2' ELSE 'poe1' END
                                   AND i.item_id = x.item_id
        LEFT JOIN analytics.exchange_divine_price d
               ON d.realm = p.realm AND d.league = p.league AND d.observed_hour = p.observed_hour
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION warehouse.realm_game(realm text) RETURNS text
        LANGUAGE sql IMMUTABLE PARALLEL SAFE
        AS $$ SELECT CASE WHEN realm = 'poe2' THEN 'poe2' ELSE 'poe1' END $$
        """
    )
    op.execute(
        """
        CREATE TABLE warehouse.exchange_catalogue (
            game      text NOT NULL CHECK (game IN ('poe1', 'poe2')),
            item_key  bigint NOT NULL,
            item_path text NOT NULL,
            id        text NOT NULL,
            name      text NOT NULL,
            category  text,
            trade_id  text,
            image     text,
            gold_fee  double precision,
            named     boolean NOT NULL,
            PRIMARY KEY (game, item_key),
            UNIQUE (game, id),
            UNIQUE (game, item_path)
        )
        """
    )
    # `items(search:)` and `market(search:)` match names case-insensitively; ~1,500 rows a game,
    # so a btree on the folded name (equality, prefix) is enough and needs no extension
    op.execute("CREATE INDEX exchange_catalogue_name ON warehouse.exchange_catalogue (game, lower(name))")
    op.execute(
        """
        CREATE VIEW analytics.exchange_catalogue AS
        SELECT game, id AS item_id, name AS item_name, category, item_path, trade_id, image, gold_fee, named
        FROM warehouse.exchange_catalogue
        """
    )
    op.execute(PRICES_VIEW.format(
        name="COALESCE(c.name, i.item_name, x.item_path)",
        catalogue="LEFT JOIN warehouse.exchange_catalogue c "
                  "ON c.game = warehouse.realm_game(p.realm) AND c.item_key = p.item_key"))
    op.execute(f"GRANT USAGE ON SCHEMA warehouse TO {API}")
    op.execute(f"GRANT SELECT ON warehouse.exchange_catalogue TO {API}")
    op.execute(f"GRANT EXECUTE ON FUNCTION warehouse.realm_game(text) TO {API}, {READER}")
    op.execute(f"GRANT SELECT ON analytics.exchange_catalogue TO {READER}, {API}")


def downgrade() -> None:
    op.execute(PRICES_VIEW.format(name="COALESCE(i.item_name, x.item_path)", catalogue=""))
    op.execute("DROP VIEW analytics.exchange_catalogue")
    op.execute("DROP TABLE warehouse.exchange_catalogue")
    op.execute("DROP FUNCTION warehouse.realm_game(text)")
