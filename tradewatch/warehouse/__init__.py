"""The PostgreSQL warehouse, settings-free: connections and URL forms (`db`), migrations
(`migrate` + the Alembic tree), roles, the embedded server and the derived-table writers
(`snapshots`, `profitability`)."""
