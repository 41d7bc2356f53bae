"""Raw bodies gain the `zlib-jwt` compression; stored trade bodies are recompressed in place.

`tradewatch.raw_bodies` now stores a body whose whisper tokens (JWTs) can be decoded as
`zlib-jwt` (about 55 % of its `zlib` size), so the `compression` CHECK of both bronze tables
(`warehouse.raw_trade_responses`, `warehouse.raw_currency_exchange`) accepts that name.

The trade rows stored as `zlib` are then recompressed in place: same ids (so
`price_snapshots.raw_response_id` keeps pointing at them), same bytes — each body is
unpacked (checked against its stored SHA-256), packed again, and the new stored bytes are
unpacked and checked against that same SHA-256 before the row's update is written; a row
whose body holds no token stays `zlib` untouched. Batches stream through this process (flat
memory), and the table is then rewritten (ALTER TABLE) so the space of the old versions is
returned at once. Currency Exchange documents hold no tokens and are left as they are.

The downgrade writes every `zlib-jwt` body of both tables back as plain `zlib` (same
check), then narrows the CHECKs again.

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Callable

from alembic import op

from tradewatch.raw_bodies import ZLIB, ZLIB_JWT, compress, pack, unpack

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TRADE = "warehouse.raw_trade_responses"
EXCHANGE = "warehouse.raw_currency_exchange"
BATCH = 1000


def _checks(names: tuple[str, ...]) -> None:
    allowed = ", ".join(f"'{n}'" for n in names)
    # 0007 declared the Currency Exchange CHECK inline: PostgreSQL named it <table>_<column>_check
    op.execute(f"ALTER TABLE {TRADE} DROP CONSTRAINT raw_compression_known, "
               f"ADD CONSTRAINT raw_compression_known CHECK (compression IN ({allowed}))")
    op.execute(f"ALTER TABLE {EXCHANGE} DROP CONSTRAINT raw_currency_exchange_compression_check, "
               f"ADD CONSTRAINT raw_currency_exchange_compression_check CHECK (compression IN ({allowed}))")


def _rewrite() -> None:
    # An ALTER TABLE rewrite copies only the rows this transaction sees, so the versions its
    # UPDATEs replaced (and their TOAST data) are gone at commit. CLUSTER would keep them: in
    # the transaction that deleted them they are "recently dead", not dead. A non-trivial
    # USING expression is what makes PostgreSQL rewrite the table rather than skip a no-op; the
    # type change resets the column's storage, so EXTERNAL (compressed already: no second, TOAST,
    # compression attempt) is set again in the same statement, before the rewrite.
    op.execute(f"ALTER TABLE {TRADE} ALTER COLUMN body TYPE bytea USING body || ''::bytea, "
               "ALTER COLUMN body SET STORAGE EXTERNAL")


def _recompress(table: str, key: str, what: str, source: str, target: str,
                to_target: Callable[[bytes], tuple[str, bytes]], also_set: str = "") -> None:
    """Rewrite the bodies of `table` stored as `source` with `to_target(body) -> (compression, bytes)`.

    `key` is the table's key columns; `what` names a row in errors from its key values;
    `also_set` more assignments of the UPDATE (`t` is the new body's row).
    """
    conn = op.get_bind().connection.dbapi_connection
    columns = [c.strip() for c in key.split(",")]
    with conn.cursor() as cur, conn.cursor(name="tradewatch_0013") as rows:
        cur.execute(f"CREATE TEMP TABLE raw_0013 ON COMMIT DROP AS SELECT {key}, compression, body, body_sha256 "
                    f"FROM {table} WITH NO DATA")
        rows.itersize = BATCH
        rows.execute(f"SELECT {key}, body, body_sha256 FROM {table} WHERE compression = %s ORDER BY {key}",
                     (source,))
        while batch := rows.fetchmany(BATCH):
            with cur.copy(f"COPY raw_0013 ({key}, compression, body, body_sha256) FROM STDIN") as copy:
                for *ids, body, sha256 in batch:
                    name = what.format(*ids)
                    original = unpack(source, body, sha256, name)
                    compression, stored = to_target(original)
                    if compression != target:
                        continue
                    unpack(compression, stored, sha256, f"{name} recompressed as {compression}")
                    copy.write_row((*ids, compression, stored, sha256))
            match = " AND ".join(f"r.{c} = t.{c}" for c in columns)
            # the checksum is part of the match: only the very row that was read is replaced
            cur.execute(f"UPDATE {table} r SET compression = t.compression, body = t.body{also_set} FROM raw_0013 t "
                        f"WHERE {match} AND r.body_sha256 = t.body_sha256 AND r.compression = %s", (source,))
            cur.execute("TRUNCATE raw_0013")
        cur.execute("DROP TABLE raw_0013")


def _packed(body: bytes) -> tuple[str, bytes]:
    packed = pack(body)
    return packed.compression, packed.compressed


def _plain(body: bytes) -> tuple[str, bytes]:
    return ZLIB, compress(body)


def upgrade() -> None:
    _checks((ZLIB, ZLIB_JWT))
    _recompress(TRADE, "id", "raw trade response {}", ZLIB, ZLIB_JWT, _packed)
    _rewrite()


def downgrade() -> None:
    _recompress(TRADE, "id", "raw trade response {}", ZLIB_JWT, ZLIB, _plain)
    _recompress(EXCHANGE, "realm, observed_hour", "the Currency Exchange document of {} {}", ZLIB_JWT, ZLIB, _plain,
                ", stored_bytes = length(t.body)")
    _checks((ZLIB,))
    _rewrite()
