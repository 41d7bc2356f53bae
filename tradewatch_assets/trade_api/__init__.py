"""The source: the PoE bulk-exchange API, fetched hourly into raw (bronze) responses."""
