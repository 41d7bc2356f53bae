"""Alerts (gold): every crossing of a watchlist alert rule, and every webhook delivery of one.

* `warehouse.alerts`: one row per rule firing — the rule, the hour its condition became true,
  the value that crossed, the threshold and its currency, the league, what the rule watches.
  Computed by the `price_alerts` asset; a re-run replaces its window.
* `warehouse.alert_deliveries`: one row per crossing and webhook — the outcome of the last
  delivery (status, attempts, error), keyed by a hash of the URL; the URL itself is a secret
  (Discord webhook URLs carry a token) and only its redacted form (scheme://host/…) is kept.
  Not tied to `alerts` by a foreign key: replacing a window of alerts must not forget what was
  already delivered (nothing is posted twice).
* `analytics.alerts`: the crossings for Tableau and the API roles.

Nothing here depends on 0006 or 0007: it was written against 0005 and is chained after 0007
only because issue-11 (0007, also on 0005) is merged into this branch; the lead relinks it.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

READER = "tradewatch_reader"
API = "tradewatch_api"


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE warehouse.alerts (
            game          text        NOT NULL,
            league        text        NOT NULL,
            rule          text        NOT NULL,
            observed_hour timestamptz NOT NULL,
            kind          text        NOT NULL CHECK (kind IN ('price', 'profit')),
            item_id       text,
            strategy      text,
            policy        text,
            source        text        NOT NULL CHECK (source IN ('book', 'exchange', 'profitability')),
            comparison    text        NOT NULL CHECK (comparison IN ('below', 'above')),
            threshold     double precision NOT NULL,
            value         double precision NOT NULL,
            currency      text        NOT NULL,
            computed_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (game, league, rule, observed_hour)
        )
        """
    )
    op.execute("CREATE INDEX alerts_hour ON warehouse.alerts (observed_hour)")
    op.execute(
        """
        CREATE TABLE warehouse.alert_deliveries (
            game          text        NOT NULL,
            league        text        NOT NULL,
            rule          text        NOT NULL,
            observed_hour timestamptz NOT NULL,
            webhook_id    text        NOT NULL,  -- sha256 of the URL, first 16 hex digits
            webhook       text        NOT NULL,  -- redacted: scheme://host/…
            status        text        NOT NULL CHECK (status IN ('delivered', 'failed')),
            http_status   integer,
            attempts      integer     NOT NULL CHECK (attempts >= 1),
            error         text,
            first_try_at  timestamptz NOT NULL,
            last_try_at   timestamptz NOT NULL,
            PRIMARY KEY (game, league, rule, observed_hour, webhook_id)
        )
        """
    )
    op.execute(
        """
        CREATE VIEW analytics.alerts AS
        SELECT league, game, rule, observed_hour, kind, item_id, strategy, policy, source, comparison,
               threshold, value, currency
        FROM warehouse.alerts
        """
    )
    op.execute(f"GRANT SELECT ON analytics.alerts TO {READER}, {API}")
    op.execute(f"GRANT SELECT ON warehouse.alerts TO {API}")


def downgrade() -> None:
    op.execute("DROP VIEW analytics.alerts")
    op.execute("DROP TABLE warehouse.alert_deliveries")
    op.execute("DROP TABLE warehouse.alerts")
