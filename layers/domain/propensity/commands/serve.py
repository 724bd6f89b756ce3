"""``propensity serve``: serve the registry's v1 and v2 champions locally (no training)."""

from __future__ import annotations

import argparse

from propensity.cli import command


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", default=None, help="registry location ($PROPENSITY_REGISTRY)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--reload-interval",
        type=float,
        default=2.0,
        help="seconds between reads of the champion aliases (hot reload; default 2)",
    )


@command("serve", "serve the v1 and v2 champions on 127.0.0.1 (docs at /docs)", _configure)
def _serve(args: argparse.Namespace) -> int:
    from propensity.service.server import serve

    if args.reload_interval <= 0:
        print("error: --reload-interval must be positive")
        return 2
    serve(
        registry_location=args.registry,
        host=args.host,
        port=args.port,
        reload_interval_s=args.reload_interval,
    )
    return 0
