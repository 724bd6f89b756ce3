"""The one policy that decides every alias move, and the only caller of ``Registry.swap_alias``.

- ``champion`` moves only to an intact version whose latest gate verdict against the current
  champion passed, and which carries an approval where the stage requires one. The API
  version's very first champion (no champion ever) needs no gate (there is nothing to gate it
  against), but still the approval where one is required.
- ``challenger`` moves only to an intact version whose gate ran against the current champion
  (a failed verdict only with ``allow_failed_gate``: the shadow scorer never answers anyone).
  Clearing it is always allowed.
- A rollback of ``champion`` to a former champion is always allowed (it passed this policy once).
- ``break_glass`` (with a reason) allows any intact version: the move is recorded as such,
  with who and why, and a critical alert is raised.

The decision is taken against the pointer as read, and the move is written by
compare-and-swap against that same pointer: if someone else moved the alias meanwhile, the
decision is taken again on the new state (a gate verdict against the old champion no longer
counts), so no move is ever allowed on stale evidence.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from propensity.constants import Alias, ApiVersion
from propensity.gate.record import latest_verdict
from propensity.promotion.alerts import Alerter, default_alerter
from propensity.promotion.approvals import approvals
from propensity.registry.registry import (
    AliasConflictError,
    AliasMove,
    AliasPointer,
    IntegrityError,
    Registry,
    RegistryError,
    current_actor,
)

# Concurrent movers retry on a lost compare-and-swap; each retry decides again.
SWAP_ATTEMPTS = 200
SWAP_BACKOFF_SECONDS = 0.005


class PromotionError(RuntimeError):
    """A promotion step was refused; the message says why and what to do instead."""


@dataclass(frozen=True)
class Decision:
    """The policy's answer: allowed or not, the rule that applied, and why in words."""

    allowed: bool
    rule: str
    reason: str


def _refuse(reason: str) -> Decision:
    return Decision(False, "refused", reason)


def former_champions(registry: Registry, api: ApiVersion) -> list[str]:
    """Every version that was champion before, newest first."""
    seen: list[str] = []
    for move in reversed(registry.history(api, "champion")):
        if move.model_version is not None and move.model_version not in seen:
            seen.append(move.model_version)
    return seen


def decide(
    registry: Registry,
    api: ApiVersion,
    alias: Alias,
    target: str | None,
    current: AliasPointer,
    *,
    require_approval: bool = False,
    rollback: bool = False,
    allow_failed_gate: bool = False,
    break_glass: bool = False,
    check_integrity: bool = True,
) -> Decision:
    """Whether ``alias`` may move from ``current`` to ``target`` (``None``: clear it).

    ``check_integrity=False`` skips re-hashing the target's files (``move_alias`` hashes them
    once, before deciding as often as it loses a race; the evidence is read again every time).
    """
    if target is not None and check_integrity:
        try:
            registry.verify(api, target)
        except RegistryError as error:
            return _refuse(f"{api} model {target} cannot be used: {error}")
    if break_glass:
        return Decision(True, "break-glass", "incident path: recorded and alerted")
    if alias == "challenger":
        return _decide_challenger(registry, api, target, allow_failed_gate=allow_failed_gate)
    return _decide_champion(
        registry, api, target, current, require_approval=require_approval, rollback=rollback
    )


def _decide_challenger(
    registry: Registry, api: ApiVersion, target: str | None, *, allow_failed_gate: bool
) -> Decision:
    if target is None:
        return Decision(True, "clear-challenger", "stop shadowing")
    champion = registry.alias(api, "champion")
    if champion is None:
        return _refuse(f"{api} has no champion: there is nothing to shadow {target} against")
    if target == champion:
        return _refuse(f"{target} is the {api} champion; shadowing it against itself tells nothing")
    verdict = latest_verdict(registry, api, target, against=champion)
    if verdict is None:
        return _refuse(
            f"{api} model {target} has not been through the gate against the champion {champion}; "
            f"run `propensity gate {target} --api {api}` first"
        )
    if verdict.passed:
        return Decision(True, "gate-passed", f"passed the gate against {champion}")
    if allow_failed_gate:
        return Decision(
            True, "shadow-failed-gate", f"failed the gate against {champion}; shadowed for diagnosis"
        )
    return _refuse(
        f"{api} model {target} failed the gate against {champion}; it may only be shadowed for "
        f"diagnosis (--allow-failed-gate)"
    )


