"""The Dagster code location of TradeWatch (`tradewatch_assets.definitions:defs`)."""
