"""Figures for one (API version, model version) in one window: realised, estimated, per segment."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity.evaluation.baselines import Baseline
from propensity.evaluation.business import business_figures
from propensity.evaluation.cbpe import assess_trust, estimate
from propensity.evaluation.join import GroupRows
from propensity.evaluation.models import Coverage, GroupResult, SegmentResult, Signals, Window
from propensity.monitoring.metrics import classification_metrics, reliability_table
from propensity.policy.evaluation import EvaluationThresholds
from propensity.segments import MIN_SEGMENT_POSITIVES, MIN_SEGMENT_ROWS, age_group, balance_bracket

UNKNOWN_SEGMENT = "unknown"
RELIABILITY_PLOT_BINS = 40
_NUMERIC_SEGMENTS = {"age_group": age_group, "balance_bracket": balance_bracket}


def segment_labels_of(family: str, values: Sequence[Any]) -> list[str]:
    """Segment label per row (``propensity.segments``); rows lacking the field are "unknown"."""
    present = [i for i, v in enumerate(values) if v is not None and not isinstance(v, bool)]
    labels = [UNKNOWN_SEGMENT] * len(values)
    if family in _NUMERIC_SEGMENTS:
        numeric = []
        for i in present:
            try:
                numeric.append((i, float(values[i])))
            except (TypeError, ValueError):
                continue
        for (i, _), label in zip(numeric, _NUMERIC_SEGMENTS[family]([v for _, v in numeric]), strict=True):
            labels[i] = label
    else:
        for i in present:
            labels[i] = str(values[i])
    return labels


def coverage_of(rows: GroupRows, thresholds: EvaluationThresholds) -> Coverage:
    predictions = int(rows.label.size)
    labelled = int(rows.labelled.sum())
    share = labelled / predictions if predictions else 0.0
    return Coverage(
        predictions=predictions, labelled=labelled, share=share, thin=share < thresholds.min_label_coverage
    )


def served_threshold(rows: GroupRows) -> tuple[float, list[str]]:
    """The threshold the events were decided at (one per model version; a mix is reported)."""
    counts = Counter(rows.threshold.tolist())
    threshold, _ = counts.most_common(1)[0]
    notes = []
    if len(counts) > 1:
        notes.append(
            f"events carry {len(counts)} different thresholds; figures use the most common, {threshold}"
        )
    disagreements = int(np.sum((rows.probability >= threshold) != rows.decision))
    if disagreements:
        notes.append(f"{disagreements} served decisions disagree with probability >= {threshold}")
    return float(threshold), notes


def _segments(
    rows: GroupRows, threshold: float, thresholds: EvaluationThresholds
) -> dict[str, list[SegmentResult]]:
    labelled = rows.labelled
    result: dict[str, list[SegmentResult]] = {}
    for family, values in rows.segment_values.items():
        labels = np.asarray(segment_labels_of(family, values))
        entries = []
        for label in sorted(set(labels.tolist())):
            in_segment = labels == label
            known = in_segment & labelled
            y, p, d = rows.label[known], rows.probability[known], rows.decision[known]
            realised = classification_metrics(y, p, threshold) if known.any() else None
            small = (
                realised is None
                or realised.n < MIN_SEGMENT_ROWS
                or realised.positives < MIN_SEGMENT_POSITIVES
            )
            entries.append(
                SegmentResult(
                    family=family,
                    label=label,
                    predictions=int(in_segment.sum()),
                    labelled=int(known.sum()),
                    small=small,
                    realised=realised,
                    estimated_f1=estimate(
                        rows.probability[in_segment], rows.decision[in_segment], thresholds
                    ).f1,
                    business=business_figures(y, d, thresholds) if known.any() else None,
                )
            )
        result[family] = entries
    return result


def signals_for(
    realised_f1: float,
    conversion: float | None,
    ece: float,
    baseline: Baseline | None,
    history_conversion: Sequence[float],
    thresholds: EvaluationThresholds,
) -> Signals:
    """Relative drops against the manifest's F1 and the conversion history, and the ECE bound."""
    if baseline is None:
        return Signals(
            judged=False,
            reason="model version not found in the registry: no baseline",
            ece=ece,
            ece_info=ece > thresholds.ece_info_bound,
        )
    if history_conversion:
        base_conversion: float | None = float(np.mean(history_conversion))
        source = f"mean of the previous {len(history_conversion)} judged window(s)"
    else:
        base_conversion, source = baseline.conversion, "manifest holdout precision (no history yet)"
    f1_drop = (baseline.f1 - realised_f1) / baseline.f1 if baseline.f1 > 0 else None
    conversion_drop = (
        (base_conversion - conversion) / base_conversion
        if base_conversion and conversion is not None
        else None
    )
    return Signals(
        judged=True,
        baseline_f1=baseline.f1,
        f1_drop_relative=f1_drop,
        f1_warning=f1_drop is not None and f1_drop > thresholds.f1_drop_warning_relative,
        baseline_conversion=base_conversion,
        baseline_conversion_source=source,
        conversion_drop_relative=conversion_drop,
        conversion_warning=conversion_drop is not None
        and conversion_drop > thresholds.conversion_drop_warning_relative,
        ece=ece,
        ece_info=ece > thresholds.ece_info_bound,
    )


