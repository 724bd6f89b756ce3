"""What one evaluation computes and stores, per window and per (API version, model version)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from propensity.constants import ApiVersion
from propensity.evaluation.baselines import Baseline
from propensity.monitoring.metrics import ClassificationMetrics, ReliabilityBin

Trust = Literal["trusted", "unverified", "untrusted"]


class Window(BaseModel):
    """A half-open time window ``[start, end)`` in UTC."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.start:%Y-%m-%d}"


class Coverage(BaseModel):
    """How many predictions of the window have an outcome yet."""

    predictions: int
    labelled: int
    share: float
    thin: bool  # below EvaluationThresholds.min_label_coverage: figures are provisional


class BusinessFigures(BaseModel):
    """What the campaign earned by calling the customers predicted "yes" (labelled rows only).

    ``conversion_rate`` is the share of subscribers among "yes" predictions (the precision);
    ``unexpected_subscriber_rate`` the share among "no" predictions (customers the campaign
    would not have called but who subscribed anyway).
    """

    yes_predictions: int
    no_predictions: int
    subscriptions_from_calls: int
    unexpected_subscribers: int
    conversion_rate: float | None
    unexpected_subscriber_rate: float | None
    cost_eur: float
    value_eur: float
    net_return_eur: float
    return_on_cost: float | None
    # The naive alternative on the same customers: call everyone.
    call_everyone_net_return_eur: float


class CbpeEstimate(BaseModel):
    """Confidence-based performance estimation: the expected confusion matrix if the model's
    probabilities are calibrated on this window's population. Needs no outcome at all."""

    rows: int
    expected_positives: float
    expected_tp: float
    expected_fp: float
    expected_fn: float
    expected_tn: float
    precision: float | None
    recall: float | None
    f1: float | None
    roc_auc: float | None
    brier: float | None
    conversion_rate: float | None
    unexpected_subscriber_rate: float | None
    net_return_eur: float
    trust: Trust = "unverified"
    caveats: list[str] = Field(default_factory=list)


class SegmentResult(BaseModel):
    """One segment (e.g. age group 25-34) of one window and model."""

    family: str
    label: str
    predictions: int
    labelled: int
    small: bool  # too few labelled rows or subscribers to judge (propensity.segments)
    realised: ClassificationMetrics | None
    estimated_f1: float | None
    business: BusinessFigures | None


class Signals(BaseModel):
    """What the alarms watch, computed against the baselines; ``judged`` only with enough labels."""

    judged: bool
    reason: str = ""
    baseline_f1: float | None = None
    f1_drop_relative: float | None = None
    f1_warning: bool = False
    baseline_conversion: float | None = None
    baseline_conversion_source: str = ""
    conversion_drop_relative: float | None = None
    conversion_warning: bool = False
    ece: float | None = None
    ece_info: bool = False


class GroupResult(BaseModel):
    """Everything about one (API version, model version) in one window."""

    model_config = ConfigDict(protected_namespaces=())

    api_version: ApiVersion
    model_version: str
    window: Window
    computed_at: datetime
    threshold: float
    coverage: Coverage
    realised: ClassificationMetrics | None
    # The realised ROC AUC comes from a 1000-bin score histogram: at most this far from the exact one.
    auc_error_bound: float | None = None
    reliability: list[ReliabilityBin]
    # Finer bins than the ECE's 10, only for the reliability plot (probabilities crowd near 0).
    reliability_fine: list[ReliabilityBin] = Field(default_factory=list)
    business: BusinessFigures | None
    estimated: CbpeEstimate
    segments: dict[str, list[SegmentResult]]
    signals: Signals
    baseline: Baseline | None = None  # the manifest's holdout figures, for comparison
    notes: list[str] = Field(default_factory=list)


class RunSummary(BaseModel):
    """One run of the job: what it read, what it found, where it wrote."""

    run_at: datetime
    windows: list[Window]
    events_read: int
    duplicate_events: int
    bad_archive_lines: int
    outcomes_loaded: int
    outcome_files: int
    outcome_duplicates: int
    outcome_conflicts: int
    labelled_by_customer_ref: int
    synthetic_events: int = 0
    windows_rejoined: int = 0
    windows_reused: int = 0
    bytes_scanned: int = 0
    unmatched_outcomes: int
    unmatched_examples: list[str]
    results: list[GroupResult]
    result_keys: list[str]
    metrics_published: int
    report_key: str | None = None
    plots: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
