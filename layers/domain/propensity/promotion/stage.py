"""What a stage ships: its model pin in cdk.json, and the advice printed after promote or rollback.

Read as plain JSON (the library does not import the CDK app); ``infra/config.py`` validates
the same block at synth.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from propensity.constants import ALIASES, ApiVersion

CDK_JSON = Path("cdk.json")
DEPLOY_COMMAND = "npx cdk deploy --all -c stage={stage}"
# How infra names things (infra/constructs/prediction.py): the rollback command's defaults.
PREDICTION_FUNCTION_NAME = "propensity-{stage}-predict-{api}"
LIVE_ALIAS = "live"
DEFAULT_PIN_REGISTRY = ".local/registry"  # infra.config.ModelPin's default


def prediction_function_name(stage: str, api: ApiVersion) -> str:
    """The deployed prediction function of ``api`` in ``stage``."""
    return PREDICTION_FUNCTION_NAME.format(stage=stage, api=api)


def stage_block(cdk_json: Path, stage: str) -> dict[str, Any]:
    """``context.stages.<stage>`` of cdk.json, with a clear error when it is missing."""
    if not cdk_json.is_file():
        raise ValueError(f"{cdk_json} not found: run from the repository root or pass --cdk-json")
    stages = json.loads(cdk_json.read_text()).get("context", {}).get("stages", {})
    if stage not in stages:
        raise ValueError(f"{cdk_json} defines no stage {stage!r} (it has {sorted(stages)})")
    block: dict[str, Any] = stages[stage]
    return block


def requires_approval(cdk_json: Path, stage: str) -> bool:
    """Whether the stage refuses unapproved models (``require_approval``)."""
    return bool(stage_block(cdk_json, stage).get("require_approval", False))


def registry_requires_approval(cdk_json: Path, location: str) -> bool:
    """Whether any stage of cdk.json ships from the registry at ``location`` and requires approval."""
    if not cdk_json.is_file():
        return False
    stages = json.loads(cdk_json.read_text()).get("context", {}).get("stages", {})
    for block in stages.values():
        if not block.get("require_approval"):
            continue
        for pin in (block.get("models") or {}).values():
            if _same_registry(cdk_json, str(pin.get("registry", DEFAULT_PIN_REGISTRY)), location):
                return True
    return False


def pin_path(stage: str, api: ApiVersion) -> str:
    return f"context.stages.{stage}.models.{api}.version"


def stage_region(cdk_json: Path, stage: str) -> str | None:
    """The stage's AWS region from cdk.json, when the file and the field exist."""
    if not cdk_json.is_file():
        return None
    region = stage_block(cdk_json, stage).get("region")
    return str(region) if region else None


def _same_registry(cdk_json: Path, pinned: str, used: str) -> bool:
    if pinned.startswith("s3://") or used.startswith("s3://"):
        return pinned.rstrip("/") == used.rstrip("/")
    # A relative pin is relative to the repository root, where cdk.json lives.
    pinned_path = Path(pinned) if Path(pinned).is_absolute() else cdk_json.resolve().parent / pinned
    return pinned_path.resolve() == Path(used).resolve()


def deploy_advice(
    cdk_json: Path, stage: str, api: ApiVersion, version: str, registry_location: str | None = None
) -> list[str]:
    """Lines telling the operator how to make ``stage`` ship ``version``: the pin, then the deploy.

    With ``registry_location`` (where the alias was just moved), also says when the stage
    packages its model from another registry, and how to publish there.
    """
    model = stage_block(cdk_json, stage).get("models", {}).get(api, {})
    pin = model.get("version")
    where = f"{cdk_json} {pin_path(stage, api)}"
    lines: list[str] = []
    pinned_registry = str(model.get("registry", DEFAULT_PIN_REGISTRY))
    if registry_location is not None and not _same_registry(cdk_json, pinned_registry, registry_location):
        lines.append(
            f"{stage} packages its model from {pinned_registry}, not {registry_location}: publish it there "
            f"first (`propensity registry push --registry {registry_location} --remote {pinned_registry}`)."
        )
    if pin in ALIASES:
        lines += [
            f"{where} is {pin!r}: the next deploy resolves it to the registry's {pin} ({version}).",
            f"To pin it explicitly instead, set it to {version!r}.",
        ]
    elif pin == version:
        lines.append(f"{where} already pins {version!r}.")
    else:
        lines.append(f"Set {where} to {version!r} (it pins {pin!r} now).")
    lines.append(
        f"Then deploy: `{DEPLOY_COMMAND.format(stage=stage)}` (CodeDeploy shifts the live alias with "
        f"its pre-traffic check and rollback alarms)."
    )
    return lines
