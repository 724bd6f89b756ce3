"""Instant manual rollback: the ``live`` alias back to the previous model's Lambda version, now.

Order matters: consumers are protected first (one ``UpdateAlias`` call, effective within
seconds, no deploy), then the registry's ``champion`` moves back with the reason, so the next
``cdk deploy`` of a stage that follows the ``champion`` alias does not ship the bad model again.

Each published Lambda version carries its model version as its description (the infra sets it),
which is how a model version maps to the Lambda version that serves it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from propensity.constants import ApiVersion
from propensity.promotion.deployments import Deployments
from propensity.promotion.lambda_versions import AliasState, LambdaVersions
from propensity.promotion.policy import PromotionError, move_alias
from propensity.promotion.stage import LIVE_ALIAS
from propensity.registry.registry import AliasMove, Registry, current_actor

ROLLBACK_REASON_PREFIX = "rollback: "


@dataclass(frozen=True)
class Rollback:
    """What ``rollback`` did, for the operator and the incident notes."""

    api_version: ApiVersion
    function: str
    alias: str
    from_lambda_version: str
    from_model_version: str | None
    to_lambda_version: str
    to_model_version: str
    had_canary: bool  # the alias was mid-deployment (weighted routing) and is now un-weighted
    stopped_deployments: list[str]  # in-flight CodeDeploy rollouts stopped so they cannot undo it
    warnings: list[str]  # what could not be done (the alias move itself never gets here)
    alias_seconds: float  # how long the Lambda API call took
    registry_move: AliasMove | None  # None when champion already pointed at the target


def _names_model(description: str, model_version: str) -> bool:
    """True when the version description names the model (exactly, or as a whole word in a sentence)."""
    return re.search(rf"(?<![\w.-]){re.escape(model_version)}(?![\w.-])", description) is not None


def lambda_version_of(versions: dict[str, str], model_version: str) -> str | None:
    """The newest published Lambda version serving ``model_version``, or ``None``."""
    matching = [int(v) for v, description in versions.items() if _names_model(description, model_version)]
    return str(max(matching)) if matching else None


def rollback_target(registry: Registry, api: ApiVersion) -> str:
    """The champion before the current one; refuses after a rollback (say which version explicitly)."""
    moves = [move for move in registry.history(api, "champion") if move.model_version is not None]
    if not moves:
        raise PromotionError(f"{api} has no champion history to roll back")
    last = moves[-1]
    if last.reason.startswith(ROLLBACK_REASON_PREFIX):
        raise PromotionError(
            f"the last {api} champion move was already a rollback ({last.previous_version} -> "
            f"{last.model_version}); say which version to go back to with --to"
        )
    if last.previous_version is None:
        raise PromotionError(
            f"{api} champion {last.model_version} had no predecessor; say which version with --to"
        )
    return last.previous_version


def rollback(
    registry: Registry,
    lambdas: LambdaVersions,
    api: ApiVersion,
    function: str,
    *,
    reason: str,
    to_version: str | None = None,
    alias: str = LIVE_ALIAS,
    actor: str | None = None,
    deployments: Deployments | None = None,
) -> Rollback:
    """Point ``function:alias`` at the Lambda version of the previous model and move ``champion`` back.

    With ``deployments``, an in-flight CodeDeploy rollout of the alias is stopped first, so it
    cannot shift traffic back to the bad version when its canary interval ends.
    """
    if not reason.strip():
        raise PromotionError("say why in --reason: it is recorded in the alias history")
    target = to_version or rollback_target(registry, api)
    registry.manifest(api, target)  # must be a registered model
    live: AliasState = lambdas.alias(function, alias)
    versions = lambdas.versions(function)
    target_lambda = lambda_version_of(versions, target)
    if target_lambda is None:
        raise PromotionError(
            f"no published version of {function} serves model {target} (versions: "
            f"{', '.join(f'{v}={d!r}' for v, d in sorted(versions.items(), key=lambda i: int(i[0])))}); "
            f"it cannot be restored instantly: pin it and deploy instead"
        )
    current_model = next(
        (model for model in _models_named(versions.get(live.version, ""), registry, api)), None
    )
    had_canary = bool(live.extra_weights)
    stopped: list[str] = []
    warnings: list[str] = []
    if deployments is not None:
        try:
            stopped = deployments.stop_in_flight(function, alias)
        except Exception as error:  # never let CodeDeploy block the alias move itself
            warnings.append(f"could not check or stop CodeDeploy deployments of {function}:{alias}: {error}")
    if live.version == target_lambda and not had_canary:
        seconds = 0.0  # already serving it: nothing to move on the Lambda side
    else:
        started = time.perf_counter()
        lambdas.point_alias(function, alias, target_lambda, f"rollback to model {target}: {reason}")
        seconds = time.perf_counter() - started
    who = actor or current_actor()
    move = None
    if registry.alias(api, "champion") != target:
        move = move_alias(
            registry,
            api,
            "champion",
            target,
            reason=(
                f"{ROLLBACK_REASON_PREFIX}{reason} ({function}:{alias} Lambda version "
                f"{live.version} -> {target_lambda})"
            ),
            actor=who,
            rollback=True,
        )
    return Rollback(
        api_version=api,
        function=function,
        alias=alias,
        from_lambda_version=live.version,
        from_model_version=current_model,
        to_lambda_version=target_lambda,
        to_model_version=target,
        had_canary=had_canary,
        stopped_deployments=stopped,
        warnings=warnings,
        alias_seconds=seconds,
        registry_move=move,
    )


def rollback_local(
    registry: Registry,
    api: ApiVersion,
    *,
    reason: str,
    to_version: str | None = None,
    actor: str | None = None,
) -> AliasMove:
    """Move the registry's ``champion`` back (no AWS call): what a local server follows.

    The previous champion by default; ``to_version`` any former champion. Always allowed by the policy.
    """
    if not reason.strip():
        raise PromotionError("say why in --reason: it is recorded in the alias history")
    target = to_version or rollback_target(registry, api)
    return move_alias(
        registry,
        api,
        "champion",
        target,
        reason=f"{ROLLBACK_REASON_PREFIX}{reason}",
        actor=actor,
        rollback=True,
    )


def _models_named(description: str, registry: Registry, api: ApiVersion) -> list[str]:
    """Registered model versions a Lambda version's description names (normally exactly one)."""
    return [m.model_version for m in registry.versions(api) if _names_model(description, m.model_version)]
