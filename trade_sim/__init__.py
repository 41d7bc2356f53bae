"""trade_sim: a local stand-in for the Path of Exile bulk-exchange trade API.

It answers like the real service (response shape, rate-limit headers and 429s,
validation errors, Cloudflare pages and other faults) from a deterministic market
model, so clients can be tested offline and history can be generated without HTTP.
Self-contained: imports nothing from the rest of the project.
"""

from .app import create_app
from .config import SimConfig
from .market import ESSENCE_FAMILY_DEAFENING, exchange_response, order_book, price_level
from .server import PortInUseError, SimServer, serve

__all__ = [
    "ESSENCE_FAMILY_DEAFENING",
    "PortInUseError",
    "SimConfig",
    "SimServer",
    "create_app",
    "exchange_response",
    "order_book",
    "price_level",
    "serve",
]
