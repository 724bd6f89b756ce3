"""cdk-nag, run as an Aspect at synth (cdk-nag 2.x, pinned; 3.x dropped Aspects).

Every suppression in this project is a ``NagPackSuppression`` with a written reason, placed on
the resource it concerns (never stack-wide without ``applies_to``), so a new finding on another
resource still fails.
"""

from __future__ import annotations

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, NagPackSuppression, NagSuppressions
from constructs import IConstruct


def add_nag_checks(scope: IConstruct) -> None:
    """AwsSolutions checks on every resource under ``scope`` (an app or a stack), after the
    project's own hardening (encrypted log groups, answers for CDK's handlers)."""
    from infra.constructs.hardening import Hardening

    cdk.Aspects.of(scope).add(Hardening())
    cdk.Aspects.of(scope).add(AwsSolutionsChecks(verbose=True))


def suppress_python_runtime_finding(scope: IConstruct) -> None:
    """AwsSolutions-L1 (not the newest runtime) for the functions under ``scope``.

    The layers are built and tested for CPython 3.12 (the interpreter benchmarked and used for
    ``.pyc``); moving to a newer runtime is a deliberate change to the runtime, the layer build
    and the benchmarks together, not something a linter should force mid-release.
    """
    NagSuppressions.add_resource_suppressions(
        scope,
        [
            NagPackSuppression(
                id="AwsSolutions-L1",
                reason="Pinned to python3.12, the runtime the layers are built, compiled and benchmarked for "
                "(SnapStart supports it); upgrading is a deliberate change with the layer build",
            )
        ],
        apply_to_children=True,
    )


def managed_policy_arn(name: str) -> str:
    """How cdk-nag spells an AWS managed policy in ``applies_to`` (``Policy::`` + this)."""
    return f"arn:<AWS::Partition>:iam::aws:policy/{name}"
