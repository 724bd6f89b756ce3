"""A window's predictions joined with their outcomes, as the engine counts them: the cube.

The engine does the join and counts (``query.sql.evaluation_cube``); this module files the
rows per (API version, model version) and derives every figure the job reports from them:
confusion counts at the threshold and at the served decisions, calibration bins, brier, the
CBPE expectations, segment figures and the ROC and PR AUCs from the fine score histogram.

Exactness: counts, precision, recall, F1, brier, the business figures and the CBPE
confusion expectations are exact. Calibration bins are exact where their edges fall on the
histogram's (10 and 40 bins of a 1000-bin histogram). The ROC AUC counts pairs within one
score bin as ties, so it differs from the exact (Mann-Whitney) AUC by at most
``sum_b P_b N_b / (2 P N)`` (``auc_error_bound``), which the result records; for 1000 bins and
the model's score spread this is of the order of 1e-3. PR AUC treats each bin as one threshold.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from propensity.evaluation.business import business_from_counts
from propensity.evaluation.cbpe import estimate_from_sums
from propensity.evaluation.models import BusinessFigures, CbpeEstimate
from propensity.monitoring.metrics import ECE_BINS, ClassificationMetrics, ReliabilityBin
from propensity.policy.evaluation import EvaluationThresholds
from propensity.query.engine import Row
from propensity.query.sql import FINE_SCORE_BINS, SEGMENT_SCORE_BINS

Floats = npt.NDArray[np.float64]
GroupKey = tuple[str, str]


@dataclass
class Histogram:
    """Counts and probability sums per score bin, split by label (-1 unknown, 0, 1) and decision."""

    bins: int
    # [label + 1, served_yes, above, bin] -> events / sum p / sum p^2
    events: Floats = field(init=False)
    p_sum: Floats = field(init=False)
    p2_sum: Floats = field(init=False)
    by_customer: int = 0

    def __post_init__(self) -> None:
        shape = (3, 2, 2, self.bins)
        self.events = np.zeros(shape)
        self.p_sum = np.zeros(shape)
        self.p2_sum = np.zeros(shape)

    def add(self, row: Row, width: int) -> None:
        index = (int(row["label"]) + 1, int(bool(row["served_yes"])), int(bool(row["above"])))
        b = min(int(row["score_bin"]) // width, self.bins - 1)
        self.events[(*index, b)] += float(row["events"])
        self.p_sum[(*index, b)] += float(row["probability_sum"] or 0.0)
        self.p2_sum[(*index, b)] += float(row["probability_squares"] or 0.0)
        self.by_customer += int(row["by_customer"] or 0)

    @property
    def predictions(self) -> int:
        return round(float(self.events.sum()))

    @property
    def labelled(self) -> int:
        return round(float(self.events[1:].sum()))


@dataclass
class GroupCube:
    """One (API version, model version) of one window: the whole group and its segments."""

    api_version: str
    model_version: str
    overall: Histogram = field(default_factory=lambda: Histogram(FINE_SCORE_BINS))
    segments: dict[str, dict[str, Histogram]] = field(default_factory=dict)
    thresholds: Counter[float] = field(default_factory=Counter)

    def add(self, row: Row) -> None:
        if row["family"] == "all":
            self.overall.add(row, 1)
            self.thresholds[float(row["threshold"])] += int(row["events"])
            return
        family = self.segments.setdefault(str(row["family"]), {})
        histogram = family.setdefault(str(row["segment"]), Histogram(SEGMENT_SCORE_BINS))
        histogram.add(row, FINE_SCORE_BINS // SEGMENT_SCORE_BINS)


def file_cube(rows: Iterable[Row]) -> dict[GroupKey, GroupCube]:
    """The engine's cube rows, filed per group."""
    groups: dict[GroupKey, GroupCube] = {}
    for row in rows:
        key = (str(row["api_version"]), str(row["model_version"]))
        groups.setdefault(key, GroupCube(*key)).add(row)
    return dict(sorted(groups.items()))


# Figures from a histogram ----------------------------------------------------------------------


