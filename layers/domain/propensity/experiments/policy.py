"""Who may start an experiment: the promotion policy's rule for a model that will answer consumers.

INTEGRATION POINT (issue 11): ``check_challenger`` is the one place the experiment commands
ask the policy. Today it applies ``propensity.promotion.workflow.require_passing_gate`` (a
registered version whose latest gate verdict passed against the current champion) and
verifies the bundle's files; point it at issue 11's policy when it lands.

An override exists for models the current gate cannot compare (it refuses models trained on
different rows, which a retrained challenger always is until issue 12's time-aware gate). It
needs a reason, is recorded in the experiment's start record and shown by every status and
report: it is never silent.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from propensity.bundle.io import BundleError
from propensity.constants import ApiVersion
from propensity.promotion.workflow import PromotionError, require_passing_gate
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
        manifest = registry.manifest(api, challenger)
        registry.manifest(api, champion)
        with tempfile.TemporaryDirectory(prefix="experiment-check-") as scratch:
            registry.fetch(api, challenger, Path(scratch) / "bundle")  # verifies every file's hash
    except (RegistryError, BundleError, ValueError, OSError) as error:
        raise ExperimentPolicyError(f"{api} model {challenger} cannot serve: {error}") from error
    try:
        require_passing_gate(registry, manifest)
    except PromotionError as error:
        if not override_reason:
            raise ExperimentPolicyError(
                f"{error}. An experiment sends real customers to the challenger; gate it first, or "
                f"record why not with --override-gate REASON"
            ) from error
        return f"gate not passed ({error}); overridden: {override_reason}"
    return None
