"""Tableau-facing views (schema `analytics`), item names, and the read-only role.

* `warehouse.items`: the trade site's human item names (from the static data shipped in
  `tradewatch/data/trade_static_poe1.json`), so views show "Deafening Essence of Greed".
* `analytics.price_history` and `analytics.reroll_profitability`: the columns a Tableau
  workbook uses, nothing else (stable names, no JSON).
* `tradewatch_reader`: may read `analytics` and nothing else. Roles are cluster-wide and
  many databases may share a server (the tests create one per test), so the role is
  created only when missing and never dropped here. It is created NOLOGIN; `tradewatch db
  upgrade` gives it LOGIN and the password from TRADEWATCH_READER_PASSWORD when that is set
  (the password is never stored in the repository).

Revision ID: 0003
Revises: 0002
"""

import json
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

READER = "tradewatch_reader"
STATIC = Path(__file__).resolve().parents[3] / "data" / "trade_static_poe1.json"


def _static_items() -> list[dict]:
    data = json.loads(STATIC.read_text())
    return [
        {"game": "poe1", "item_id": e["id"], "item_name": e["text"], "category": g["id"]}
        for g in data["result"] for e in g["entries"] if e.get("id") and e["id"] != "sep"
    ]


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE warehouse.items (
            game      text NOT NULL,
            item_id   text NOT NULL,
            item_name text NOT NULL,
            category  text,
            PRIMARY KEY (game, item_id)
        )
        """
    )
    items = sa.table("items", sa.column("game"), sa.column("item_id"), sa.column("item_name"),
                     sa.column("category"), schema="warehouse")
    rows = {(r["game"], r["item_id"]): r for r in _static_items()}  # the static data may repeat an id
    op.bulk_insert(items, list(rows.values()))

    op.execute("CREATE SCHEMA analytics")
    # Unknown ids (PoE 2 has no shipped catalogue) get a readable guess, as catalog.item_name does.
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
    # Two migrations on one server at once could both see the role missing: the loser's
    # duplicate_object is expected and harmless.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = '{READER}') THEN
                CREATE ROLE {READER} NOLOGIN;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA analytics TO {READER}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO {READER}")
    # Nothing else is granted: `warehouse` is not usable by the role, and the tables in
    # `public` (Dagster's storage) are not readable by PUBLIC.


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA analytics FROM {READER}")
    op.execute(f"REVOKE ALL ON SCHEMA analytics FROM {READER}")
    op.execute("DROP SCHEMA analytics CASCADE")
    op.execute("DROP TABLE warehouse.items")
