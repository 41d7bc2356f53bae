"""Command line: `python -m trade_sim --port 8090 [--time-scale 0.02] [--error-5xx-rate 0.1] ...`.

Every SimConfig field is an option (`--<field-with-dashes>`); TRADE_SIM_* environment
variables give the defaults. The same server answers the trade API and the Currency
Exchange history feed (`--cx-*` knobs; TRADEWATCH_CX_URL=http://127.0.0.1:<port>/api/currency-exchange).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from .config import SimConfig, parse_field
from .server import PortInUseError, serve


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m trade_sim",
        description=(
            "Local simulator of the Path of Exile bulk-exchange trade API (/api/trade/...) and of "
            "GGG's Currency Exchange history feed (/api/currency-exchange[/<realm>][/<id>], "
            "/oauth/token; the --cx-* options)."
        ),
    )
    parser.add_argument("--port", type=int, default=8090, help="port to listen on (0 = any free)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    for field in dataclasses.fields(SimConfig):
        # Secrets (repr=False fields) do not show their default.
        default = f"default {field.default!r}" if field.repr else "secret"
        parser.add_argument(
            "--" + field.name.replace("_", "-"), dest=field.name, default=None, metavar="VALUE",
            help=f"SimConfig.{field.name} ({default})",
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {}
    for field in dataclasses.fields(SimConfig):
        raw = getattr(args, field.name)
        if raw is not None:
            try:
                overrides[field.name] = parse_field(field.name, raw)
            except ValueError as exc:
                print(f"error: --{field.name.replace('_', '-')}: {exc}", file=sys.stderr)
                return 2
    try:
        config = SimConfig.from_env(**overrides)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        serve(args.port, host=args.host, config=config)
    except PortInUseError as exc:
        print(f"error: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
