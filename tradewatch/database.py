"""Where the warehouse is: the configured `TRADEWATCH_DATABASE_URL`, else the embedded
PostgreSQL under `TRADEWATCH_HOME` (started on demand)."""

from __future__ import annotations

from tradewatch.settings import Settings
from tradewatch.warehouse.db import libpq_url
from tradewatch.warehouse.embedded_pg import EmbeddedPostgres


def embedded_server(settings: Settings) -> EmbeddedPostgres:
    return EmbeddedPostgres(pgdata=settings.home / "pg", port=settings.embedded_pg_port)


def resolve_database_url(settings: Settings, start_embedded: bool = True) -> str:
    """The warehouse URL: the configured one, else the embedded server's (started if needed)."""
    if settings.database_url:
        return libpq_url(settings.database_url)
    server = embedded_server(settings)
    if start_embedded:
        server.start()
    return server.url()
