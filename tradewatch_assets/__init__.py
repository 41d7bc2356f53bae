"""The Dagster code location of TradeWatch (see definitions.py)."""

import warnings

from dagster import BetaWarning

# The single-run backfill policy is beta and chosen on purpose (see market/): its warning,
# raised when the asset modules are imported, would only bury the useful log lines of every
# Dagster process.
warnings.filterwarnings("ignore", category=BetaWarning)