def evaluate_group(
    rows: GroupRows,
    window: Window,
    *,
    baseline: Baseline | None,
    history_conversion: Sequence[float],
    inherited_distrust: str | None,
    thresholds: EvaluationThresholds,
    computed_at: datetime,
) -> GroupResult:
    """All figures of one group; realised ones only over the rows that have an outcome."""
    threshold, notes = served_threshold(rows)
    coverage = coverage_of(rows, thresholds)
    known = rows.labelled
    y: npt.NDArray[Any] = rows.label[known]
    p, d = rows.probability[known], rows.decision[known]
    realised = classification_metrics(y, p, threshold) if coverage.labelled else None
    business = business_figures(y, d, thresholds) if coverage.labelled else None
    judged = realised is not None and not coverage.thin and coverage.labelled >= thresholds.min_labelled_rows
    if realised is not None and business is not None and judged:
        signals = signals_for(
            realised.f1, business.conversion_rate, realised.ece, baseline, history_conversion, thresholds
        )
    else:
        why = (
            "thin label coverage" if coverage.thin else f"fewer than {thresholds.min_labelled_rows} outcomes"
        )
        signals = Signals(
            judged=False, reason=f"not judged: {why}", baseline_f1=baseline.f1 if baseline else None
        )
    estimated = assess_trust(
        estimate(rows.probability, rows.decision, thresholds),
        labelled=coverage.labelled,
        labelled_ece=realised.ece if realised else None,
        labelled_base_rate=realised.base_rate if realised else None,
        labelled_mean_probability=realised.mean_probability if realised else None,
        manifest_ece=baseline.ece if baseline else None,
        thresholds=thresholds,
        inherited=inherited_distrust,
    )
    if coverage.thin:
        notes.append(
            f"thin coverage: {coverage.share:.0%} of predictions have an outcome "
            f"(< {thresholds.min_label_coverage:.0%}); realised figures are provisional"
        )
    return GroupResult(
        api_version=rows.api_version,
        model_version=rows.model_version,
        window=window,
        computed_at=computed_at,
        threshold=threshold,
        coverage=coverage,
        realised=realised,
        reliability=reliability_table(y, p) if coverage.labelled else [],
        reliability_fine=reliability_table(y, p, bins=RELIABILITY_PLOT_BINS) if coverage.labelled else [],
        business=business,
        estimated=estimated,
        segments=_segments(rows, threshold, thresholds),
        signals=signals,
        baseline=baseline,
        notes=notes,
    )
