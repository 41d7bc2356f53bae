"""TradeWatch core: settings, warehouse, trade-API client and the pure market math.

Nothing in this package imports Dagster, Strawberry or the simulator; the code
location (`tradewatch_assets`) and the API (`graphql_api`) both stand on it.
"""

__version__ = "0.1.0"
