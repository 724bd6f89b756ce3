"""Promotion commands: ``gate``, ``challenger``, ``approve``, ``promote``, ``rollback``, ``registry``.

Step 1 of the workflow (train and register a challenger) is ``propensity train``; the steps
are walked through in docs/promotion.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from propensity.cli import command
from propensity.constants import API_VERSIONS

GATE_FAILED_EXIT = 3  # distinct from 1 (an error): CI can tell "refused" from "broken"
DEFAULT_REPORT_DIR = Path(".local/reports/gate")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", choices=API_VERSIONS, default="v1", help="API schema version")
    parser.add_argument(
        "--registry",
        default=None,
        help="registry location: a folder or s3://bucket/prefix ($PROPENSITY_REGISTRY)",
    )


def _cdk_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cdk-json", type=Path, default=Path("cdk.json"), help="the CDK app's cdk.json")


@contextmanager
def _aws_errors() -> Iterator[None]:
    """AWS SDK failures as one clear line (the CLI prints RuntimeErrors without a traceback)."""
    try:
        yield
    except Exception as error:
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(error, BotoCoreError | ClientError):
            raise RuntimeError(f"AWS call failed: {error}") from error
        raise


# Step 2: the gate --------------------------------------------------------------------------------


def _configure_gate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", help="the registered challenger's model version")
    _common(parser)
    _cdk_json(parser)
    parser.add_argument("--champion", default=None, help="compare with this version instead of the champion")
    parser.add_argument("--data", default=None, help="bank.zip or bank-full.csv ($BANK_MARKETING_DATA)")
    parser.add_argument("--stage", default=None, help="use this stage's gate thresholds from cdk.json")
    parser.add_argument(
        "--seed", type=int, default=None, help="bootstrap seed (default: fixed, reproducible)"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_REPORT_DIR, help="where the JSON and Markdown go")
    parser.add_argument("--no-record", action="store_true", help="do not record the verdict in the registry")


@command("gate", "judge a registered challenger against the champion; record the verdict", _configure_gate)
def _gate(args: argparse.Namespace) -> int:
    from propensity.data.loader import load_bank_marketing
    from propensity.gate.record import write_reports
    from propensity.gate.run import DEFAULT_SEED
    from propensity.policy.gate import GateThresholds
    from propensity.promotion.stage import stage_block
    from propensity.promotion.workflow import gate_registered
    from propensity.registry.factory import open_registry

    thresholds = (
        GateThresholds.model_validate(stage_block(args.cdk_json, args.stage).get("gate", {}))
        if args.stage
        else GateThresholds()
    )
    registry = open_registry(args.registry)
    dataset = load_bank_marketing(Path(args.data) if args.data else None)
    report = gate_registered(
        registry,
        args.api,
        args.version,
        dataset,
        thresholds=thresholds,
        seed=DEFAULT_SEED if args.seed is None else args.seed,
        champion_version=args.champion,
        record=not args.no_record,
    )
    json_path, markdown_path = write_reports(report, args.out)
    verdict = "PASSED" if report.passed else "FAILED"
    print(
        f"{args.api} gate {verdict}: challenger {report.challenger_version} vs champion "
        f"{report.champion_version} ({report.holdout_rows} holdout rows, {report.seconds:.1f} s)"
    )
    for c in report.overall:
        print(
            f"  {c.metric:<8} champion {c.champion:.4f}  challenger {c.challenger:.4f}  "
            f"difference {c.difference:+.4f}  CI [{c.ci_low:+.4f}, {c.ci_high:+.4f}]"
        )
    for failure in report.failures():
        print(f"  FAIL {failure.kind}: {failure.name} ({failure.detail})")
    print(f"  report: {markdown_path}\n  json:   {json_path}")
    if not args.no_record:
        print(f"  verdict recorded in the registry (a sealed gate record of {report.challenger_version})")
    return 0 if report.passed else GATE_FAILED_EXIT


# Step 3: shadow it ------------------------------------------------------------------------------


def _configure_challenger(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", nargs="?", help="model version to shadow; omit to show the current one")
    _common(parser)
    parser.add_argument("--clear", action="store_true", help="stop shadowing (clear the alias)")
    parser.add_argument("--reason", default="", help="why (recorded in the alias history)")
    parser.add_argument(
        "--allow-failed-gate",
        action="store_true",
        help="shadow a model that failed the gate (diagnosis only)",
    )


@command("challenger", "show or set the challenger the shadow scorer runs", _configure_challenger)
def _challenger(args: argparse.Namespace) -> int:
    from propensity.promotion.workflow import set_challenger
    from propensity.registry.factory import open_registry

    registry = open_registry(args.registry)
    if args.version is None and not args.clear:
        print(registry.alias(args.api, "challenger") or "(unset)")
        return 0
    if not args.reason:
        print("error: --reason is required when moving an alias", file=sys.stderr)
        return 2
    move = set_challenger(
        registry,
        args.api,
        None if args.clear else args.version,
        reason=args.reason,
        allow_failed_gate=args.allow_failed_gate,
    )
    print(f"{args.api} challenger: {move.previous_version} -> {move.model_version}")
    if move.model_version:
        print(
            "  the shadow scorer loads it on its next batch (no deploy needed); compare both models on "
            f"real traffic before approving: `propensity shadow-report --api {args.api} --from ... --to ...`"
        )
    return 0


# Step 4: approve ---------------------------------------------------------------------------------


def _configure_approve(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", help="model version to approve")
    _common(parser)
    parser.add_argument("--approver", required=True, help="the approving person's name")
    parser.add_argument("--note", default="", help="a note for the record")
    parser.add_argument(
        "--reviewed",
        action="append",
        default=[],
        help="what was reviewed (repeatable), e.g. a shadow report; the gate record is always named",
    )


@command("approve", "record a named person's approval to ship a model", _configure_approve)
def _approve(args: argparse.Namespace) -> int:
    from propensity.promotion.workflow import approve
    from propensity.registry.factory import open_registry

    approval = approve(
        open_registry(args.registry),
        args.api,
        args.version,
        approver=args.approver,
        note=args.note,
        reviewed=args.reviewed,
    )
    print(
        f"{args.api} model {args.version} approved by {approval.approver} at {approval.at:%Y-%m-%d %H:%M} UTC"
    )
    for item in approval.reviewed:
        print(f"  reviewed: {item}")
    return 0


def _configure_approvals(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", help="model version")
    _common(parser)


@command("approvals", "list a model version's approvals, one per line", _configure_approvals)
def _approvals(args: argparse.Namespace) -> int:
    from propensity.promotion.approvals import approvals
    from propensity.registry.factory import open_registry

    registry = open_registry(args.registry)
    registry.manifest(args.api, args.version)  # unknown or tampered versions are an error, not "none"
    for approval in approvals(registry, args.api, args.version):
        reviewed = "; ".join(approval.reviewed) or "-"
        print(
            f"{approval.at:%Y-%m-%dT%H:%M:%SZ}\t{approval.approver}\treviewed: {reviewed}\t"
            f"note: {approval.note or '-'}"
        )
    return 0


# Step 5: promote ---------------------------------------------------------------------------------


def _configure_promote(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("version", help="model version to make champion")
    _common(parser)
    _cdk_json(parser)
    parser.add_argument("--reason", required=True, help="why (recorded in the alias history and the pin)")
    parser.add_argument(
        "--stage",
        action="append",
        default=None,
        help="pin it for this stage in the lock file (repeatable; default: every stage of cdk.json)",
    )
    parser.add_argument(
        "--lock", type=Path, default=None, help="the lock file (default: models.lock.json next to cdk.json)"
    )


@command(
    "promote", "make a gated model champion and pin it for the stages (models.lock.json)", _configure_promote
)
def _promote(args: argparse.Namespace) -> int:
    from propensity.promotion.pinning import pin_for_stage
    from propensity.promotion.stage import registry_requires_approval, requires_approval
    from propensity.promotion.workflow import promote
    from propensity.registry.factory import open_registry

    stages = args.stage or _stage_names(args.cdk_json)
    registry = open_registry(args.registry)
    require = registry_requires_approval(args.cdk_json, registry.store.location) or any(
        requires_approval(args.cdk_json, stage) for stage in (args.stage or [])
    )
    result = promote(registry, args.api, args.version, reason=args.reason, require_approval=require)
    if result.moved:
        print(f"{args.api} champion: {result.previous_champion} -> {result.champion}")
    else:
        print(f"{args.api} champion already is {result.champion} (alias unchanged)")
    if result.challenger_cleared:
        print(f"  challenger cleared (it was {result.champion})")
    lock = args.lock or args.cdk_json.resolve().parent / "models.lock.json"
    for stage in stages:
        outcome = pin_for_stage(
            registry, lock, args.cdk_json, stage, args.api, args.version, reason=args.reason
        )
        print(f"  [{stage}] {outcome}")
    if stages:
        print(
            f"  commit {lock.name}, then deploy: `npx cdk deploy --all -c stage=<stage>` (or let the "
            "pipeline deploy the commit; see docs/promotion.md)"
        )
    return 0


def _stage_names(cdk_json: Path) -> list[str]:
    import json

    if not cdk_json.is_file():
        return []
    stages: dict[str, Any] = json.loads(cdk_json.read_text()).get("context", {}).get("stages", {})
    return sorted(stages)


# Step 6: rollback --------------------------------------------------------------------------------


def _configure_rollback(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    _cdk_json(parser)
    parser.add_argument(
        "--stage",
        default=None,
        help="the deployed stage whose live alias to roll back (AWS); omit: the local registry only",
    )
    parser.add_argument(
        "--reason", required=True, help="why (recorded in the alias history and on the alias)"
    )
    parser.add_argument(
        "--to", default=None, help="model version to restore (default: the previous champion)"
    )
    parser.add_argument(
        "--function", default=None, help="function name (default: the stage's prediction function)"
    )
    parser.add_argument("--region", default=None, help="AWS region (default: the stage's, from cdk.json)")


@command(
    "rollback",
    "move champion back (locally), or with --stage point the live alias back at the previous model now",
    _configure_rollback,
)
def _rollback(args: argparse.Namespace) -> int:
    from propensity.registry.factory import open_registry

    registry = open_registry(args.registry)
    if args.stage is None:
        from propensity.promotion.rollback import rollback_local

        move = rollback_local(registry, args.api, reason=args.reason, to_version=args.to)
        print(
            f"{args.api} champion in {registry.store.location}: {move.previous_version} -> "
            f"{move.model_version} (local registry only, no AWS call)"
        )
        return 0
    from propensity.promotion.deployments import Boto3Deployments
    from propensity.promotion.lambda_versions import Boto3LambdaVersions
    from propensity.promotion.rollback import rollback
    from propensity.promotion.stage import prediction_function_name, stage_region

    function = args.function or prediction_function_name(args.stage, args.api)
    region = args.region or stage_region(args.cdk_json, args.stage)
    with _aws_errors():
        result = rollback(
            registry,
            Boto3LambdaVersions(region=region),
            args.api,
            function,
            reason=args.reason,
            to_version=args.to,
            deployments=Boto3Deployments(region=region),
        )
    canary = " (an in-flight canary was cut off)" if result.had_canary else ""
    print(
        f"{function}:{result.alias} now serves Lambda version {result.to_lambda_version} (model "
        f"{result.to_model_version}); it served version {result.from_lambda_version} (model "
        f"{result.from_model_version or 'unknown'}){canary}. Alias moved in {result.alias_seconds:.2f} s."
    )
    for deployment in result.stopped_deployments:
        print(f"  stopped CodeDeploy deployment {deployment} (it would have shifted live again)")
    for warning in result.warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    if result.registry_move is not None:
        move = result.registry_move
        print(f"  registry champion: {move.previous_version} -> {move.model_version}")
    print(
        f"  pin it so the next deploy does not ship the bad model again: `propensity promote "
        f"{result.to_model_version} --api {args.api} --stage {args.stage} --reason ...`"
    )
    return 0


# Shared registry ---------------------------------------------------------------------------------


def _configure_registry(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        choices=["push", "pull", "sync", "verify"],
        help="push local -> remote, pull (= sync) remote -> local, verify every version and record",
    )
    parser.add_argument(
        "--remote", default=None, help="the shared registry: s3://bucket/prefix (or a folder)"
    )
    parser.add_argument(
        "--registry",
        default=None,
        help="the local registry folder ($PROPENSITY_REGISTRY, default .local/registry)",
    )
    parser.add_argument("--api", choices=API_VERSIONS, default=None, help="only this API version")


@command("registry", "push to, pull from (sync) a shared (S3) registry, or verify one", _configure_registry)
def _registry(args: argparse.Namespace) -> int:
    from propensity.registry.factory import open_registry
    from propensity.registry.s3 import S3BlobStore
    from propensity.registry.sync import pull, push

    apis = [args.api] if args.api else list(API_VERSIONS)
    if args.action == "verify":
        return _verify(open_registry(args.remote or args.registry), apis)
    if not args.remote:
        print("error: --remote is required for push, pull and sync", file=sys.stderr)
        return 2
    local, remote = open_registry(args.registry), open_registry(args.remote)
    action: Callable[..., Any] = push if args.action == "push" else pull
    with _aws_errors():
        if isinstance(remote.store, S3BlobStore):
            for warning in remote.store.bucket_warnings():
                print(f"warning: {warning}", file=sys.stderr)
        result = action(local, remote, apis)
    direction = f"{local.store.location} -> {remote.store.location}"
    if args.action != "push":
        direction = f"{remote.store.location} -> {local.store.location}"
    kinds = ", ".join(f"{count} {kind}" for kind, count in result.kinds.items()) or "none"
    print(
        f"{args.action} {direction}: {len(result.versions_copied)} versions copied, "
        f"{result.records_copied} records copied ({kinds}); aliases are not copied"
    )
    for version in result.versions_copied:
        print(f"  + {version}")
    return 0


def _verify(registry: Any, apis: list[Any]) -> int:
    from propensity.registry.registry import RegistryError

    failures = 0
    with _aws_errors():
        for api in apis:
            for version in sorted(
                {k.split("/")[3] for k in registry.store.list(f"records/registration/{api}/")}
            ):
                try:
                    registry.verify(api, version)
                    for kind in ("gate", "approval"):
                        registry.records(kind, api, version)
                    print(f"ok      {api} {version}")
                except RegistryError as error:
                    failures += 1
                    print(f"REFUSED {api} {version}: {error}")
            for alias in ("champion", "challenger"):
                try:
                    registry.history(api, alias)
                except RegistryError as error:
                    failures += 1
                    print(f"REFUSED {api} {alias} history: {error}")
    return 1 if failures else 0