def _ratio(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def auc_from_histogram(positives: Floats, negatives: Floats) -> tuple[float | None, float | None]:
    """ROC AUC with in-bin pairs as ties, and the bound on its distance from the exact AUC."""
    total_pos, total_neg = float(positives.sum()), float(negatives.sum())
    if total_pos <= 0 or total_neg <= 0:
        return None, None
    below = np.cumsum(negatives) - negatives
    wins = float(np.sum(positives * (below + 0.5 * negatives)))
    bound = float(np.sum(positives * negatives)) / (2 * total_pos * total_neg)
    return wins / (total_pos * total_neg), bound


def average_precision_from_histogram(positives: Floats, negatives: Floats) -> float | None:
    """Average precision with one threshold per bin (scikit-learn's step rule over tied scores)."""
    total_pos = float(positives.sum())
    if total_pos <= 0:
        return None
    pos_desc, all_desc = positives[::-1], (positives + negatives)[::-1]
    tp, predicted = np.cumsum(pos_desc), np.cumsum(all_desc)
    present = all_desc > 0
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    return float(np.sum((pos_desc / total_pos)[present] * precision[present]))


def reliability(hist: Histogram, bins: int) -> list[ReliabilityBin]:
    """Equal-width reliability bins of the labelled rows, from the histogram's finer bins."""
    width = hist.bins // bins
    labelled = slice(1, 3)
    count = hist.events[labelled].sum(axis=(0, 1, 2)).reshape(bins, width).sum(axis=1)
    p_sum = hist.p_sum[labelled].sum(axis=(0, 1, 2)).reshape(bins, width).sum(axis=1)
    yes = hist.events[2].sum(axis=(0, 1)).reshape(bins, width).sum(axis=1)
    table = []
    for b in range(bins):
        n = round(count[b])
        table.append(
            ReliabilityBin(
                lower=b / bins,
                upper=(b + 1) / bins,
                count=n,
                mean_probability=float(p_sum[b] / count[b]) if n else None,
                observed_rate=float(yes[b] / count[b]) if n else None,
            )
        )
    return table


def ece_of(table: list[ReliabilityBin]) -> float:
    total = sum(b.count for b in table)
    if not total:
        return float("nan")
    return sum(b.count * abs((b.observed_rate or 0) - (b.mean_probability or 0)) for b in table) / total


@dataclass(frozen=True)
class Realised:
    metrics: ClassificationMetrics
    auc_error_bound: float | None


def realised_metrics(hist: Histogram) -> Realised | None:
    """The realised figures over the labelled rows (decisions at ``p >= threshold``)."""
    n = hist.events[1:].sum()
    if n <= 0:
        return None
    pos, neg = hist.events[2], hist.events[1]  # [served, above, bin]
    positives = float(pos.sum())
    tp, fp = float(pos[:, 1].sum()), float(neg[:, 1].sum())
    fn = positives - tp
    p_sum = float(hist.p_sum[1:].sum())
    # Brier: sum (p - y)^2 = sum p^2 - 2 sum_{y=1} p + positives.
    brier = (float(hist.p2_sum[1:].sum()) - 2 * float(hist.p_sum[2].sum()) + positives) / n
    auc, bound = auc_from_histogram(pos.sum(axis=(0, 1)), neg.sum(axis=(0, 1)))
    pr_auc = average_precision_from_histogram(pos.sum(axis=(0, 1)), neg.sum(axis=(0, 1)))
    metrics = ClassificationMetrics(
        n=round(float(n)),
        positives=round(positives),
        base_rate=positives / n,
        roc_auc=auc,
        pr_auc=pr_auc,
        precision=_ratio(tp, tp + fp),
        recall=_ratio(tp, tp + fn),
        f1=_ratio(2 * tp, 2 * tp + fp + fn) if tp else 0.0,
        brier=brier,
        ece=ece_of(reliability(hist, ECE_BINS)) if hist.bins % ECE_BINS == 0 else float("nan"),
        yes_rate=(tp + fp) / n,
        mean_probability=p_sum / n,
    )
    return Realised(metrics, bound)


def business_of(hist: Histogram, thresholds: EvaluationThresholds) -> BusinessFigures | None:
    """The campaign's figures at the served decisions, over the labelled rows."""
    if hist.labelled == 0:
        return None
    yes, no = hist.events[2], hist.events[1]  # [served, above, bin]
    tp, fn = round(float(yes[1].sum())), round(float(yes[0].sum()))
    fp, tn = round(float(no[1].sum())), round(float(no[0].sum()))
    return business_from_counts(tp, fp, fn, tn, thresholds)


def estimate_of(hist: Histogram, thresholds: EvaluationThresholds) -> CbpeEstimate:
    """CBPE over every row (labelled or not) at the served decisions."""
    events, p_sum, p2_sum = hist.events.sum(axis=(0, 2)), hist.p_sum.sum(axis=(0, 2)), hist.p2_sum.sum()
    yes_events, no_events = float(events[1].sum()), float(events[0].sum())
    yes_p, no_p = float(p_sum[1].sum()), float(p_sum[0].sum())
    # Weighted AUC of the duplicated data set: positives weigh p, negatives 1 - p, per bin.
    per_bin_p = hist.p_sum.sum(axis=(0, 1, 2))
    per_bin_n = hist.events.sum(axis=(0, 1, 2))
    auc, _ = auc_from_histogram(per_bin_p, per_bin_n - per_bin_p)
    rows = round(yes_events + no_events)
    brier = (yes_p + no_p - float(p2_sum)) / rows if rows else None
    return estimate_from_sums(
        rows=rows,
        tp=yes_p,
        fp=yes_events - yes_p,
        fn=no_p,
        tn=no_events - no_p,
        roc_auc=auc,
        brier=brier,
        thresholds=thresholds,
    )


def disagreements(hist: Histogram) -> int:
    """Served decisions that differ from ``p >= threshold``."""
    return round(float(hist.events[:, 1, 0].sum() + hist.events[:, 0, 1].sum()))


def finite(value: float) -> float | None:
    return None if math.isnan(value) else value
