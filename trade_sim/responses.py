"""Response helpers shared by the trade API and the Currency Exchange routes: GGG's error
envelope, compact JSON, and the answer an injected fault replaces the real one with."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from .faults import FaultDraw, cloudflare_page, gateway_page

__all__ = ["JSON_TYPE", "dumps", "error_body", "fault_response", "json_response"]

JSON_TYPE = "application/json"


def dumps(obj: Any) -> bytes:
    """Compact JSON, as GGG's servers write it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def error_body(code: int, message: str) -> bytes:
    """The API's error envelope `{"error":{"code":N,"message":"..."}}`."""
    return dumps({"error": {"code": code, "message": message}})


def json_response(body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(body, status_code=status, headers=headers, media_type=JSON_TYPE)


def fault_response(fault: FaultDraw, rl_headers: dict[str, str], ray_seed: str) -> Response | None:
    """The answer replacing the real one for a Cloudflare / 5xx / spurious-429 fault, else None.

    Truncated JSON is left to the caller (it needs the real body).
    """
    kind = fault.kind
    if kind == "cloudflare_403":
        # Cloudflare answers before the origin: no rate-limit headers, HTML body.
        return Response(
            cloudflare_page(ray_seed), status_code=403, media_type="text/html",
            headers={"Server": "cloudflare", "cf-mitigated": "challenge",
                     "Cache-Control": "private, max-age=0, no-store, no-cache, must-revalidate"},
        )
    if kind == "5xx":
        status = fault.status_5xx
        if status in (502, 504):
            return Response(gateway_page(status, ray_seed), status_code=status,
                            media_type="text/html", headers={"Server": "cloudflare"})
        if status == 503:
            return json_response(error_body(7, "Service temporarily unavailable"), 503, rl_headers)
        return json_response(error_body(4, "Internal error"), 500, rl_headers)
    if kind == "spurious_429":
        # Real servers sometimes answer 429 without the X-Rate-Limit headers.
        return json_response(error_body(3, "Rate limit exceeded"), 429,
                             {"Retry-After": str(fault.retry_after)})
    return None
