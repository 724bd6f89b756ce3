"""Names and dimensions of the metrics the evaluation job publishes; the alarms read these."""

from __future__ import annotations

from typing import Final

DIMENSION_API: Final[str] = "ApiVersion"
DIMENSION_MODEL: Final[str] = "ModelVersion"

# Per (ApiVersion, ModelVersion), for the latest window with enough outcomes ("judged").
F1: Final[str] = "EvaluationF1"
PRECISION: Final[str] = "EvaluationPrecision"
RECALL: Final[str] = "EvaluationRecall"
ROC_AUC: Final[str] = "EvaluationRocAuc"
PR_AUC: Final[str] = "EvaluationPrAuc"
BRIER: Final[str] = "EvaluationBrier"
CALIBRATION_ERROR: Final[str] = "EvaluationCalibrationError"
CONVERSION_RATE: Final[str] = "EvaluationConversionRate"
UNEXPECTED_SUBSCRIBER_RATE: Final[str] = "EvaluationUnexpectedSubscriberRate"
NET_RETURN_EUR: Final[str] = "EvaluationCampaignNetReturnEur"
LABEL_COVERAGE: Final[str] = "EvaluationLabelCoverage"
F1_DROP: Final[str] = "EvaluationF1DropRelative"
CONVERSION_DROP: Final[str] = "EvaluationConversionDropRelative"

# Per (ApiVersion, ModelVersion), CBPE on the newest window (no outcomes needed).
ESTIMATED_F1: Final[str] = "EstimatedF1"
ESTIMATED_PRECISION: Final[str] = "EstimatedPrecision"
ESTIMATED_RECALL: Final[str] = "EstimatedRecall"
ESTIMATED_ROC_AUC: Final[str] = "EstimatedRocAuc"
ESTIMATED_NET_RETURN_EUR: Final[str] = "EstimatedCampaignNetReturnEur"
ESTIMATE_TRUSTED: Final[str] = "EstimateTrusted"  # 1 trusted, 0 not (unverified or untrusted)
NEWEST_LABEL_COVERAGE: Final[str] = "EvaluationNewestWindowLabelCoverage"

# Per ApiVersion only (fixed dimensions the alarms can name at synth time): the worst value
# over the model versions judged in the API version's latest judged window.
ALARM_METRICS: Final[tuple[str, ...]] = (F1_DROP, CONVERSION_DROP, CALIBRATION_ERROR)
