"""What a drift window produces, as stored models, and how it is judged against the policy.

A window's result keeps the counts behind every figure (per bin, per decision, per band),
not just the figures, so that results add up: the daily aggregate is the sum of its hours,
recomputed from scratch on every run, and re-running an hour replaces that hour's counts
instead of adding to them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from propensity.constants import CONFIDENCE_BANDS
from propensity.drift.psi import psi
from propensity.policy.drift import DriftThresholds

Status = Literal["ok", "info", "warning", "not_judged"]
Tier = Literal["warning", "info"]
UNSEEN_VALUES_KEPT = 20


class FeatureDrift(BaseModel):
    """One feature: its bins, the reference shares, the window's counts, PSI and verdict."""

    name: str
    kind: str
    labels: list[str]
    reference: list[float]
    counts: list[int]
    psi: float | None = None
    status: Status = "not_judged"
    invalid: Annotated[int, Field(ge=0, description="values of the wrong type or out of range")] = 0
    unseen_values: dict[str, int] = Field(default_factory=dict)

    @property
    def unseen(self) -> int:
        """Events whose value falls in the "unseen" bin (categorical features)."""
        return self.counts[-1] if self.kind != "numeric" else 0


class PredictionDrift(BaseModel):
    """How the model answered in the window, as counts, next to its reference."""

    events: int = 0
    yes: int = 0
    probability_sum: float = 0.0
    uncertain: int = 0
    threshold: float | None = None
    confidence: dict[str, int] = Field(default_factory=dict)
    score_counts: list[int] = Field(default_factory=list)
    reference_yes_rate: float | None = None
    reference_mean_probability: float | None = None
    reference_uncertain_share: float | None = None
    reference_confidence_mix: dict[str, float] = Field(default_factory=dict)
    reference_score: list[float] = Field(default_factory=list)
    score_psi: float | None = None

    @property
    def yes_rate(self) -> float | None:
        return self.yes / self.events if self.events else None

    @property
    def mean_probability(self) -> float | None:
        return self.probability_sum / self.events if self.events else None

    @property
    def uncertain_share(self) -> float | None:
        return self.uncertain / self.events if self.events else None

    @property
    def confidence_mix(self) -> dict[str, float]:
        return (
            {band: self.confidence.get(band, 0) / self.events for band in CONFIDENCE_BANDS}
            if self.events
            else {}
        )

    @property
    def yes_rate_shift_points(self) -> float | None:
        """The "yes" rate minus the reference's, in percentage points."""
        if self.yes_rate is None or self.reference_yes_rate is None:
            return None
        return 100.0 * (self.yes_rate - self.reference_yes_rate)


class Alert(BaseModel):
    """A condition the alarms watch for, as the job saw it (the alarms judge the published metrics)."""

    tier: Tier
    code: Literal["feature_psi", "yes_rate", "features_over_info"]
    message: str


class GroupDrift(BaseModel):
    """Drift of one model version of one API version in one window."""

    api_version: str
    model_version: str
    events: int
    has_reference: bool
    judged: bool = False
    note: str = ""
    features: list[FeatureDrift] = Field(default_factory=list)
    prediction: PredictionDrift = Field(default_factory=PredictionDrift)
    warnings: dict[str, int] = Field(
        default_factory=dict, description="field -> events whose warnings name it"
    )
    events_with_warnings: int = 0
    alerts: list[Alert] = Field(default_factory=list)

    @property
    def unknown_categories(self) -> dict[str, int]:
        """Per categorical field, events whose value the model's reference (and schema) never had."""
        return {f.name: f.unseen for f in self.features if f.kind != "numeric"}

    @property
    def validation_failures(self) -> dict[str, int]:
        """Per field, values that break the field's declared type or range."""
        return {f.name: f.invalid for f in self.features}

    def feature(self, name: str) -> FeatureDrift:
        for item in self.features:
            if item.name == name:
                return item
        raise KeyError(f"{self.api_version} has no feature {name!r}")

    @property
    def max_psi(self) -> float | None:
        values = [f.psi for f in self.features if f.psi is not None]
        return max(values) if values else None


class SourceObject(BaseModel):
    """An archive object a window was computed from (a changed etag means: recompute)."""

    key: str
    size: int
    etag: str


class WindowResult(BaseModel):
    """The drift job's result for ``[start, end)``."""

    start: datetime
    end: datetime
    computed_at: datetime
    sources: list[SourceObject] = Field(default_factory=list)
    lines: int = 0
    events: int = 0
    bad_lines: int = 0
    bad_examples: list[str] = Field(default_factory=list)
    synthetic_events: dict[str, int] = Field(
        default_factory=dict, description="probe and hook events by API version: counted, never judged"
    )
    groups: list[GroupDrift] = Field(default_factory=list)
    thresholds: DriftThresholds = Field(default_factory=DriftThresholds)

    @property
    def alerts(self) -> list[Alert]:
        return [alert for group in self.groups for alert in group.alerts]


