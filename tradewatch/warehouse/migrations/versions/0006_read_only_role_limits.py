"""Limits on the read-only roles that a session of theirs cannot loosen, and defaults.

For `tradewatch_reader` (Tableau) and `tradewatch_api` (GraphQL):

* the guards (a session cannot change them):
  - `CONNECTION LIMIT` (reader 16, api 32: two API workers of 8 pooled connections, twice over);
  - `temp_file_limit` (reader 1 GB, api 256 MB): a query spilling more to disk is cancelled;
    only a superuser may set it, so the role's value holds in every session;
  - no `TEMPORARY` on this database: no temporary tables. PostgreSQL grants TEMPORARY to
    PUBLIC, and a privilege cannot be taken from one role while PUBLIC holds it, so it is
    revoked from PUBLIC here and granted back to the role running the migrations (the
    ingestion stages raw rows in a temporary table); the database owner keeps it anyway;
  - no `CONNECT` on the maintenance databases `postgres` and `template1` (revoked from
    PUBLIC there too; the migrating role keeps it, superusers always have it), unless the
    warehouse is one of them: its own database stays open to the roles. Other
    databases on the server are not TradeWatch's to change: a WARNING names those the
    roles can still reach through PUBLIC.
* defaults (a session may change them; the privileges above and the read-only grants of
  0003/0004 are the real guard): `default_transaction_read_only = on`, `statement_timeout`
  (reader 60 s, api 10 s; the API also sets its own per connection) and
  `idle_in_transaction_session_timeout` 60 s.

Roles are cluster-wide, so the role settings apply on every database of the server. What
needs a superuser (temp_file_limit, the other databases) or the database's owner (TEMPORARY)
is skipped with a WARNING when the migrating role is neither, as in 0005.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

MAINTENANCE_DATABASES = ("postgres", "template1")
# role -> (connection limit, temp_file_limit, statement_timeout)
LIMITS = {"tradewatch_reader": (16, "1GB", "60s"), "tradewatch_api": (32, "256MB", "10s")}
IDLE_IN_TRANSACTION = "60s"


def _upgrade_sql() -> str:
    roles = ", ".join(LIMITS)
    per_role = "\n".join(f"""
            EXECUTE 'ALTER ROLE {role} CONNECTION LIMIT {limit}';
            EXECUTE 'ALTER ROLE {role} SET default_transaction_read_only = on';
            EXECUTE 'ALTER ROLE {role} SET statement_timeout = ''{timeout}''';
            EXECUTE 'ALTER ROLE {role} SET idle_in_transaction_session_timeout = ''{IDLE_IN_TRANSACTION}''';
            IF is_super THEN
                EXECUTE 'ALTER ROLE {role} SET temp_file_limit = ''{temp}''';
            END IF;""" for role, (limit, temp, timeout) in LIMITS.items())
    maintenance = ", ".join(f"'{name}'" for name in MAINTENANCE_DATABASES)
    return f"""
        DO $$
        DECLARE
            is_super boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
            is_owner boolean := pg_has_role(current_user,
                (SELECT datdba FROM pg_database WHERE datname = current_database()), 'USAGE');
            other record;
            open_count bigint;
            open_names text;
        BEGIN
            {per_role}
            IF NOT is_super THEN
                RAISE WARNING 'not a superuser: temp_file_limit of {roles} not set and their CONNECT on % '
                              'not revoked (run the TradeWatch migrations as a superuser for that)', '{", ".join(MAINTENANCE_DATABASES)}';
            END IF;

            IF is_super OR is_owner THEN
                EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO %I', current_database(), current_user);
                EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC, {roles}', current_database());
                EXECUTE format('GRANT CONNECT ON DATABASE %I TO {roles}', current_database());
            ELSE
                RAISE WARNING 'not the owner of database %: {roles} may still create temporary tables in it',
                              current_database();
            END IF;

            IF is_super THEN
                -- the warehouse itself may be one of them (`postgres`, the default database of most
                -- servers): the roles keep CONNECT on it, granted above
                FOR other IN SELECT datname FROM pg_database
                              WHERE datname IN ({maintenance}) AND datname <> current_database() LOOP
                    EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', other.datname, current_user);
                    EXECUTE format('REVOKE CONNECT ON DATABASE %I FROM PUBLIC, {roles}', other.datname);
                END LOOP;
                -- other databases: not ours to change; say which ones the roles still reach
                SELECT count(*), string_agg(datname, ', ' ORDER BY datname) FILTER (WHERE n <= 5)
                  INTO open_count, open_names
                  FROM (SELECT datname, row_number() OVER (ORDER BY datname) AS n FROM pg_database
                         WHERE datallowconn AND datname <> current_database()
                           AND datname NOT IN ({maintenance})
                           AND has_database_privilege('public', oid, 'CONNECT')) open_databases;
                IF open_count > 0 THEN
                    RAISE WARNING '% other database(s) (%) are open to PUBLIC: {roles} can connect to them '
                                  '(REVOKE CONNECT ... FROM PUBLIC there if nothing relies on it)', open_count, open_names;
                END IF;
            END IF;
        END
        $$
    """


def upgrade() -> None:
    op.execute(_upgrade_sql())


def downgrade() -> None:
    roles = ", ".join(LIMITS)
    resets = "\n".join(f"""
            EXECUTE 'ALTER ROLE {role} CONNECTION LIMIT -1';
            EXECUTE 'ALTER ROLE {role} RESET statement_timeout';
            EXECUTE 'ALTER ROLE {role} RESET idle_in_transaction_session_timeout';
            IF is_super THEN
                EXECUTE 'ALTER ROLE {role} RESET temp_file_limit';
            END IF;""" for role in LIMITS)
    # default_transaction_read_only of tradewatch_api is 0004's: only the reader's is reset
    maintenance = ", ".join(f"'{name}'" for name in MAINTENANCE_DATABASES)
    op.execute(f"""
        DO $$
        DECLARE
            is_super boolean := (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
            other record;
        BEGIN
            {resets}
            EXECUTE 'ALTER ROLE tradewatch_reader RESET default_transaction_read_only';
            EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO PUBLIC', current_database());
            IF is_super THEN
                FOR other IN SELECT datname FROM pg_database WHERE datname IN ({maintenance}) LOOP
                    EXECUTE format('GRANT CONNECT ON DATABASE %I TO PUBLIC', other.datname);
                END LOOP;
            END IF;
        END
        $$
    """)
