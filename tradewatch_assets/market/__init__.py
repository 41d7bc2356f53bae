"""Derived market assets: hourly price snapshots (silver) and reroll profitability (gold)."""
