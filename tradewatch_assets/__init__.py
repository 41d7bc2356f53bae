"""The Dagster code location of TradeWatch (see definitions.py)."""

import warnings

from dagster import BetaWarning, SupersessionWarning

# The single-run backfill policy is beta and the partition freshness checks are superseded;
# both are chosen on purpose (see market/), so their warnings, raised when the asset modules
# are imported, would only bury the useful log lines of every Dagster process.
warnings.filterwarnings("ignore", category=BetaWarning)
warnings.filterwarnings("ignore", category=SupersessionWarning)
