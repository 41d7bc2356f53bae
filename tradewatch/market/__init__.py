"""The pure market math: order-book pricing (`pricing`) and the reroll strategy
(`strategy`). No I/O: no database, no HTTP, no settings."""
