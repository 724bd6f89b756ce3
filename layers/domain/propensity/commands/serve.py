"""``propensity serve``: serve the registry's v1 and v2 champions locally (no training)."""

from __future__ import annotations

import argparse

from propensity.cli import command


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", default=None, help="registry location ($PROPENSITY_REGISTRY)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)


@command("serve", "serve the v1 and v2 champions on 127.0.0.1 (docs at /docs)", _configure)
def _serve(args: argparse.Namespace) -> int:
    from propensity.service.server import serve

    serve(registry_location=args.registry, host=args.host, port=args.port)
    return 0
