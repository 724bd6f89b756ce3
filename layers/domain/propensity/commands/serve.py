"""``propensity serve``: serve the registry's v1 and v2 champions locally (no training).

propensity serve                                 # real time
propensity serve --clock 2h-ago                  # replays land in ended hours: the jobs judge them at once
propensity serve --clock 1d-ago --clock-speed 60 # a replay spread over the hours (a minute a second)
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from propensity.cli import command

if TYPE_CHECKING:
    from propensity.service.server import ReplayClock


def add_clock_args(parser: argparse.ArgumentParser) -> None:
    """``--clock`` and ``--clock-speed`` (``serve`` and ``quickstart``)."""
    parser.add_argument(
        "--clock",
        default=None,
        help="stamp requests from this past moment on (2h-ago, 90m-ago, 1d-ago or an ISO time), so replayed "
        "traffic lands in hours that have ended and `propensity drift` judges it at once",
    )
    parser.add_argument(
        "--clock-speed",
        type=float,
        default=1.0,
        help="with --clock: event time runs this many times faster than real time (default 1; "
        "never past the real clock)",
    )


def clock_from_args(args: argparse.Namespace) -> ReplayClock | None:
    """The replay clock the arguments ask for (``None``: real time); ``ValueError`` says what is wrong."""
    from propensity.service.server import ReplayClock, parse_clock_start

    if args.clock is None:
        if args.clock_speed != 1.0:
            raise ValueError("--clock-speed needs --clock (the moment the replay clock starts from)")
        return None
    return ReplayClock(parse_clock_start(args.clock, datetime.now(UTC)), args.clock_speed)


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
    add_clock_args(parser)


@command("serve", "serve the v1 and v2 champions on 127.0.0.1 (docs at /docs)", _configure)
def _serve(args: argparse.Namespace) -> int:
    from propensity.service.server import serve

    if args.reload_interval <= 0:
        print("error: --reload-interval must be positive", file=sys.stderr)
        return 2
    try:
        clock = clock_from_args(args)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    serve(
        registry_location=args.registry,
        host=args.host,
        port=args.port,
        reload_interval_s=args.reload_interval,
        clock=clock,
    )
    return 0
