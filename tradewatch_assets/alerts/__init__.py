"""The `price_alerts` asset: alert rules evaluated hour by hour and delivered to webhooks."""
