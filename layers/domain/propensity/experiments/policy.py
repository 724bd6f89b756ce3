"""Who may start an experiment: the promotion policy's rule for a model that will answer consumers.

``check_challenger`` is the one place the experiment commands ask the policy: the
challenger's latest gate verdict against the experiment's champion (issue 11's verdict
records, ``gate.record.latest_verdict``) must have passed, and the bundle's files verify.

A challenger from ``propensity retrain`` is gated on the champion's holdout and on time, so it
needs no override when it passes. An override exists for a challenger the gate refuses (the
replay's, for instance, fails only absolute floors set for models trained on the whole file:
docs/experiments.md). It needs a reason, is recorded in the experiment's start record and
shown by every status and report: it is never silent.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from propensity.bundle.io import BundleError
from propensity.constants import ApiVersion
from propensity.gate.record import latest_verdict
from propensity.registry.registry import Registry, RegistryError


class ExperimentPolicyError(RuntimeError):
    """The policy refuses this experiment; the message says why."""


def check_challenger(
    registry: Registry, api: ApiVersion, champion: str, challenger: str, override_reason: str | None
) -> str | None:
    """Refuse a challenger that may not answer consumers; returns the recorded override, if any."""
    if challenger == champion:
        raise ExperimentPolicyError(f"{challenger} is the {api} champion: an experiment needs two models")
    try:
        registry.manifest(api, challenger)
        registry.manifest(api, champion)
        with tempfile.TemporaryDirectory(prefix="experiment-check-") as scratch:
            registry.fetch(api, challenger, Path(scratch) / "bundle")  # verifies every file's hash
        verdict = latest_verdict(registry, api, challenger, against=champion)
        ever = verdict or latest_verdict(registry, api, challenger)
    except (RegistryError, BundleError, ValueError, OSError) as error:
        raise ExperimentPolicyError(f"{api} model {challenger} cannot serve: {error}") from error
    rerun = f"run `propensity gate {challenger} --api {api}`"
    if ever is None:
        refusal = f"{api} model {challenger} has never been through the gate; {rerun}"
    elif verdict is None:
        refusal = (
            f"{api} model {challenger} was gated against {ever.champion_version}, but the champion "
            f"is now {champion}; {rerun} again"
        )
    elif not verdict.passed:
        failures = verdict.summary.get("failures") or []
        reasons = "; ".join(str(f.get("name")) for f in failures[:5] if isinstance(f, dict))
        refusal = (
            f"{api} model {challenger} failed the gate against {champion} on "
            f"{verdict.at:%Y-%m-%d %H:%M} UTC" + (f" ({reasons})" if reasons else "")
        )
    else:
        return None
    if not override_reason:
        raise ExperimentPolicyError(
            f"{refusal}. An experiment sends real customers to the challenger; gate it first, or "
            f"record why not with --override-gate REASON"
        )
    return f"gate not passed ({refusal}); overridden: {override_reason}"
