"""The market overview's math (pure; no I/O): 24-hour windows, prices, changes, confidence."""
