"""The source: GGG's Currency Exchange history, one document per realm and hour, backfillable."""
