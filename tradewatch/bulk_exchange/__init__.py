"""The trade site's bulk exchange as a source: the HTTP client, the ingestion of one hour's
order books, the raw archive and the trade site's item catalogue."""
