"""The market overview computed when it is read; the per-market totals counted a day at a time.

Keeping the overview as a table cost ~6 times the `exchange_prices` run it followed: every hour
~3,850 items cross a window boundary, and rewriting their rows and sums cost more than pricing the
hour. The API now computes a league's overview from its 192 packed hourly rows
(`warehouse.market_hours`) when it is asked for, and keeps it in memory until the next hour.

* `warehouse.market_windows` and the table `warehouse.market_latest` are dropped.
* `warehouse.market_latest` becomes a view with the same figures per realm, league and item, for
  the realm's `market_state.hour` (Tableau and SQL readers; the API computes them itself).
* `warehouse.market_state` keeps `hour` (the newest hour the overview shows, published by the
  `exchange_market_latest` asset) and `computed_at`, which any rewrite of an hour inside the
  overview's eight windows bumps: the API's copy of a league's overview is keyed on both. `rows` and
  `windows_valid` are dropped.
* `warehouse.market_pairs_state.counted_before`: per realm, the per-market totals
  (`warehouse.market_pairs`) count exactly the stored hours before it, and none after. The hourly
  asset moves it forward a UTC week at a time; `marketItem` adds the item's exchange-price rows from
  it on (one to eight days of hours). Set here to the hour after the last counted one.

Revision ID: 0022
Revises: 0021
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

API = "tradewatch_api"
REALMS = "('pc', 'poe2', 'xbox', 'sony')"
WINDOWS = 8
SPARKLINE = 7
MIN_HOURS = 6  # tradewatch.market_overview.windows: the confidence rule
MIN_UNITS = 10.0
SUMS = ("volume", "chaos_units", "chaos_value", "divine_units", "divine_value")


def _price(unit: str, i: int) -> str:
    """price(W[i − 1]) in `unit` of a row `a` of per-window arrays (value / units, null without both)."""
    return f"CASE WHEN a.{unit}_units[{i}] > 0 AND a.{unit}_value[{i}] > 0 THEN a.{unit}_value[{i}] / a.{unit}_units[{i}] END"


def _unit_figures(unit: str) -> str:
    p = [_price(unit, i) for i in range(1, WINDOWS + 1)]
    return (f"{p[0]} AS {unit}_price, ({p[0]}) / ({p[1]}) - 1.0 AS {unit}_change24h, "
            f"({p[0]}) / ({p[7]}) - 1.0 AS {unit}_change7d, "
            f"CASE WHEN a.{unit}_units[1] > 0 THEN a.{unit}_value[1] END AS {unit}_value24h, "
            f"ARRAY[{', '.join(p[i] for i in range(SPARKLINE - 1, -1, -1))}]::float8[] AS {unit}_sparkline")


def _per_window(column: str) -> str:
    return "ARRAY[" + ", ".join(f"coalesce(sum(u.{column}) FILTER (WHERE u.w = {i}), 0)" for i in range(WINDOWS)) + "]"


VIEW = f"""
CREATE VIEW warehouse.market_latest AS
WITH a AS (
    SELECT u.realm, u.hour, u.league, u.item_key,
           ARRAY[{', '.join(f"count(*) FILTER (WHERE u.w = {i} AND u.volume > 0)::int" for i in range(WINDOWS))}] AS hours,
           {', '.join(f"{_per_window(c)} AS {c}" for c in SUMS)}
    FROM (SELECT s.realm, s.hour, h.league, x.*,
                 floor(extract(epoch FROM s.hour - h.observed_hour) / 86400)::int AS w
          FROM warehouse.market_state s
          JOIN warehouse.market_hours h ON h.realm = s.realm AND h.observed_hour > s.hour - interval '192 hours'
                                       AND h.observed_hour <= s.hour
          CROSS JOIN LATERAL unnest(h.item_keys, h.volume, h.chaos_units, h.chaos_value, h.divine_units,
                                    h.divine_value) AS x(item_key, volume, chaos_units, chaos_value, divine_units,
                                                         divine_value)) u
    GROUP BY u.realm, u.hour, u.league, u.item_key)
