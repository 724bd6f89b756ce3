"""The local jobs' alarms: the same names, tiers, runbook entries and evaluation rules as the
CloudWatch alarms the stack creates for the drift and evaluation jobs.

In AWS the jobs publish gauges and CloudWatch alarms judge them; locally there is no
CloudWatch, so each job run becomes one *observation* per alarm (breaching or not), and
:mod:`propensity.alerting.local` keeps the alarm state the way CloudWatch would. The keys and
anchors are those of ``infra/constructs/drift.py`` and ``infra/constructs/evaluation.py``
(``tests/infra/test_local_alarm_catalogue.py`` checks them against the stack's catalogue), so a
local alert names the alarm that would fire in AWS and links the same runbook entry.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal

from propensity.alerting.tiers import Tier
from propensity.constants import ApiVersion
from propensity.policy.drift import DriftThresholds
from propensity.policy.evaluation import EvaluationThresholds

if TYPE_CHECKING:
    from propensity.drift.results import WindowResult
    from propensity.evaluation.models import GroupResult

Missing = Literal["not_breaching", "ignore"]


@dataclass(frozen=True)
class LocalAlarmSpec:
    """One alarm of the catalogue, as the stack defines it (per API version where ``{api}``)."""

    key: str
    anchor: str
    tier: Tier
    summary: str
    evaluation_periods: int = 1
    datapoints_to_alarm: int = 1
    missing: Missing = "not_breaching"
    ok_action: bool = True
    # What the message shows as the alarm's rule (the policy's defaults: the local stage).
    threshold: float | None = None
    comparison: str = "GreaterThanThreshold"
    period_s: int = 3600

    def for_api(self, api: ApiVersion) -> LocalAlarmSpec:
        return replace(self, key=self.key.format(api=api), summary=self.summary.format(api=api))


_DRIFT = DriftThresholds()
_EVALUATION = EvaluationThresholds()
_WEEK_S = 7 * 24 * 3600


# Drift alarms: gauges of one hour, 1 breaching hour of the last 2 raises, missing is fine.
DRIFT_ALARMS: Final[dict[str, LocalAlarmSpec]] = {
    "feature_psi": LocalAlarmSpec(
        "drift-feature-psi-warning-{api}",
        "drift-feature-psi-warning",
        "warning",
        "{api}: an input feature's PSI against the model's reference is over the warning bound",
        evaluation_periods=2,
        threshold=_DRIFT.psi_warning,
    ),
    "yes_rate": LocalAlarmSpec(
        "drift-yes-rate-warning-{api}",
        "drift-yes-rate-warning",
        "warning",
        '{api}: the share of "yes" predictions moved from the model\'s reference',
        evaluation_periods=2,
        threshold=_DRIFT.yes_rate_warning_points,
    ),
    "features_over_info": LocalAlarmSpec(
        "drift-features-psi-info-{api}",
        "drift-features-psi-info",
        "info",
        "{api}: several input features have PSI over the info bound",
        evaluation_periods=2,
        ok_action=False,
        threshold=_DRIFT.psi_info_feature_count,
        comparison="GreaterThanOrEqualToThreshold",
    ),
}

# Evaluation alarms: weekly gauges, missing data keeps the state (IGNORE).
EVALUATION_ALARMS: Final[dict[str, LocalAlarmSpec]] = {
    "f1": LocalAlarmSpec(
        "evaluation-f1-drop-warning-{api}",
        "evaluation-f1-drop-warning",
        "warning",
        "{api}: realised F1 on the latest judged week dropped below the manifest's",
        missing="ignore",
        threshold=_EVALUATION.f1_drop_warning_relative,
        period_s=_WEEK_S,
    ),
    "conversion": LocalAlarmSpec(
        "evaluation-conversion-drop-warning-{api}",
        "evaluation-conversion-drop-warning",
        "warning",
        '{api}: conversion of "yes" predictions dropped below its historical baseline',
        missing="ignore",
        threshold=_EVALUATION.conversion_drop_warning_relative,
        period_s=_WEEK_S,
    ),
    "ece": LocalAlarmSpec(
        "evaluation-calibration-info-{api}",
        "evaluation-calibration-info",
        "info",
        "{api}: expected calibration error on the latest judged week is above the bound",
        missing="ignore",
        ok_action=False,
        threshold=_EVALUATION.ece_info_bound,
        period_s=_WEEK_S,
    ),
}


@dataclass(frozen=True)
class Observation:
    """One period of one alarm: did the job's figure breach? (None: no data for the period)."""

    spec: LocalAlarmSpec
    period: datetime
    breaching: bool | None
    reason: str


def drift_observations(results: list[WindowResult]) -> list[Observation]:
    """One observation per drift alarm and API version for each computed hour.

    An API version with no judged group in the hour has no data (the job publishes no gauge
    for an unjudged window), which the drift alarms treat as not breaching.
    """
    observations = []
    for result in sorted(results, key=lambda r: r.start):
        apis = sorted({g.api_version for g in result.groups})
        for api in apis:
            groups = [g for g in result.groups if g.api_version == api]
            judged = [g for g in groups if g.judged]
            for code, template in DRIFT_ALARMS.items():
                spec = template.for_api(api)  # type: ignore[arg-type]
                alerts = [a for g in judged for a in g.alerts if a.code == code]
                if not judged:
                    observations.append(Observation(spec, result.start, None, "no judged window"))
                    continue
                reason = (
                    "; ".join(a.message for a in alerts)
                    if alerts
                    else f"{result.start:%Y-%m-%d %H}:00 UTC within bounds"
                )
                observations.append(Observation(spec, result.start, bool(alerts), reason))
    return observations


def evaluation_observations(results: list[GroupResult]) -> list[Observation]:
    """One observation per evaluation alarm and API version: its latest judged window.

    In AWS the job publishes the gauges of the latest week with enough outcomes; the local run
    is judged on the same window.
    """
    observations = []
    for api in sorted({r.api_version for r in results}):
        judged = [r for r in results if r.api_version == api and r.signals.judged]
        if not judged:
            continue
        latest = max(judged, key=lambda r: (r.window.end, r.computed_at))
        s = latest.signals
        label = f"{api} {latest.model_version} {latest.window.label}"
        checks: dict[str, tuple[bool, str]] = {
            "f1": (
                s.f1_warning,
                f"{label}: F1 dropped {s.f1_drop_relative:.1%} against the manifest"
                if s.f1_drop_relative is not None
                else f"{label}: F1 not comparable",
            ),
            "conversion": (
                s.conversion_warning,
                f"{label}: conversion dropped {s.conversion_drop_relative:.1%} "
                f"({s.baseline_conversion_source})"
                if s.conversion_drop_relative is not None
                else f"{label}: no conversion baseline yet",
            ),
            "ece": (
                s.ece_info,
                f"{label}: ECE {s.ece:.3f}" if s.ece is not None else f"{label}: ECE not computed",
            ),
        }
        for code, (breaching, reason) in checks.items():
            spec = EVALUATION_ALARMS[code].for_api(api)
            observations.append(Observation(spec, latest.window.end, breaching, reason))
    return observations


def all_specs(apis: tuple[ApiVersion, ...]) -> list[LocalAlarmSpec]:
    """Every local alarm for these API versions (what the catalogue test compares with infra)."""
    return [t.for_api(api) for api in apis for t in (*DRIFT_ALARMS.values(), *EVALUATION_ALARMS.values())]
