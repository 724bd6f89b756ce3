"""Constants that cross a boundary (API, bundle, monitors, infrastructure). Defined once here."""

from __future__ import annotations

from typing import Final, Literal

ApiVersion = Literal["v1", "v2"]
API_VERSIONS: Final[tuple[ApiVersion, ...]] = ("v1", "v2")

Alias = Literal["champion", "challenger"]
# An A/B experiment's two arms (issue 17): sticky per customer, recorded in every PredictionEvent.
ExperimentArm = Literal["champion", "challenger"]
ALIASES: Final[tuple[Alias, ...]] = ("champion", "challenger")

Decision = Literal["yes", "no"]
ConfidenceBand = Literal["low", "medium", "high"]
CONFIDENCE_BANDS: Final[tuple[ConfidenceBand, ...]] = ("low", "medium", "high")

# Confidence is how far the probability lies from the decision threshold, as a share of the
# room available on that side of it: margin = (p - t) / (1 - t) above, (t - p) / t below, in
# [0, 1]. A plain |p - t| would make "high" unreachable on the "yes" side when t is low.
CONFIDENCE_MEDIUM_FROM: Final[float] = 0.2
CONFIDENCE_HIGH_FROM: Final[float] = 0.5

# Scores this close to the threshold (in margin units) count as "uncertain" for the monitors.
UNCERTAIN_MARGIN: Final[float] = 0.1

# Request limits. API Gateway caps payloads at 10 MB; we refuse far earlier, before parsing.
MAX_BATCH_RECORDS: Final[int] = 1000
MAX_BODY_BYTES_SINGLE: Final[int] = 16 * 1024
MAX_BODY_BYTES_BATCH: Final[int] = 1024 * 1024
MAX_JSON_DEPTH: Final[int] = 8
# Identifier bounds shared by the API, the PredictionEvent and the labels files that join on them.
MAX_PREDICTION_ID_LENGTH: Final[int] = 64
MAX_CUSTOMER_REF_LENGTH: Final[int] = 64

# PredictionEvent schema version: bump on any breaking change; readers accept the versions they know.
EVENT_SCHEMA_VERSION: Final[int] = 1
# Marker that lets a log subscription filter pick PredictionEvents out of a function's log stream.
EVENT_LOG_MARKER: Final[str] = "PredictionEvent"

# Archive layout shared by Firehose (S3 prefix) and the local server (folder).
ARCHIVE_PREDICTIONS_PREFIX: Final[str] = "predictions/"
ARCHIVE_LABELS_PREFIX: Final[str] = "labels/"

# Metric namespace for every EMF metric the service and the jobs publish.
METRIC_NAMESPACE: Final[str] = "Propensity"
SERVICE_NAME: Final[str] = "propensity-api"

# The official UCI archive, used only when neither BANK_MARKETING_DATA nor the cache has the data.
UCI_ARCHIVE_URL: Final[str] = "https://archive.ics.uci.edu/static/public/222/bank+marketing.zip"
BANK_FULL_CSV: Final[str] = "bank-full.csv"
BANK_FULL_SHA256: Final[str] = "d1513ec63b385506f7cfce9f2c5caa9fe99e7ba4e8c3fa264b3aaf0f849ed32d"
BANK_ROWS: Final[int] = 45211

# Which model answered: set on v1 answers (whose body is fixed by the contract) so the probe and
# the deployment hooks can tell a canary's new model from the old one.
MODEL_VERSION_HEADER: Final[str] = "X-Model-Version"

# Synthetic traffic (the probe and the deployment hooks) carries this header; its value names the
# sender. The PredictionEvent records it (``synthetic``) so drift, shadow, evaluation and
# experiments leave it out and count it on its own.
SYNTHETIC_HEADER: Final[str] = "X-Propensity-Synthetic"
# Which arm of a running A/B experiment answered (v2).
EXPERIMENT_ARM_HEADER: Final[str] = "X-Experiment-Arm"
# Local consumer identification (v1 usage by consumer): the API key header API Gateway also reads.
API_KEY_HEADER: Final[str] = "x-api-key"
