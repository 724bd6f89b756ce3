"""The gate's report: every check with its figure and limit, for machines (JSON) and people (Markdown)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from propensity.constants import ApiVersion
from propensity.monitoring.metrics import ClassificationMetrics
from propensity.policy.gate import GateThresholds

CheckKind = Literal["integrity", "time", "minimum", "degradation", "segment", "distribution"]
CHECK_KINDS: tuple[CheckKind, ...] = (
    "integrity",
    "time",
    "minimum",
    "degradation",
    "segment",
    "distribution",
)
ChampionSource = Literal["backtest", "as shipped", "none"]
REPORT_FORMAT = 1


class Check(BaseModel):
    """One rule applied to the challenger. ``passed`` is ``None`` when reported but not judged."""

    kind: CheckKind
    name: str
    passed: bool | None
    observed: float | None
    limit: float | None
    detail: str


class MetricComparison(BaseModel):
    """Champion and challenger on the same rows, with the paired bootstrap interval of the difference."""

    metric: str
    higher_is_better: bool
    champion: float | None
    challenger: float | None
    difference: float | None  # challenger - champion
    ci_low: float | None
    ci_high: float | None


class SegmentComparison(BaseModel):
    """One segment: both models' figures; ``judged`` is False for segments too small to judge."""

    family: str
    label: str
    rows: int
    positives: int
    judged: bool
    champion: ClassificationMetrics
    challenger: ClassificationMetrics
    comparisons: list[MetricComparison]


class DistributionComparison(BaseModel):
    """What each model answers on the holdout, against each other and the observed base rate."""

    base_rate: float
    champion_yes_rate: float
    challenger_yes_rate: float
    champion_mean_probability: float
    challenger_mean_probability: float
    score_psi: float  # challenger's score distribution against the champion's, same bins
    score_edges: list[float]
    champion_score_shares: list[float]
    challenger_score_shares: list[float]


class MonthComparison(BaseModel):
    month: str
    rows: int
    yes_rate: float
    challenger_roc_auc: float | None
    champion_roc_auc: float | None
    champion_source: ChampionSource
    challenger_bias: float
    champion_bias: float | None

    @property
    def difference(self) -> float | None:
        if self.challenger_roc_auc is None or self.champion_roc_auc is None:
            return None
        return self.challenger_roc_auc - self.champion_roc_auc


class TimeComparison(BaseModel):
    """What the time checks were computed from (kept in the report)."""

    months: list[MonthComparison]
    paired: int
    mean_difference: float | None
    ci_low: float | None
    ci_high: float | None
    months_better: int
    months_worse: int
    sign_test_p: float | None
    challenger_mean_roc_auc: float | None
    challenger_mean_bias: float | None


class GateReport(BaseModel):
    """The whole verdict; ``passed`` is True only when no judged check failed."""

    format: int = REPORT_FORMAT
    api_version: ApiVersion
    champion_version: str
    challenger_version: str
    created_at: datetime
    passed: bool
    data_sha256: str
    holdout_fingerprint: str
    holdout_rows: int
    holdout_positives: int
    seed: int
    thresholds: GateThresholds
    champion_overall: ClassificationMetrics
    challenger_overall: ClassificationMetrics
    overall: list[MetricComparison]
    segments: list[SegmentComparison]
    distribution: DistributionComparison
    checks: list[Check]
    seconds: float
    # Month-by-month comparison on the challenger's backtest months (None: no backtest).
    over_time: TimeComparison | None = None

    def failures(self) -> list[Check]:
        """Judged checks that failed, in report order."""
        return [check for check in self.checks if check.passed is False]

    def sha256(self) -> str:
        """Digest of the JSON report, so a manifest's record can point at the full report."""
        return hashlib.sha256(self.model_dump_json(indent=2).encode()).hexdigest()

    def summary(self) -> dict[str, Any]:
        """What the challenger's manifest records: the verdict, its yardstick and the reasons."""
        judged = [check for check in self.checks if check.passed is not None]
        return {
            "format": self.format,
            "data_sha256": self.data_sha256,
            "holdout_fingerprint": self.holdout_fingerprint,
            "holdout_rows": self.holdout_rows,
            "seed": self.seed,
            "resamples": self.thresholds.bootstrap_resamples,
            "thresholds": self.thresholds.model_dump(mode="json"),
            "overall": [comparison.model_dump(mode="json") for comparison in self.overall],
            "over_time": None
            if self.over_time is None
            else self.over_time.model_dump(mode="json", exclude={"months"}),
            "checks_judged": len(judged),
            "checks_failed": len(self.failures()),
            "failures": [check.model_dump(mode="json") for check in self.failures()],
            "report_sha256": self.sha256(),
        }
