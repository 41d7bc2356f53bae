"""Daily Parquet dumps of the warehouse (tradewatch.dumps), per realm."""
