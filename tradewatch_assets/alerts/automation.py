"""Declarative automation of `price_alerts`: evaluated on its own sensor, RUNNING by default,
so each hour's crossings are computed (and delivered) as soon as its prices land."""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

from tradewatch_assets.alerts.assets import price_alerts

alerts_automation_sensor = AutomationConditionSensorDefinition(
    "price_alerts_automation",
    target=AssetSelection.assets(price_alerts),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)
