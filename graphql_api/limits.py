"""Every limit the API enforces, in one place, so the SDL docs and the checks agree."""

from __future__ import annotations

from datetime import timedelta

from strawberry.extensions import MaxAliasesLimiter, MaxTokensLimiter, QueryDepthLimiter

MAX_DEPTH = 8
MAX_ALIASES = 20
MAX_TOKENS = 2000

DEFAULT_RANGE = timedelta(hours=24)
# Paged fields can read any range, a page at a time; aggregates and per-hour answers are capped.
MAX_PAGED_RANGE = timedelta(days=3 * 366)
MAX_COVERAGE_RANGE = timedelta(days=93)
MAX_EVALUATE_RANGE = timedelta(days=31)
MAX_SERIES_POINTS = 2500       # buckets per item in one priceSeries answer
MAX_SERIES_ITEMS = 50

DEFAULT_PAGE = 100
MAX_PAGE = 500
DEFAULT_RAW_PAGE = 10
MAX_RAW_PAGE = 50              # raw bodies are ~40 kB each

LOW_CONFIDENCE_LISTINGS = 5    # fewer listings than this: the price is flagged low-confidence


def limiter_extensions() -> list:
    # factories, not instances: an instance would be shared by concurrent requests
    return [
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
    ]
