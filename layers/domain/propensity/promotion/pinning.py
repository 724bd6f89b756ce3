"""Pin the champion for a stage in ``models.lock.json`` (what ``promote`` does after moving the alias)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from propensity.constants import ApiVersion
from propensity.promotion.approvals import approvals
from propensity.promotion.lock import Pin, read_lock, write_pin
from propensity.promotion.policy import PromotionError
from propensity.promotion.stage import requires_approval
from propensity.registry.registry import Registry, current_actor


def pin_for_stage(
    registry: Registry,
    lock: Path,
    cdk_json: Path,
    stage: str,
    api: ApiVersion,
    version: str,
    *,
    reason: str,
    actor: str | None = None,
) -> str:
    """Write the stage's pin for ``api`` (only the registry's champion can be pinned); returns what happened.

    A stage that requires approval is left unchanged (and told so) while the model has none.
    """
    if registry.alias(api, "champion") != version:
        raise PromotionError(f"only the {api} champion can be pinned; {version} is not it")
    manifest = registry.verify(api, version)
    approvers = [a.approver for a in approvals(registry, api, version)]
    if requires_approval(cdk_json, stage) and not approvers:
        return (
            f"NOT pinned: {stage} requires an approval (`propensity approve {version} --api {api} "
            f"--approver <name>`, then promote again)"
        )
    current = read_lock(lock).pin(stage, api)
    if current is not None and current.model_version == version:
        return f"{lock.name} already pins {version} for {stage}"
    pin = Pin(
        model_version=manifest.model_version,
        manifest_sha256=registry.registration(api, version).manifest_sha256,
        approvals=approvers,
        pinned_by=actor or current_actor(),
        pinned_at=datetime.now(UTC),
        reason=reason,
    )
    write_pin(lock, stage, api, pin)
    before = current.model_version if current else "nothing"
    return f"{lock.name}: {stage} {api} {before} -> {version}"
