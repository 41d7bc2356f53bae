"""trade_sim: a local stand-in for both Path of Exile market sources.

- The bulk-exchange trade API (`POST /api/trade/exchange/<league>`): it answers like the
  real service (response shape, rate-limit headers and 429s, validation errors, Cloudflare
  pages and other faults) from a deterministic market model (`market`).
- GGG's Currency Exchange history feed (`GET /api/currency-exchange[/<realm>][/<id>]` and
  `POST /oauth/token`, see `cx_api`): one hourly document of every market of every league
  in the real wire shape (`currency_exchange`), priced from the same model so both sources
  move together, with the feed's 404 / empty / stale / unaligned cases.

Clients can be tested offline, and history can be generated without HTTP
(`order_book`, `exchange_response`, `currency_exchange_document`).
Self-contained: imports nothing from the rest of the project.
"""

from .app import create_app
from .config import SimConfig
from .currency_exchange import currency_exchange_document
from .market import ESSENCE_FAMILY_DEAFENING, exchange_response, order_book, price_level
from .server import PortInUseError, SimServer, serve

__all__ = [
    "ESSENCE_FAMILY_DEAFENING",
    "PortInUseError",
    "SimConfig",
    "SimServer",
    "create_app",
    "currency_exchange_document",
    "exchange_response",
    "order_book",
    "price_level",
    "serve",
]
