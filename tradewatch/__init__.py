"""TradeWatch core, grouped by idea:

* `market/` — the pure math: order-book pricing, the reroll strategy and a strategy over a
  window of hours (no I/O);
* `bulk_exchange/` — the trade site's bulk exchange as a source: client, ingestion of an
  hour, raw archive, item catalogue;
* `warehouse/` — the PostgreSQL warehouse, settings-free: connections, migrations, roles,
  the embedded server, the derived-table writers;
* `settings.py` (the one loader), `database.py` (configured or embedded server),
  `watchlist.py`, `rate_limit.py` (the header-driven limiter every GGG host goes through),
  `hours.py`, `errors.py`;
* `cli/` — the `tradewatch` command and what only it uses (the local process supervisor,
  the Dagster webserver client, simulated history).

Outside `cli/`, nothing here imports Dagster, Strawberry, Starlette or the simulator; the
code location (`tradewatch_assets`) and the API (`graphql_api`) both stand on it. The rules
are checked by `lint-imports` (pyproject.toml) in the test command.
"""

__version__ = "0.1.0"
