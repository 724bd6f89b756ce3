"""``propensity quickstart``: the newcomer's one command (train, register, serve)."""

from __future__ import annotations

import argparse
import sys

from propensity.cli import command, train_and_register
from propensity.commands.serve import add_clock_args, clock_from_args
from propensity.constants import API_VERSIONS


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--registry", default=None, help="registry location ($PROPENSITY_REGISTRY)")
    parser.add_argument("--data", default=None, help="bank.zip or bank-full.csv ($BANK_MARKETING_DATA)")
    parser.add_argument("--no-serve", action="store_true", help="stop after training and registering")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    add_clock_args(parser)


@command("quickstart", "train and register v1 and v2 models, then serve both locally", _configure)
def _quickstart(args: argparse.Namespace) -> int:
    from propensity.registry.factory import open_registry

    try:
        clock_from_args(args)  # checked before training: a typo should not cost a training run
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    registry = open_registry(args.registry)
    for api in API_VERSIONS:
        if registry.alias(api, "champion") is None:
            train_and_register(api, args.registry, args.data, make_champion_if_none=True)
        else:
            print(f"{api}: champion {registry.alias(api, 'champion')} already registered (skip training)")
    if args.no_serve:
        return 0
    from propensity.service.server import serve

    # The clock starts when serving starts, not when training did.
    serve(registry_location=args.registry, host=args.host, port=args.port, clock=clock_from_args(args))
    return 0
