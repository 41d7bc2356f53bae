"""Raw bodies gain the `zstd` compression: what `pack` now writes for a body without tokens.

`tradewatch.raw_bodies.pack` stores a body that holds no whisper token (every Currency Exchange
document, empty books, error pages) as a Zstandard frame instead of zlib: ~6.1 % of a document
instead of 6.7 %, for about half the CPU. The `compression` CHECK of both bronze tables
(`warehouse.raw_trade_responses`, `warehouse.raw_currency_exchange`) accepts the name. Rows
stored before stay as they are (`zlib`, `zlib-jwt`) and are read as before: nothing is rewritten.

The downgrade writes every `zstd` body of both tables back as plain `zlib` in place, each one
unpacked against its stored SHA-256 and the new bytes unpacked and checked against that same
SHA-256 before its row is updated (a Currency Exchange row's `stored_bytes` follows), in
batches streamed through this process; then the CHECKs are narrowed again.

Revision ID: 0019
Revises: 0018
"""

from alembic import op

from tradewatch.raw_bodies import ZLIB, ZLIB_JWT, ZSTD, compress, unpack

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

TRADE = "warehouse.raw_trade_responses"
EXCHANGE = "warehouse.raw_currency_exchange"
BATCH = 200  # Currency Exchange documents are ~1.6 MB each once unpacked: a batch stays ~300 MB at most


def _checks(names: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{n}'" for n in names)
    # 0007 declared the Currency Exchange CHECK inline: PostgreSQL named it <table>_<column>_check
    op.execute(f"ALTER TABLE {TRADE} DROP CONSTRAINT raw_compression_known, "
               f"ADD CONSTRAINT raw_compression_known CHECK (compression IN ({allowed}))")
    op.execute(f"ALTER TABLE {EXCHANGE} DROP CONSTRAINT raw_currency_exchange_compression_check, "
               f"ADD CONSTRAINT raw_currency_exchange_compression_check CHECK (compression IN ({allowed}))")


def _to_zlib(table: str, key: str, what: str, also_set: str = "") -> None:
    """Rewrite the `zstd` bodies of `table` as `zlib`; `key` its key columns, `what` names a row from them."""
    conn = op.get_bind().connection.dbapi_connection
    columns = [c.strip() for c in key.split(",")]
    match = " AND ".join(f"r.{c} = t.{c}" for c in columns)
    with conn.cursor() as cur, conn.cursor(name="tradewatch_0019") as rows:
        cur.execute(f"CREATE TEMP TABLE raw_0019 ON COMMIT DROP AS SELECT {key}, body, body_sha256 FROM {table} "
                    "WITH NO DATA")
        rows.itersize = BATCH
        rows.execute(f"SELECT {key}, body, body_sha256 FROM {table} WHERE compression = %s ORDER BY {key}", (ZSTD,))
        while batch := rows.fetchmany(BATCH):
            with cur.copy(f"COPY raw_0019 ({key}, body, body_sha256) FROM STDIN") as copy:
                for *ids, body, sha256 in batch:
                    name = what.format(*ids)
                    stored = compress(unpack(ZSTD, body, sha256, name))
                    unpack(ZLIB, stored, sha256, f"{name} recompressed as {ZLIB}")
                    copy.write_row((*ids, stored, sha256))
            # the checksum is part of the match: only the very row that was read is replaced
            cur.execute(f"UPDATE {table} r SET compression = %s, body = t.body{also_set} FROM raw_0019 t "
                        f"WHERE {match} AND r.body_sha256 = t.body_sha256 AND r.compression = %s", (ZLIB, ZSTD))
            cur.execute("TRUNCATE raw_0019")
        cur.execute("DROP TABLE raw_0019")


def upgrade() -> None:
    _checks((ZLIB, ZLIB_JWT, ZSTD))


def downgrade() -> None:
    _to_zlib(TRADE, "id", "raw trade response {}")
    _to_zlib(EXCHANGE, "realm, observed_hour", "the Currency Exchange document of {} {}",
             ", stored_bytes = length(t.body)")
    _checks((ZLIB, ZLIB_JWT))