def _decide_champion(
    registry: Registry,
    api: ApiVersion,
    target: str | None,
    current: AliasPointer,
    *,
    require_approval: bool,
    rollback: bool,
) -> Decision:
    if target is None:
        return _refuse(f"the {api} champion cannot be cleared (only on the incident path, --break-glass)")
    if target == current.version:
        return _refuse(f"{target} is already the {api} champion")
    if rollback:
        if target in former_champions(registry, api):
            return Decision(True, "rollback", f"{target} was champion before")
        return _refuse(f"{target} was never the {api} champion: a rollback can only restore a former one")
    approved = bool(approvals(registry, api, target))
    approval_needed = (
        f"; this stage requires an approval: `propensity approve {target} --api {api} --approver <name>`"
    )
    if current.version is None and not registry.history(api, "champion"):
        if require_approval and not approved:
            return _refuse(f"{api} model {target} has no approval{approval_needed}")
        return Decision(True, "first-champion", f"the first {api} champion: nothing to gate it against")
    if current.version is None:
        return _refuse(f"the {api} champion was cleared; restore one with --rollback or --break-glass")
    verdict = latest_verdict(registry, api, target, against=current.version)
    rerun = f"run `propensity gate {target} --api {api}`"
    if verdict is None:
        others = latest_verdict(registry, api, target)
        if others is not None:
            return _refuse(
                f"{api} model {target} was gated against {others.champion_version}, but the champion is now "
                f"{current.version}; {rerun} again"
            )
        return _refuse(f"{api} model {target} has never been through the gate; {rerun}")
    if not verdict.passed:
        reasons = "; ".join(str(f.get("name")) for f in verdict.summary.get("failures", [])[:5])
        return _refuse(
            f"{api} model {target} failed the gate against {current.version} on {verdict.at:%Y-%m-%d %H:%M} "
            f"UTC ({reasons}); a failing challenger cannot be promoted"
        )
    if require_approval and not approved:
        return _refuse(f"{api} model {target} has no approval{approval_needed}")
    return Decision(True, "gate-passed", f"passed the gate against {current.version}")


def move_alias(
    registry: Registry,
    api: ApiVersion,
    alias: Alias,
    target: str | None,
    *,
    reason: str,
    actor: str | None = None,
    require_approval: bool = False,
    rollback: bool = False,
    allow_failed_gate: bool = False,
    break_glass: bool = False,
    alerter: Alerter | None = None,
) -> AliasMove:
    """Decide and make one alias move; ``PromotionError`` says why when the policy refuses it."""
    if not reason.strip():
        raise PromotionError("say why (--reason): it is recorded in the alias history")
    who = (actor or current_actor()).strip() or "unknown"
    if target is not None:
        try:
            registry.verify(api, target)  # bundles are immutable: hashed once, not on every retry
        except RegistryError as error:
            raise PromotionError(f"{api} model {target} cannot be used: {error}") from error
    for attempt in range(SWAP_ATTEMPTS):
        current = registry.alias_pointer(api, alias)
        try:
            decision = decide(
                registry,
                api,
                alias,
                target,
                current,
                require_approval=require_approval,
                rollback=rollback,
                allow_failed_gate=allow_failed_gate,
                break_glass=break_glass,
                check_integrity=False,
            )
        except IntegrityError as error:  # a tampered record is evidence of nothing: refuse
            raise PromotionError(f"refused: {error}") from error
        if not decision.allowed:
            raise PromotionError(decision.reason)
        move = AliasMove(
            api_version=api,
            alias=alias,
            model_version=target,
            previous_version=current.version,
            sequence=current.sequence + 1,
            actor=who,
            reason=reason,
            at=datetime.now(UTC),
            rule=decision.rule,
            break_glass=break_glass,
        )
        try:
            registry.swap_alias(current, move)
        except AliasConflictError:
            # Someone moved it first: decide again on what they left, after a random pause so
            # that racing movers spread out instead of colliding again.
            time.sleep(random.uniform(0, SWAP_BACKOFF_SECONDS * min(attempt + 1, 8)))
            continue
        if break_glass:
            (alerter or default_alerter()).alert(
                "critical",
                f"break-glass: {api} {alias} moved {current.version} -> {target} by {who}",
                {"reason": reason, "registry": registry.store.location, "sequence": move.sequence},
            )
        return move
    raise PromotionError(f"{api} {alias} kept moving under us ({SWAP_ATTEMPTS} attempts); try again")
