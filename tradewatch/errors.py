"""The one exception type the user sees: a message that says what was wrong and what to do."""


class TradeWatchError(Exception):
    """An error whose message is written for the user (no stack trace needed to act on it)."""


class ConfigError(TradeWatchError):
    """A setting, the watchlist or another input file is wrong."""
