"""Registry-side steps of a promotion: gate a registered challenger, shadow it, approve, promote.

Each step refuses what would make the registry lie: a model that failed (or never passed) the
gate against the current champion cannot become challenger or champion, and an approval is
only accepted for a model that passed its gate.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from propensity.bundle.manifest import ApprovalRecord, Manifest, ValidationRecord
from propensity.constants import ApiVersion
from propensity.data.loader import BankDataset
from propensity.gate.record import latest_validation, record_verdict
from propensity.gate.report import GateReport
from propensity.gate.run import DEFAULT_SEED, run_gate
from propensity.policy.gate import GateThresholds
from propensity.registry.registry import AliasMove, Registry, current_actor


class PromotionError(RuntimeError):
    """A promotion step was refused; the message says why and what to do instead."""


def champion_of(registry: Registry, api: ApiVersion) -> str:
    """The current champion, or a clear error when the API version has none yet."""
    champion = registry.alias(api, "champion")
    if champion is None:
        raise PromotionError(
            f"{api} has no champion yet: there is nothing to gate against. Make the first model "
            f"champion with `propensity alias champion <version> --api {api} --reason ...`"
        )
    return champion


def gate_registered(
    registry: Registry,
    api: ApiVersion,
    challenger_version: str,
    dataset: BankDataset,
    *,
    thresholds: GateThresholds | None = None,
    seed: int = DEFAULT_SEED,
    champion_version: str | None = None,
    record: bool = True,
) -> GateReport:
    """Gate a registered challenger against the champion (or ``champion_version``) and record the verdict."""
    champion = champion_version or champion_of(registry, api)
    with tempfile.TemporaryDirectory(prefix="propensity-gate-") as scratch:
        cache = Path(scratch)
        report = run_gate(
            registry.load(api, champion, cache),
            registry.load(api, challenger_version, cache),
            dataset,
            thresholds,
            seed,
        )
    if record:
        record_verdict(registry, report)
    return report


def require_passing_gate(registry: Registry, manifest: Manifest) -> ValidationRecord:
    """The model's latest gate verdict, if it passed against the current champion; else refuse."""
    api, version = manifest.api_version, manifest.model_version
    verdict = latest_validation(manifest)
    rerun = f"run `propensity gate {version} --api {api}`"
    if verdict is None:
        raise PromotionError(f"{api} model {version} has never been through the gate; {rerun}")
    if not verdict.passed:
        reasons = "; ".join(failure["name"] for failure in verdict.report.get("failures", [])[:5])
        raise PromotionError(
            f"{api} model {version} failed the gate on {verdict.at:%Y-%m-%d %H:%M} UTC ({reasons}); "
            f"a failing challenger cannot be promoted"
        )
    champion = registry.alias(api, "champion")
    # Once promoted, a model's last verdict was against its predecessor: that is the one that counts.
    if verdict.champion_version != champion and version != champion:
        raise PromotionError(
            f"{api} model {version} passed the gate against {verdict.champion_version}, but the champion is "
            f"now {champion}; {rerun} again"
        )
    return verdict


def set_challenger(
    registry: Registry,
    api: ApiVersion,
    version: str | None,
    *,
    reason: str,
    actor: str | None = None,
    allow_failed_gate: bool = False,
) -> AliasMove:
    """Point ``challenger`` at a gated model (the shadow scorer follows it), or clear it with ``None``.

    ``allow_failed_gate`` lets a model that failed the gate run in shadow for diagnosis; the
    shadow scorer never answers consumers, and promotion still refuses it.
    """
    if version is not None:
        if version == registry.alias(api, "champion"):
            raise PromotionError(
                f"{version} is the {api} champion; shadowing it against itself tells nothing"
            )
        if not allow_failed_gate:
            require_passing_gate(registry, registry.manifest(api, version))
    return registry.set_alias(api, "challenger", version, reason=reason, actor=actor)


def approve(registry: Registry, api: ApiVersion, version: str, *, approver: str, note: str = "") -> Manifest:
    """Record a named person's approval to ship ``version`` (stages with ``require_approval`` need one).

    Only a model that passed its gate can be approved, except the API version's first champion,
    which had nothing to be gated against.
    """
    name = approver.strip()
    if not name:
        raise PromotionError("an approval needs the approver's name (--approver)")
    manifest = registry.manifest(api, version)
    if not _first_champion(registry, api, version):
        require_passing_gate(registry, manifest)
    if any(record.approver == name for record in manifest.approvals):
        raise PromotionError(f"{api} model {version} is already approved by {name}")
    record = ApprovalRecord(approver=name, at=datetime.now(UTC), note=note)
    updated = manifest.model_copy(update={"approvals": [*manifest.approvals, record]})
    registry.update_manifest(updated)
    return updated


def _first_champion(registry: Registry, api: ApiVersion, version: str) -> bool:
    """The API version's first model: champion, and no other model ever was (nothing to gate it against)."""
    moves = registry.history(api, "champion")
    return bool(moves) and all(move.model_version in (version, None) for move in moves)


@dataclass(frozen=True)
class Promotion:
    """What ``promote`` did."""

    api_version: ApiVersion
    previous_champion: str | None
    champion: str
    approved: bool
    challenger_cleared: bool


def promote(
    registry: Registry,
    api: ApiVersion,
    version: str,
    *,
    reason: str,
    actor: str | None = None,
    require_approval: bool = False,
) -> Promotion:
    """Make a model that passed the gate against the current champion the new champion.

    Clears ``challenger`` when it pointed at the promoted model (it is no longer a challenger).
    Deploying it is a separate step: the stage's pin and ``cdk deploy`` (see ``deploy_advice``).
    """
    if not reason.strip():
        raise PromotionError("say why in --reason: it is recorded in the alias history")
    manifest = registry.manifest(api, version)
    previous = champion_of(registry, api)
    if previous == version:
        raise PromotionError(f"{version} is already the {api} champion")
    require_passing_gate(registry, manifest)
    if require_approval and not manifest.approved:
        raise PromotionError(
            f"{api} model {version} has no approval and this stage requires one; "
            f"`propensity approve {version} --api {api} --approver <name>` first"
        )
    who = actor or current_actor()
    registry.set_alias(api, "champion", version, reason=reason, actor=who)
    cleared = registry.alias(api, "challenger") == version
    if cleared:
        registry.set_alias(api, "challenger", None, reason=f"promoted to champion: {reason}", actor=who)
    return Promotion(api, previous, version, manifest.approved, cleared)
