"""Raw trade responses keep their body verbatim: the bytes received, compressed, with a checksum.

`warehouse.raw_trade_responses.response_body` (JSONB: re-serialized by PostgreSQL, its key
order lost, ~15 kB a row after TOAST) becomes `body` (bytea, STORAGE EXTERNAL: the archive
format of `tradewatch.raw_bodies`, the same as `warehouse.raw_currency_exchange`),
`compression`, `body_sha256` and `body_origin`:

* `received` — the bytes exactly as the trade API sent them (every row written from now on);
* `jsonb` — a row stored before this revision: its JSONB text (`response_body::text`) is the
  best original left, so that text is what is kept, marked so nobody mistakes it for the
  server's bytes.

Rows are converted in place (same ids, so `price_snapshots.raw_response_id` keeps pointing at
them), in batches that stream through this process (flat memory), and the table is then
rewritten (CLUSTER, allowed inside the migration's transaction) so the old JSONB's space is
returned at once. No view reads the body column. The downgrade parses the kept text back into
JSONB (for `received` rows that is the JSON the body holds; the bytes themselves are lost).

Revision ID: 0012
Revises: 0011
"""

from alembic import op

from tradewatch.raw_bodies import ZLIB, checksum, compress, unpack

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLE = "warehouse.raw_trade_responses"
BATCH = 1000


def _rewrite() -> None:
    # the rewrite drops the dead row versions and the dropped column's TOAST data
    op.execute(f"CLUSTER {TABLE} USING raw_one_response_per_item_hour")
    op.execute(f"ALTER TABLE {TABLE} SET WITHOUT CLUSTER")


def _batches(conn, sql: str):
    with conn.cursor(name="tradewatch_0012") as source:
        source.itersize = BATCH
        source.execute(sql)
        while rows := source.fetchmany(BATCH):
            yield rows


def upgrade() -> None:
    op.execute(f"ALTER TABLE {TABLE} ADD COLUMN body bytea, ADD COLUMN compression text, "
               "ADD COLUMN body_sha256 bytea, ADD COLUMN body_origin text")
    # compressed already: no second (TOAST) compression attempt
    op.execute(f"ALTER TABLE {TABLE} ALTER COLUMN body SET STORAGE EXTERNAL")
    conn = op.get_bind().connection.dbapi_connection
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE raw_0012 (id bigint PRIMARY KEY, body bytea, body_sha256 bytea) "
                    "ON COMMIT DROP")
        for rows in _batches(conn, f"SELECT id, response_body::text FROM {TABLE} ORDER BY id"):
            with cur.copy("COPY raw_0012 (id, body, body_sha256) FROM STDIN") as copy:
                for raw_id, text in rows:
                    # plain zlib, the one compression this revision's CHECK allows (0013 adds zlib-jwt)
                    body = text.encode()
                    copy.write_row((raw_id, compress(body), checksum(body)))
            cur.execute(f"UPDATE {TABLE} r SET body = t.body, body_sha256 = t.body_sha256, compression = %s, "
                        "body_origin = 'jsonb' FROM raw_0012 t WHERE r.id = t.id", (ZLIB,))
            cur.execute("TRUNCATE raw_0012")
    op.execute(f"ALTER TABLE {TABLE} DROP COLUMN response_body")
    op.execute(f"""
        ALTER TABLE {TABLE}
            ALTER COLUMN body SET NOT NULL, ALTER COLUMN compression SET NOT NULL,
            ALTER COLUMN body_sha256 SET NOT NULL, ALTER COLUMN body_origin SET NOT NULL,
            ADD CONSTRAINT raw_compression_known CHECK (compression IN ('zlib')),
            ADD CONSTRAINT raw_body_origin_known CHECK (body_origin IN ('received', 'jsonb'))
    """)
    op.execute(f"COMMENT ON COLUMN {TABLE}.body IS 'the response body as received, compressed (see compression); "
               "body_origin = ''jsonb'' rows were stored before revision 0012 and keep the JSONB text'")
    _rewrite()


def downgrade() -> None:
    op.execute(f"ALTER TABLE {TABLE} ADD COLUMN response_body jsonb")
    conn = op.get_bind().connection.dbapi_connection
    with conn.cursor() as cur:
        cur.execute("CREATE TEMP TABLE raw_0012 (id bigint PRIMARY KEY, response_body jsonb) ON COMMIT DROP")
        for rows in _batches(conn, f"SELECT id, compression, body, body_sha256 FROM {TABLE} ORDER BY id"):
            with cur.copy("COPY raw_0012 (id, response_body) FROM STDIN") as copy:
                for raw_id, compression, body, sha256 in rows:
                    copy.write_row((raw_id, unpack(compression, body, sha256, f"raw response {raw_id}").decode()))
            cur.execute(f"UPDATE {TABLE} r SET response_body = t.response_body FROM raw_0012 t WHERE r.id = t.id")
            cur.execute("TRUNCATE raw_0012")
    op.execute(f"ALTER TABLE {TABLE} DROP COLUMN body, DROP COLUMN compression, DROP COLUMN body_sha256, "
               "DROP COLUMN body_origin")
    op.execute(f"ALTER TABLE {TABLE} ALTER COLUMN response_body SET NOT NULL")
    _rewrite()
