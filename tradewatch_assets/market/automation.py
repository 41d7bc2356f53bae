"""Declarative automation of the derived assets, on by default.

`price_snapshots` and `reroll_profitability` carry `AutomationCondition.eager()`: when
the raw partition of the current hour lands, its snapshots are requested, then its
profitability. This sensor evaluates those conditions (every 30 s by default) and is
RUNNING from the start, so each hour's derived rows appear within minutes of the raw
fetch without anyone clicking.
"""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

from tradewatch_assets.market.assets import price_snapshots, reroll_profitability

derived_automation_sensor = AutomationConditionSensorDefinition(
    "derived_assets_automation",
    target=AssetSelection.assets(price_snapshots, reroll_profitability),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
