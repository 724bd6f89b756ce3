"""One command-line entry point for training and the model lifecycle: ``propensity <command>``.

Run ``propensity --help`` for the list. Each command is a thin wrapper over a library
function, so the same steps can be scripted or run from CI.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from propensity.constants import ALIASES, API_VERSIONS, Alias, ApiVersion

Handler = Callable[[argparse.Namespace], int]
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def command(
    name: str, help_text: str, configure: Callable[[argparse.ArgumentParser], None]
) -> Callable[[Handler], Handler]:
    """Register a sub-command (lets other modules add theirs without editing a big switch)."""

    def decorator(handler: Handler) -> Handler:
        COMMANDS[name] = (help_text, configure, handler)
        return handler

    return decorator


def _api(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", choices=API_VERSIONS, default="v1", help="API schema version")


def _registry_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--registry",
        default=None,
        help="registry location: a folder or s3://bucket/prefix ($PROPENSITY_REGISTRY)",
    )


def _print_metrics(manifest: Any) -> None:
    for name, split in manifest.metrics.items():
        m = split.overall
        print(
            f"  {name:<13} ROC AUC {m.roc_auc:.3f}  PR AUC {m.pr_auc:.3f}  F1 {m.f1:.3f}  "
            f"precision {m.precision:.3f}  recall {m.recall:.3f}  Brier {m.brier:.4f}  ECE {m.ece:.4f}"
        )


def train_and_register(
    api: ApiVersion,
    registry_location: str | None,
    data: str | None,
    make_champion_if_none: bool,
    config_path: str | None = None,
    backtest_months: int | None = None,
    jobs: int = 1,
) -> Any:
    """Train a bundle (config: ``config_path`` or the API's committed default), register it,
    and (optionally) make it champion when none is set. ``backtest_months`` None: the config's."""
    from propensity.data.loader import load_bank_marketing
    from propensity.registry.factory import open_registry
    from propensity.training.config import load_config
    from propensity.training.train import train_bundle

    config = load_config(config_path, api)
    months = config.backtest.months if backtest_months is None else backtest_months
    dataset = load_bank_marketing(Path(data) if data else None)
    registry = open_registry(registry_location)
    with tempfile.TemporaryDirectory() as scratch:
        result = train_bundle(
            dataset, api, Path(scratch), config=config, backtest_months=months, backtest_jobs=jobs
        )
        version = result.manifest.model_version
        if any(m.model_version == version for m in registry.versions(api)):
            # The version derives from the trees, the config hash and the training rows: the
            # same config on the same data reproduces the same model, which is already there.
            print(
                f"{api}: {version} is already registered: config {config.name} "
                f"({config.sha256[:12]}) on the same data reproduces it; train with another "
                "--config or on new data (propensity retrain) to get a challenger"
            )
            return registry.manifest(api, version)
        manifest = registry.register(result.bundle_path)
    print(f"{api}: registered {manifest.model_version} in {registry.store.location}")
    _print_metrics(manifest)
    if make_champion_if_none and registry.alias(api, "champion") is None:
        registry.set_alias(api, "champion", manifest.model_version, reason="first model of this API version")
        print(f"{api}: {manifest.model_version} is now champion")
    return manifest


def _configure_train(parser: argparse.ArgumentParser) -> None:
    _api(parser)
    _registry_arg(parser)
    parser.add_argument("--data", default=None, help="bank.zip or bank-full.csv ($BANK_MARKETING_DATA)")
    parser.add_argument(
        "--champion-if-none", action="store_true", help="make it champion if the API version has none yet"
    )
    parser.add_argument(
        "--config", default=None, help="training config TOML (default: the API's committed one)"
    )
    parser.add_argument(
        "--backtest-months",
        type=int,
        default=None,
        help="backtest months to record (default: config's; 0: none)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="backtest months trained in parallel")


@command("train", "train a model for an API version and register it", _configure_train)
def _train(args: argparse.Namespace) -> int:
    train_and_register(
        args.api,
        args.registry,
        args.data,
        args.champion_if_none,
        args.config,
        args.backtest_months,
        args.jobs,
    )
    return 0


def _configure_list(parser: argparse.ArgumentParser) -> None:
    _api(parser)
    _registry_arg(parser)


@command("list", "list registered model versions and aliases", _configure_list)
def _list(args: argparse.Namespace) -> int:
    from propensity.promotion.approvals import approvals
    from propensity.registry.factory import open_registry

    registry = open_registry(args.registry)
    aliases = {a: registry.alias(args.api, a) for a in ALIASES}
    for manifest in registry.versions(args.api):
        tags = [a for a, v in aliases.items() if v == manifest.model_version]
        gate = manifest.gate_metrics.overall
        approved = bool(approvals(registry, args.api, manifest.model_version))
        print(
            f"{manifest.model_version}  created {manifest.created_at:%Y-%m-%d %H:%M}  "
            f"ROC AUC {gate.roc_auc:.3f}  F1 {gate.f1:.3f}  approved={approved}  {' '.join(tags)}"
        )
    return 0


def _configure_alias(parser: argparse.ArgumentParser) -> None:
    _api(parser)
    _registry_arg(parser)
    parser.add_argument("alias", choices=ALIASES)
    parser.add_argument("version", nargs="?", help="model version to point at; omit to show")
    parser.add_argument("--reason", default="", help="why (recorded in the alias history)")
    parser.add_argument(
        "--cdk-json", type=Path, default=Path("cdk.json"), help="stages that use this registry"
    )
    parser.add_argument("--rollback", action="store_true", help="champion back to a former champion")
    parser.add_argument(
        "--break-glass",
        action="store_true",
        help="incident path: any intact version, recorded as break-glass and alerted (critical)",
    )


@command(
    "alias", "show or move the champion/challenger alias (through the promotion policy)", _configure_alias
)
def _alias(args: argparse.Namespace) -> int:
    from propensity.promotion.policy import move_alias
    from propensity.promotion.stage import registry_requires_approval
    from propensity.registry.factory import open_registry

    registry = open_registry(args.registry)
    if args.version is None:
        print(registry.alias(args.api, cast(Alias, args.alias)) or "(unset)")
        return 0
    if not args.reason:
        print("error: --reason is required when moving an alias", file=sys.stderr)
        return 2
    move = move_alias(
        registry,
        args.api,
        args.alias,
        args.version,
        reason=args.reason,
        require_approval=registry_requires_approval(args.cdk_json, registry.store.location),
        rollback=args.rollback,
        break_glass=args.break_glass,
    )
    print(f"{args.api} {args.alias}: {move.previous_version} -> {move.model_version} ({move.rule})")
    return 0


def _configure_history(parser: argparse.ArgumentParser) -> None:
    _configure_list(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object per move (for scripts)")


@command("history", "show the alias history of an API version", _configure_history)
def _history(args: argparse.Namespace) -> int:
    from propensity.registry.factory import open_registry

    moves = open_registry(args.registry).history(args.api)
    if args.json:
        for move in moves:
            print(json.dumps(move.model_dump(mode="json")))
        return 0
    if not moves:
        print(f"no alias moves for {args.api}")
        return 0
    rows = [
        (
            f"{m.at:%Y-%m-%d %H:%M:%S}",
            m.alias,
            m.previous_version or "-",
            m.model_version or "(cleared)",
            m.actor,
            m.reason,
        )
        for m in moves
    ]
    header = ("when (UTC)", "alias", "from", "to", "by", "reason")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        print("  ".join(f"{cell:<{w}}" for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1])
    return 0


def build_parser() -> argparse.ArgumentParser:
    _load_plugins()
    parser = argparse.ArgumentParser(prog="propensity", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, configure, handler) in sorted(COMMANDS.items()):
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        configure(sub_parser)
        sub_parser.set_defaults(handler=handler)
    return parser


# Modules that add their own commands with @command; imported lazily so `--help` stays fast
# and a missing optional dependency only breaks its own command.
PLUGIN_MODULES: tuple[str, ...] = ("propensity.commands",)


def _load_plugins() -> None:
    import importlib

    for module in PLUGIN_MODULES:
        importlib.import_module(module)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except (RuntimeError, ValueError, KeyError, OSError) as error:
        # OSError: a path that does not exist or cannot be read is the caller's mistake too.
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
