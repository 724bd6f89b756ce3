"""Registry-side steps of a promotion: gate a registered challenger, shadow it, approve, promote.

Every alias move goes through ``propensity.promotion.policy``; verdicts and approvals are
sealed, create-only records (``gate.record``, ``promotion.approvals``), never manifest edits.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from propensity.constants import ApiVersion
from propensity.data.loader import BankDataset
from propensity.gate.record import latest_verdict, record_verdict
from propensity.gate.report import GateReport
from propensity.gate.run import DEFAULT_SEED, run_gate
from propensity.policy.gate import GateThresholds
from propensity.promotion.approvals import APPROVAL_KIND, Approval, approver_slug
from propensity.promotion.policy import PromotionError, move_alias
from propensity.registry.registry import AliasMove, Registry, current_actor
from propensity.registry.storage import BlobExistsError

__all__ = [
    "Promotion",
    "PromotionError",
    "approve",
    "champion_of",
    "gate_registered",
    "promote",
    "set_challenger",
]


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


def set_challenger(
    registry: Registry,
    api: ApiVersion,
    version: str | None,
    *,
    reason: str,
    actor: str | None = None,
    allow_failed_gate: bool = False,
) -> AliasMove:
    """Point ``challenger`` at a gated model (the shadow scorer follows it), or clear it with ``None``."""
    return move_alias(
        registry, api, "challenger", version, reason=reason, actor=actor, allow_failed_gate=allow_failed_gate
    )


def approve(
    registry: Registry,
    api: ApiVersion,
    version: str,
    *,
    approver: str,
    note: str = "",
    reviewed: list[str] | None = None,
) -> Approval:
    """Record a named person's approval to ship ``version`` (stages with ``require_approval`` need one).

    Only a model that passed its gate against the current champion can be approved, except the
    API version's first champion-to-be (nothing to gate it against). ``reviewed`` names what was
    looked at; it always includes the gate record the approval relies on.
    """
    name = approver.strip()
    if not name:
        raise PromotionError("an approval needs the approver's name (--approver)")
    registry.verify(api, version)
    champion = registry.alias(api, "champion")
    seen = list(reviewed or [])
    if champion is not None and champion != version:
        verdict = latest_verdict(registry, api, version, against=champion)
        if verdict is None or not verdict.passed:
            raise PromotionError(
                f"{api} model {version} has not passed the gate against the champion {champion}; "
                f"only a passing model can be approved (`propensity gate {version} --api {api}`)"
            )
        seen.insert(0, f"gate:{verdict.record_name} (passed against {champion})")
    elif champion is None and registry.history(api, "champion"):
        raise PromotionError(f"the {api} champion was cleared; there is nothing to approve against")
    from datetime import UTC, datetime

    approval = Approval(approver=name, model_version=version, at=datetime.now(UTC), reviewed=seen, note=note)
    try:
        registry.put_record(
            APPROVAL_KIND,
            api,
            version,
            approval.model_dump(mode="json"),
            name=approver_slug(name),
            actor=name,
        )
    except BlobExistsError as error:
        raise PromotionError(f"{api} model {version} is already approved by {name}") from error
    return approval


@dataclass(frozen=True)
class Promotion:
    """What ``promote`` did."""

    api_version: ApiVersion
    previous_champion: str | None
    champion: str
    approved: bool
    challenger_cleared: bool
    moved: bool  # False when the version already was champion (only the pin was written)


def promote(
    registry: Registry,
    api: ApiVersion,
    version: str,
    *,
    reason: str,
    actor: str | None = None,
    require_approval: bool = False,
) -> Promotion:
    """Make ``version`` champion through the policy (clears ``challenger`` when it pointed at it).

    When it already is the champion nothing moves (``moved`` is False): the caller can still pin it.
    Deploying it is a separate step: the stage's pin (``promotion.lock``) and ``cdk deploy``.
    """
    from propensity.promotion.approvals import approvals

    who = actor or current_actor()
    previous = registry.alias(api, "champion")
    moved = previous != version
    if moved:
        move = move_alias(
            registry, api, "champion", version, reason=reason, actor=who, require_approval=require_approval
        )
        previous = move.previous_version
    else:
        registry.verify(api, version)
        if not reason.strip():
            raise PromotionError("say why (--reason): it is recorded in the alias history")
    approved = bool(approvals(registry, api, version))
    if require_approval and not approved:
        raise PromotionError(
            f"{api} model {version} has no approval and this stage requires one; "
            f"`propensity approve {version} --api {api} --approver <name>` first"
        )
    cleared = registry.alias(api, "challenger") == version
    if cleared:
        move_alias(registry, api, "challenger", None, reason=f"promoted to champion: {reason}", actor=who)
    return Promotion(api, previous, version, approved, cleared, moved)
