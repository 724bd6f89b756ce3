"""Figures for one (API version, model version) in one window, from the engine's cube.

Realised figures are over the rows with an outcome; estimated ones (CBPE) over all rows;
segments as defined in ``propensity.segments`` (labelled in SQL from the same constants).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np

from propensity.evaluation.baselines import Baseline
from propensity.evaluation.cbpe import assess_trust
from propensity.evaluation.cube import (
    GroupCube,
    Histogram,
    business_of,
    disagreements,
    estimate_of,
    realised_metrics,
    reliability,
)
from propensity.evaluation.models import Coverage, GroupResult, SegmentResult, Signals, Window
from propensity.monitoring.metrics import ECE_BINS
from propensity.policy.evaluation import EvaluationThresholds
from propensity.segments import MIN_SEGMENT_POSITIVES, MIN_SEGMENT_ROWS

RELIABILITY_PLOT_BINS = 40


def coverage_of(hist: Histogram, thresholds: EvaluationThresholds) -> Coverage:
    predictions, labelled = hist.predictions, hist.labelled
    share = labelled / predictions if predictions else 0.0
    return Coverage(
        predictions=predictions, labelled=labelled, share=share, thin=share < thresholds.min_label_coverage
    )


def served_threshold(cube: GroupCube) -> tuple[float, list[str]]:
    """The threshold the events were decided at (one per model version; a mix is reported)."""
    threshold, _ = cube.thresholds.most_common(1)[0]
    notes = []
    if len(cube.thresholds) > 1:
        notes.append(
            f"events carry {len(cube.thresholds)} different thresholds; figures use the most common, "
            f"{threshold}, and each decision is checked against its own"
        )
    disagreeing = disagreements(cube.overall)
    if disagreeing:
        notes.append(f"{disagreeing} served decisions disagree with probability >= their threshold")
    return float(threshold), notes


def _segments(cube: GroupCube, thresholds: EvaluationThresholds) -> dict[str, list[SegmentResult]]:
    result: dict[str, list[SegmentResult]] = {}
    for family, segments in sorted(cube.segments.items()):
        entries = []
        for label, hist in sorted(segments.items()):
            realised = realised_metrics(hist)
            metrics = realised.metrics if realised else None
            small = (
                metrics is None or metrics.n < MIN_SEGMENT_ROWS or metrics.positives < MIN_SEGMENT_POSITIVES
            )
            entries.append(
                SegmentResult(
                    family=family,
                    label=label,
                    predictions=hist.predictions,
                    labelled=hist.labelled,
                    small=small,
                    realised=metrics,
                    estimated_f1=estimate_of(hist, thresholds).f1,
                    business=business_of(hist, thresholds),
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
    cube: GroupCube,
    window: Window,
    *,
    baseline: Baseline | None,
    history_conversion: Sequence[float],
    inherited_distrust: str | None,
    thresholds: EvaluationThresholds,
    computed_at: datetime,
) -> GroupResult:
    """All figures of one group; realised ones only over the rows that have an outcome."""
    threshold, notes = served_threshold(cube)
    hist = cube.overall
    coverage = coverage_of(hist, thresholds)
    found = realised_metrics(hist) if coverage.labelled else None
    realised = found.metrics if found else None
    business = business_of(hist, thresholds)
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
        estimate_of(hist, thresholds),
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
        api_version=cube.api_version,  # type: ignore[arg-type]
        model_version=cube.model_version,
        window=window,
        computed_at=computed_at,
        threshold=threshold,
        coverage=coverage,
        realised=realised,
        auc_error_bound=found.auc_error_bound if found else None,
        reliability=reliability(hist, ECE_BINS) if coverage.labelled else [],
        reliability_fine=reliability(hist, RELIABILITY_PLOT_BINS) if coverage.labelled else [],
        business=business,
        estimated=estimated,
        segments=_segments(cube, thresholds),
        signals=signals,
        baseline=baseline,
        notes=notes,
    )
