"""Turn a window's tally into judged results, with each model version's own reference.

Events name the model that scored them, so each (API version, model version) in the window
is compared with the reference stored in that model's bundle manifest; during a canary two
model versions of one API are judged separately, each against its own training data.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Protocol

from propensity.constants import ApiVersion
from propensity.drift.aggregates import GroupCounts, HourCounts
from propensity.drift.bins import FeatureBins
from propensity.drift.results import (
    FeatureDrift,
    GroupDrift,
    PredictionDrift,
    SourceObject,
    WindowResult,
    judge,
    top_values,
)
from propensity.features.schemas import SPECS
from propensity.monitoring.reference import SCORE_EDGES, Reference
from propensity.policy.drift import DriftThresholds


class ReferenceSource(Protocol):
    """Where the job finds a model version's reference distributions."""

    def reference(self, api_version: ApiVersion, model_version: str) -> Reference | None:
        """The reference, or ``None`` when the model version is unknown."""


class StaticReferences:
    """References held in memory (tests, benchmarks, the replay demo)."""

    def __init__(self, references: dict[tuple[str, str], Reference]) -> None:
        self.references = references

    def reference(self, api_version: ApiVersion, model_version: str) -> Reference | None:
        return self.references.get((api_version, model_version))


def group_drift(counts: GroupCounts, reference: Reference | None, thresholds: DriftThresholds) -> GroupDrift:
    """A judged ``GroupDrift`` from one group's counts and its model's reference."""
    prediction = PredictionDrift(
        events=counts.events,
        yes=counts.yes,
        probability_sum=counts.probability_sum,
        uncertain=counts.uncertain,
        threshold=counts.threshold,
        confidence=dict(counts.confidence),
        score_counts=list(counts.score_counts),
    )
    group = GroupDrift(
        api_version=counts.api_version,
        model_version=counts.model_version,
        events=counts.events,
        has_reference=reference is not None,
        prediction=prediction,
        warnings=dict(counts.warnings),
        events_with_warnings=counts.events_with_warnings,
    )
    if reference is None:
        return judge(group, thresholds)
    prediction.reference_yes_rate = reference.yes_rate
    prediction.reference_mean_probability = reference.mean_probability
    prediction.reference_uncertain_share = reference.uncertain_share
    prediction.reference_confidence_mix = dict(reference.confidence_mix)
    # Score PSI only when the reference histogram used the same edges as the tally.
    same_edges = [round(e, 6) for e in reference.score_edges] == [round(e, 6) for e in SCORE_EDGES]
    prediction.reference_score = list(reference.score_proportions) if same_edges else []
    for feature in SPECS[counts.api_version].features:  # type: ignore[index]
        feature_reference = reference.features.get(feature.name)
        if feature_reference is None:
            continue
        bins = FeatureBins.from_reference(feature, feature_reference)
        binned = bins.count(counts.values.get(feature.name, {}))
        group.features.append(
            FeatureDrift(
                name=feature.name,
                kind=feature.kind,
                labels=list(bins.labels),
                reference=list(bins.reference),
                counts=binned.counts,
                invalid=binned.invalid,
                unseen_values=top_values(Counter(binned.unseen_values)),
            )
        )
    return judge(group, thresholds)


def window_result(
    start: datetime,
    end: datetime,
    counts: HourCounts,
    references: ReferenceSource,
    thresholds: DriftThresholds,
    computed_at: datetime | None = None,
    sources: Sequence[SourceObject] = (),
) -> WindowResult:
    """The judged result of one window, from the engine's counts of it."""
    groups = [
        group_drift(group, references.reference(group.api_version, group.model_version), thresholds)  # type: ignore[arg-type]
        for _, group in sorted(counts.groups.items())
    ]
    return WindowResult(
        start=start,
        end=end,
        computed_at=computed_at or datetime.now(UTC),
        sources=list(sources),
        lines=counts.lines,
        events=counts.events,
        bad_lines=counts.bad_lines,
        synthetic_events=dict(counts.synthetic),
        groups=groups,
        thresholds=thresholds,
    )