SELECT a.realm, a.league, a.item_key, a.hour, a.volume[1] AS volume24h, a.hours[1] AS hours24h,
       coalesce({_price("chaos", 1)}, {_price("divine", 1)}) IS NULL OR a.hours[1] < {MIN_HOURS}
           OR a.volume[1] < {MIN_UNITS!r} AS low_confidence,
       {_unit_figures("chaos")}, {_unit_figures("divine")}
FROM a WHERE {" OR ".join(f"a.volume[{i}] > 0" for i in range(1, WINDOWS))}
"""


def upgrade() -> None:
    op.execute("DROP TABLE warehouse.market_windows")
    op.execute("DROP TABLE warehouse.market_latest")
    op.execute("ALTER TABLE warehouse.market_state DROP COLUMN rows, DROP COLUMN windows_valid")
    op.execute(VIEW)
    op.execute(
        f"""
        CREATE TABLE warehouse.market_pairs_state (
            realm          text        PRIMARY KEY CHECK (realm IN {REALMS}),
            counted_before timestamptz NOT NULL
        )
        """
    )
    # the totals counted every hour up to the last one they hold: they count what is before the hour after it
    # (an hour stored but not yet rolled up below it is added, so the rule "exactly the stored hours before" holds)
    op.execute("INSERT INTO warehouse.market_pairs_state SELECT realm, max(observed_hour) + interval '1 hour' "
               "FROM warehouse.market_pairs_hours GROUP BY realm")
    op.execute(
        """
        WITH missing AS (
            SELECT DISTINCT p.realm, p.observed_hour FROM warehouse.exchange_prices p
            JOIN warehouse.market_pairs_state s ON s.realm = p.realm AND p.observed_hour < s.counted_before
            WHERE p.item_key <> 4699871746869261772
              AND NOT EXISTS (SELECT 1 FROM warehouse.market_pairs_hours c
                              WHERE c.realm = p.realm AND c.observed_hour = p.observed_hour)),
        counted AS (INSERT INTO warehouse.market_pairs_hours SELECT * FROM missing)
        INSERT INTO warehouse.market_pairs AS m
        SELECT p.realm, p.item_key, p.league, p.quote_currency, count(*), sum(p.volume::numeric),
               sum(p.quote_volume::numeric), min(p.observed_hour), max(p.observed_hour),
               min(p.observed_hour) FILTER (WHERE p.volume > 0), max(p.observed_hour) FILTER (WHERE p.volume > 0)
        FROM warehouse.exchange_prices p JOIN missing USING (realm, observed_hour)
        WHERE p.item_key <> 4699871746869261772
        GROUP BY 1, 2, 3, 4
        ON CONFLICT (realm, item_key, league, quote_currency) DO UPDATE SET
            hours = m.hours + EXCLUDED.hours, volume = m.volume + EXCLUDED.volume,
            quote_volume = m.quote_volume + EXCLUDED.quote_volume,
            first_hour = least(m.first_hour, EXCLUDED.first_hour), last_hour = greatest(m.last_hour, EXCLUDED.last_hour),
            traded_first = least(m.traded_first, EXCLUDED.traded_first),
            traded_last = greatest(m.traded_last, EXCLUDED.traded_last)
        """
    )
    op.execute(f"GRANT SELECT ON warehouse.market_latest, warehouse.market_pairs_state TO {API}")


def downgrade() -> None:
    # the old tables come back empty and marked invalid: the next `exchange_market_latest` run rebuilds them
    op.execute("DROP TABLE warehouse.market_pairs_state")
    op.execute("DROP VIEW warehouse.market_latest")
    op.execute("ALTER TABLE warehouse.market_state ADD COLUMN rows integer NOT NULL DEFAULT 0, "
               "ADD COLUMN windows_valid boolean NOT NULL DEFAULT false")
    op.execute(
        f"""
        CREATE TABLE warehouse.market_latest (
            realm            text        NOT NULL CHECK (realm IN {REALMS}),
            league           text        NOT NULL,
            item_key         bigint      NOT NULL,
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
        ) WITH (fillfactor = 50)
        """
    )
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
    op.execute(f"GRANT SELECT ON warehouse.market_latest, warehouse.market_windows TO {API}")
