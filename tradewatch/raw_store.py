"""Bronze storage: raw trade responses, kept verbatim, one per item and hour, never changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb

from tradewatch.trade_client import ExchangeResponse


@dataclass(frozen=True)
class RawKey:
    game: str
    league: str
    paid_with: str


def stored_items(conn, key: RawKey, hour: datetime) -> set[str]:
    rows = conn.execute(
        "SELECT item_id FROM warehouse.raw_trade_responses "
        "WHERE game = %s AND league = %s AND paid_with = %s AND observed_hour = %s",
        (key.game, key.league, key.paid_with, hour),
    ).fetchall()
    return {r[0] for r in rows}


def insert_response(conn, key: RawKey, hour: datetime, item_id: str, response: ExchangeResponse,
                    simulated: bool = False) -> bool:
    """Store one response; False when the item's hour was already stored (it is never replaced)."""
    row = conn.execute(
        """
        INSERT INTO warehouse.raw_trade_responses
            (game, league, observed_hour, item_id, paid_with, request_path, request_body, status_code,
             response_body, rate_limit_headers, fetched_at, duration_ms, attempt, response_bytes, simulated)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT ON CONSTRAINT raw_one_response_per_item_hour DO NOTHING
        RETURNING id
        """,
        (key.game, key.league, hour, item_id, key.paid_with, response.request_path, Jsonb(response.request_body),
         response.status_code, Jsonb(response.body), Jsonb(response.rate_limit_headers), response.fetched_at,
         response.duration_ms, response.attempt, response.response_bytes, simulated),
    ).fetchone()
    return row is not None
