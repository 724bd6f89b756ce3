"""The drift job's metrics: names (the alarms in infra import these), dimensions, values.

Dimensions stay low-cardinality: the API version, plus the feature or the confidence band.
Per-feature PSI and the prediction figures are published only for judged windows (the
small-count policy); counts of unknown categories and invalid values always.
"""

from __future__ import annotations

from typing import Final

from propensity.drift.publish import MetricPoint
from propensity.drift.results import GroupDrift, WindowResult

API_DIMENSION: Final = "ApiVersion"
FEATURE_DIMENSION: Final = "Feature"
BAND_DIMENSION: Final = "Band"

WINDOW_EVENTS: Final = "DriftWindowEvents"
FEATURE_PSI: Final = "FeaturePSI"
MAX_FEATURE_PSI: Final = "MaxFeaturePSI"
FEATURES_OVER_PSI_INFO: Final = "FeaturesOverPSIInfo"
YES_RATE: Final = "PredictedYesRate"
YES_RATE_SHIFT: Final = "YesRateShiftPoints"  # absolute difference from the reference, in points
MEAN_PROBABILITY: Final = "MeanProbability"
UNCERTAIN_SHARE: Final = "UncertainShare"
CONFIDENCE_SHARE: Final = "ConfidenceShare"
SCORE_PSI: Final = "ScorePSI"
UNKNOWN_CATEGORY_VALUES: Final = "DriftUnknownCategoryValues"
INVALID_VALUES: Final = "DriftInvalidValues"
ARCHIVE_BAD_LINES: Final = "ArchiveBadLines"


def group_points(group: GroupDrift, result: WindowResult) -> list[MetricPoint]:
    """The metric values of one judged (or not) group."""
    at = result.start
    api = {API_DIMENSION: group.api_version}
    points = [MetricPoint(WINDOW_EVENTS, group.events, at, api, "Count")]
    for feature in group.features:
        dims = {**api, FEATURE_DIMENSION: feature.name}
        if feature.kind != "numeric" and feature.unseen:
            points.append(MetricPoint(UNKNOWN_CATEGORY_VALUES, feature.unseen, at, dims, "Count"))
        if feature.invalid:
            points.append(MetricPoint(INVALID_VALUES, feature.invalid, at, dims, "Count"))
    if not group.judged:
        return points
    thresholds = result.thresholds
    for feature in group.features:
        if feature.psi is not None:
            points.append(MetricPoint(FEATURE_PSI, feature.psi, at, {**api, FEATURE_DIMENSION: feature.name}))
    if group.max_psi is not None:
        points.append(MetricPoint(MAX_FEATURE_PSI, group.max_psi, at, api))
    over_info = sum(1 for f in group.features if f.psi is not None and f.psi > thresholds.psi_info)
    points.append(MetricPoint(FEATURES_OVER_PSI_INFO, over_info, at, api, "Count"))
    prediction = group.prediction
    if prediction.yes_rate is not None:
        points.append(MetricPoint(YES_RATE, 100 * prediction.yes_rate, at, api, "Percent"))
    if prediction.yes_rate_shift_points is not None:
        points.append(MetricPoint(YES_RATE_SHIFT, abs(prediction.yes_rate_shift_points), at, api))
    if prediction.mean_probability is not None:
        points.append(MetricPoint(MEAN_PROBABILITY, prediction.mean_probability, at, api))
    if prediction.uncertain_share is not None:
        points.append(MetricPoint(UNCERTAIN_SHARE, 100 * prediction.uncertain_share, at, api, "Percent"))
    for band, share in prediction.confidence_mix.items():
        points.append(
            MetricPoint(CONFIDENCE_SHARE, 100 * share, at, {**api, BAND_DIMENSION: band}, "Percent")
        )
    if prediction.score_psi is not None:
        points.append(MetricPoint(SCORE_PSI, prediction.score_psi, at, api))
    return points


def window_points(result: WindowResult) -> list[MetricPoint]:
    """Every metric value of a window result."""
    points = [point for group in result.groups for point in group_points(group, result)]
    if result.bad_lines:
        points.append(MetricPoint(ARCHIVE_BAD_LINES, result.bad_lines, result.start, {}, "Count"))
    return points