# Judging ---------------------------------------------------------------------------------------


def feature_status(value: float | None, thresholds: DriftThresholds) -> Status:
    if value is None:
        return "not_judged"
    if value > thresholds.psi_warning:
        return "warning"
    if value > thresholds.psi_info:
        return "info"
    return "ok"


def judge(group: GroupDrift, thresholds: DriftThresholds) -> GroupDrift:
    """Fill in PSI, statuses and alerts from the group's counts (idempotent)."""
    for feature in group.features:
        feature.psi = psi(feature.reference, feature.counts, thresholds.psi_epsilon)
    prediction = group.prediction
    prediction.score_psi = (
        psi(prediction.reference_score, prediction.score_counts, thresholds.psi_epsilon)
        if prediction.reference_score and len(prediction.reference_score) == len(prediction.score_counts)
        else None
    )
    group.alerts = []
    if not group.has_reference:
        group.judged = False
        group.note = group.note or f"no reference for model {group.model_version}: counted, not judged"
        return group
    group.judged = group.events >= thresholds.min_events_per_window
    if not group.judged:
        group.note = (
            f"{group.events} events, fewer than {thresholds.min_events_per_window}: "
            "figures shown, not judged (small-count policy)"
        )
        for feature in group.features:
            feature.status = "not_judged"
        return group
    group.note = ""
    for feature in group.features:
        feature.status = feature_status(feature.psi, thresholds)
    over_warning = [f for f in group.features if f.status == "warning"]
    over_info = [f for f in group.features if f.status in ("warning", "info")]
    label = f"{group.api_version} {group.model_version}"
    if over_warning:
        names = ", ".join(f"{f.name} {f.psi:.2f}" for f in over_warning)
        group.alerts.append(
            Alert(
                tier="warning",
                code="feature_psi",
                message=f"{label}: PSI over {thresholds.psi_warning}: {names}",
            )
        )
    shift = prediction.yes_rate_shift_points
    if shift is not None and abs(shift) > thresholds.yes_rate_warning_points:
        group.alerts.append(
            Alert(
                tier="warning",
                code="yes_rate",
                message=(
                    f"{label}: yes rate {100 * (prediction.yes_rate or 0):.1f}% vs reference "
                    f"{100 * (prediction.reference_yes_rate or 0):.1f}% ({shift:+.1f} points)"
                ),
            )
        )
    if len(over_info) >= thresholds.psi_info_feature_count:
        group.alerts.append(
            Alert(
                tier="info",
                code="features_over_info",
                message=f"{label}: {len(over_info)} features with PSI over {thresholds.psi_info}",
            )
        )
    return group


# Adding results up -------------------------------------------------------------------------------


def merge_groups(groups: Iterable[GroupDrift], thresholds: DriftThresholds) -> GroupDrift:
    """The sum of several windows' results for the same model version (same bins), judged anew."""
    items = list(groups)
    if not items:
        raise ValueError("nothing to merge")
    first = items[0]
    merged = first.model_copy(deep=True)
    for other in items[1:]:
        if (other.api_version, other.model_version) != (first.api_version, first.model_version):
            raise ValueError("only results of one model version add up")
        merged.events += other.events
        merged.events_with_warnings += other.events_with_warnings
        merged.warnings = dict(Counter(merged.warnings) + Counter(other.warnings))
        by_name = {f.name: f for f in other.features}
        for feature in merged.features:
            extra = by_name.get(feature.name)
            if extra is None or extra.labels != feature.labels:
                continue
            feature.counts = [a + b for a, b in zip(feature.counts, extra.counts, strict=True)]
            feature.invalid += extra.invalid
            feature.unseen_values = top_values(Counter(feature.unseen_values) + Counter(extra.unseen_values))
        p, q = merged.prediction, other.prediction
        p.events += q.events
        p.yes += q.yes
        p.probability_sum += q.probability_sum
        p.uncertain += q.uncertain
        p.confidence = dict(Counter(p.confidence) + Counter(q.confidence))
        if len(p.score_counts) == len(q.score_counts):
            p.score_counts = [a + b for a, b in zip(p.score_counts, q.score_counts, strict=True)]
    return judge(merged, thresholds)


def top_values(counts: Counter[str]) -> dict[str, int]:
    """The most frequent unseen values, so one noisy consumer cannot bloat a stored result."""
    return dict(counts.most_common(UNSEEN_VALUES_KEPT))
