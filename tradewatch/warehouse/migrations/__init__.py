"""Alembic migrations of the warehouse schema (applied by `tradewatch db upgrade`)."""
