"""Run the offline gate: champion and challenger judged on time first, then on the fixed holdout.

On time (``gate.over_time``): the challenger's rolling-origin backtest, paired month by month
with the champion's (or with the champion as shipped, on months after its training data),
plus the most recent month alone. The stratified holdout mixes every month into training
and test, so it rewards knowing the date: it stays for reproducibility checks, minimums,
segments and distributions.

The stratified yardstick is the holdout every bundle was evaluated on at training time
(``propensity.training.split.stratified_split``). It is recomputed here from the data and must
have the fingerprint recorded in BOTH manifests, so the gate never compares models on rows
one of them was trained on, or on another file.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from propensity.bundle.io import Bundle
from propensity.data.loader import BankDataset
from propensity.drift.psi import psi
from propensity.gate.bootstrap import (
    HIGHER_IS_BETTER,
    METRICS,
    Floats,
    Group,
    Interval,
    paired_differences,
    percentile_interval,
    segment_confidence,
)
from propensity.gate.over_time import compare_over_time, time_checks
from propensity.gate.report import (
    Check,
    DistributionComparison,
    GateReport,
    MetricComparison,
    SegmentComparison,
)
from propensity.monitoring.metrics import ClassificationMetrics, classification_metrics
from propensity.monitoring.reference import SCORE_EDGES
from propensity.policy.drift import DriftThresholds
from propensity.policy.gate import GateThresholds
from propensity.segments import MIN_SEGMENT_POSITIVES, MIN_SEGMENT_ROWS, segment_labels, segment_masks
from propensity.training.split import stratified_split
from propensity.training.train import flat_columns

GATE_SPLIT = "stratified"
DEFAULT_SEED = 20_240_601
# Recorded and recomputed holdout metrics of the same bundle on the same rows must agree to
# float rounding; more means the artefact, the preprocessing or the data is not what the
# manifest describes.
REPRODUCE_TOLERANCE = 1e-6
SEGMENT_BOOTSTRAP_METRICS = ("roc_auc", "pr_auc")


class GateError(RuntimeError):
    """The two bundles cannot be compared on this data (other API version, other holdout...)."""


@dataclass(frozen=True)
class Holdout:
    """The gate's rows, as flat records of one API version, with their outcomes."""

    columns: dict[str, list[Any]]
    target: npt.NDArray[np.int8]
    fingerprint: str
    data_sha256: str


def gate_holdout(dataset: BankDataset, bundle: Bundle) -> Holdout:
    """Recompute the stratified holdout and check it is the one ``bundle`` was evaluated on."""
    split = stratified_split(dataset.target, dataset.sha256)
    recorded = bundle.manifest.metrics.get(GATE_SPLIT)
    if recorded is None:
        raise GateError(f"bundle {bundle.version} records no {GATE_SPLIT!r} holdout metrics")
    if recorded.holdout_fingerprint != split.fingerprint:
        raise GateError(
            f"bundle {bundle.version} was evaluated on another holdout (fingerprint "
            f"{recorded.holdout_fingerprint[:12]}…, this data gives {split.fingerprint[:12]}…): "
            f"it was trained on data with SHA-256 {bundle.manifest.training.data_sha256[:12]}…, "
            f"this file is {dataset.sha256[:12]}…"
        )
    subset = dataset.take(split.holdout)
    return Holdout(
        flat_columns(subset, bundle.manifest.api_version), subset.target, split.fingerprint, dataset.sha256
    )


def run_gate(
    champion: Bundle,
    challenger: Bundle,
    dataset: BankDataset,
    thresholds: GateThresholds | None = None,
    seed: int = DEFAULT_SEED,
    recent: BankDataset | None = None,
) -> GateReport:
    """Judge ``challenger`` against ``champion`` on time and on the fixed holdout of ``dataset``.

    ``recent`` holds the rows of the challenger's backtest months when they are not all in
    ``dataset`` (a retrain on production outcomes); the champion as shipped is scored on them.

    Raises ``GateError`` when the two cannot be compared; otherwise returns the report, whose
    ``passed`` says whether the challenger may be promoted. Deterministic for a given seed.
    """
    started = time.perf_counter()
    policy = thresholds or GateThresholds()
    api = challenger.manifest.api_version
    if champion.manifest.api_version != api:
        raise GateError(
            f"champion {champion.version} serves {champion.manifest.api_version}, challenger "
            f"{challenger.version} serves {api}: only models of the same API version compete"
        )
    if champion.version == challenger.version:
        raise GateError(f"{challenger.version} is the champion itself; register a new version to gate")
    holdout = gate_holdout(dataset, champion)
    gate_holdout(dataset, challenger)  # same rows for both, or refuse
    y = holdout.target
    scored = {
        "champion": (champion.model.score(holdout.columns).probability, champion.model.threshold),
        "challenger": (challenger.model.score(holdout.columns).probability, challenger.model.threshold),
    }
    overall = {name: classification_metrics(y, p, t) for name, (p, t) in scored.items()}
    segments = _segments(holdout, api, scored)

    groups = {"overall": Group(None, METRICS)}
    for family, label, rows, judged in segments:
        if judged:
            groups[f"{family}={label}"] = Group(rows, SEGMENT_BOOTSTRAP_METRICS)
    differences = paired_differences(
        y, scored["champion"], scored["challenger"], groups, policy.bootstrap_resamples, seed
    )
    judged_segments = len(groups) - 1
    levels = {"overall": policy.bootstrap_confidence}
    intervals = {
        key: {
            name: percentile_interval(
                values, levels.get(key, segment_confidence(policy.bootstrap_confidence, judged_segments))
            )
            for name, values in metrics.items()
        }
        for key, metrics in differences.items()
    }

    overall_comparisons = [
        _comparison(name, overall["champion"], overall["challenger"], intervals["overall"][name])
        for name in METRICS
    ]
    segment_comparisons = []
    for family, label, rows, judged in segments:
        before = classification_metrics(y[rows], scored["champion"][0][rows], scored["champion"][1])
        after = classification_metrics(y[rows], scored["challenger"][0][rows], scored["challenger"][1])
        comparisons = [
            _comparison(name, before, after, intervals[f"{family}={label}"][name] if judged else None)
            for name in SEGMENT_BOOTSTRAP_METRICS
        ]
        segment_comparisons.append(
            SegmentComparison(
                family=family,
                label=label,
                rows=int(rows.size),
                positives=int(y[rows].sum()),
                judged=judged,
                champion=before,
                challenger=after,
                comparisons=comparisons,
            )
        )
    distribution = _distribution(y, scored)
    over_time = compare_over_time(champion, challenger, recent or dataset, policy, seed)
    on_time = over_time is not None and over_time.paired >= policy.min_paired_months

    checks = [
        *_integrity_checks(champion, challenger, overall),
        *time_checks(over_time, policy, challenger.version),
        *_minimum_checks(
            overall["challenger"],
            policy,
            recent_calibrated(challenger),
            on_time,
            over_time.paired if over_time is not None else 0,
        ),
        *_degradation_checks(overall_comparisons, policy, _calibrations_differ(champion, challenger)),
        *_segment_checks(segment_comparisons, policy, judged_segments),
        *_distribution_checks(
            distribution, policy, recent_calibrated(challenger), _calibrations_differ(champion, challenger)
        ),
    ]
    return GateReport(
        api_version=api,
        champion_version=champion.version,
        challenger_version=challenger.version,
        created_at=datetime.now(UTC),
        passed=all(check.passed is not False for check in checks),
        data_sha256=holdout.data_sha256,
        holdout_fingerprint=holdout.fingerprint,
        holdout_rows=int(y.size),
        holdout_positives=int(y.sum()),
        seed=seed,
        thresholds=policy,
        champion_overall=overall["champion"],
        challenger_overall=overall["challenger"],
        overall=overall_comparisons,
        segments=segment_comparisons,
        distribution=distribution,
        checks=checks,
        seconds=round(time.perf_counter() - started, 3),
        over_time=over_time,
    )


# Figures ---------------------------------------------------------------------------------------


def _segments(
    holdout: Holdout, api: Any, scored: dict[str, tuple[Floats, float]]
) -> list[tuple[str, str, npt.NDArray[np.intp], bool]]:
    """(family, label, rows, judged) for every segment of the holdout."""
    result = []
    for family, labels in segment_labels(holdout.columns, api).items():
        for label, mask in segment_masks(labels).items():
            rows = np.flatnonzero(mask)
            positives = int(holdout.target[rows].sum())
            judged = rows.size >= MIN_SEGMENT_ROWS and positives >= MIN_SEGMENT_POSITIVES
            result.append((family, label, rows, judged))
    return result


def _value(metrics: ClassificationMetrics, name: str) -> float | None:
    value = getattr(metrics, name)
    return None if value is None else float(value)


def _finite(value: float) -> float | None:
    return None if np.isnan(value) else value


def _comparison(
    name: str, before: ClassificationMetrics, after: ClassificationMetrics, interval: Interval | None
) -> MetricComparison:
    champion, challenger = _value(before, name), _value(after, name)
    return MetricComparison(
        metric=name,
        higher_is_better=HIGHER_IS_BETTER[name],
        champion=champion,
        challenger=challenger,
        difference=None if champion is None or challenger is None else challenger - champion,
        ci_low=None if interval is None else _finite(interval.low),
        ci_high=None if interval is None else _finite(interval.high),
    )


def _score_shares(p: Floats) -> list[float]:
    """Shares per score bin, with the bins of the manifests' reference distributions."""
    index = np.searchsorted(np.asarray(SCORE_EDGES), p, side="left")
    counts = np.bincount(index, minlength=len(SCORE_EDGES) + 1)
    return [float(c) / p.size for c in counts]


def _distribution(y: npt.NDArray[np.int8], scored: dict[str, tuple[Floats, float]]) -> DistributionComparison:
    (p_a, t_a), (p_b, t_b) = scored["champion"], scored["challenger"]
    shares_a, shares_b = _score_shares(p_a), _score_shares(p_b)
    # The drift monitor's PSI (same formula and empty-bin floor), so the figure reads the same.
    score_psi = psi(shares_a, [share * p_b.size for share in shares_b], DriftThresholds().psi_epsilon)
    return DistributionComparison(
        base_rate=float(y.mean()),
        champion_yes_rate=float(np.mean(p_a >= t_a)),
        challenger_yes_rate=float(np.mean(p_b >= t_b)),
        champion_mean_probability=float(p_a.mean()),
        challenger_mean_probability=float(p_b.mean()),
        score_psi=float(score_psi or 0.0),
        score_edges=list(SCORE_EDGES),
        champion_score_shares=shares_a,
        challenger_score_shares=shares_b,
    )


# Checks ----------------------------------------------------------------------------------------


def _reproduce_gap(bundle: Bundle, recomputed: ClassificationMetrics) -> float:
    recorded = bundle.manifest.metrics[GATE_SPLIT].overall
    gaps = [
        abs(float(getattr(recorded, name)) - float(getattr(recomputed, name)))
        for name in METRICS
        if getattr(recorded, name) is not None and getattr(recomputed, name) is not None
    ]
    return max(gaps, default=0.0)


def _integrity_checks(
    champion: Bundle, challenger: Bundle, overall: dict[str, ClassificationMetrics]
) -> list[Check]:
    checks = []
    for role, bundle in (("challenger", challenger), ("champion", champion)):
        gap = _reproduce_gap(bundle, overall[role])
        reproduced = gap <= REPRODUCE_TOLERANCE
        checks.append(
            Check(
                kind="integrity",
                name=f"{role} holdout metrics reproduce its manifest",
                # Judged for the challenger; for the champion it is context (it already ships).
                passed=reproduced if role == "challenger" else None,
                observed=gap,
                limit=REPRODUCE_TOLERANCE,
                detail=(
                    "largest difference between recorded and recomputed ROC AUC/PR AUC/F1/ECE of "
                    f"{bundle.version}"
                    + ("" if reproduced else ": the bundle does not score as its manifest says")
                ),
            )
        )
    return checks


def recent_calibrated(bundle: Bundle) -> bool:
    """Whether the bundle's probabilities target the latest months rather than the whole file.

    Such a model is miscalibrated on the stratified holdout by design (that holdout has the
    yes rate of the whole file, a mix of 3% and 50% months), so its calibration is judged on
    time (backtest bias) and, on the holdout, only relative to the champion.
    """
    config = bundle.manifest.training.config or {}
    return bool(config.get("calibration", {}).get("method") == "platt_recent_intercept")


def _calibrations_differ(champion: Bundle, challenger: Bundle) -> bool:
    """Whether the two calibrate to different targets: the whole file vs the latest months, or
    the latest months of different training data (a retrain calibrates to newer months)."""
    if recent_calibrated(champion) != recent_calibrated(challenger):
        return True
    return recent_calibrated(challenger) and (
        champion.manifest.training.last_month != challenger.manifest.training.last_month
    )


CALIBRATIONS_DIFFER = (
    "not judged: champion and challenger calibrate to different targets (the whole file, or the "
    "latest months of different training data), so calibration-dependent figures differ by "
    "design; judged on time instead"
)
NOT_ON_STRATIFIED = (
    "not judged on the stratified holdout: the challenger is calibrated to the latest months, "
    "whose yes rate differs from the holdout's mix of every month; calibration is judged on time"
)


TIME_LEADS = (
    "reported, not judged: the challenger is judged on time ({paired} backtest months paired with "
    "the champion), which leads; on this holdout it is judged against the champion (degradation, "
    "segments), not against a fixed floor"
)


def _minimum_checks(
    challenger: ClassificationMetrics,
    policy: GateThresholds,
    recent: bool = False,
    on_time: bool = False,
    paired: int = 0,
) -> list[Check]:
    minimums = [
        ("roc_auc", policy.min_roc_auc, True),
        ("pr_auc", policy.min_pr_auc, True),
        ("f1", policy.min_f1, True),
        ("ece", policy.max_ece, False),
    ]
    checks = []
    for name, limit, at_least in minimums:
        value = _value(challenger, name)
        ok = value is not None and (value >= limit if at_least else value <= limit)
        # F1 (at the threshold) and ECE depend on calibration; ROC AUC and PR AUC do not.
        calibration_dependent = name in ("f1", "ece")
        skip = recent and calibration_dependent
        # The floors are for a challenger that cannot be judged on time; one that is (the
        # backtest minimums and the paired months) is held to the champion here instead: a
        # monthly retrain tuned to the latest months may rank the holdout's older mix a little
        # lower than a fixed floor and still be the better model next month.
        detail = f"challenger's stratified holdout {name} (optimistic: same months as training)"
        if skip:
            detail = NOT_ON_STRATIFIED
        elif on_time:
            detail = f"{detail}; {TIME_LEADS.format(paired=paired)}"
        checks.append(
            Check(
                kind="minimum",
                name=f"{name} {'>=' if at_least else '<='} {limit}",
                passed=None if skip or on_time else ok,
                observed=value,
                limit=limit,
                detail=detail,
            )
        )
    return checks


def _degradation_checks(
    comparisons: list[MetricComparison], policy: GateThresholds, calibrations_differ: bool = False
) -> list[Check]:
    confidence = f"{policy.bootstrap_confidence:.0%}"
    checks = []
    for c in comparisons:
        interval = f"[{_fmt(c.ci_low)}, {_fmt(c.ci_high)}]"
        if c.higher_is_better:
            limit = -policy.degradation_tolerance
            failed = c.ci_high is not None and c.ci_high < limit
            rule = f"fails when the upper bound of the {confidence} CI of (challenger - champion) < {limit}"
            observed = c.ci_high
        else:
            limit = policy.ece_degradation_tolerance
            failed = c.ci_low is not None and c.ci_low > limit
            rule = f"fails when the lower bound of the {confidence} CI of (challenger - champion) > {limit}"
            observed = c.ci_low
        skip = calibrations_differ and c.metric in ("f1", "ece")
        explanation = CALIBRATIONS_DIFFER if skip else rule
        checks.append(
            Check(
                kind="degradation",
                name=f"{c.metric} not worse than the champion",
                passed=None if skip else (not failed if c.ci_low is not None else False),
                observed=observed,
                limit=limit,
                detail=f"difference {_fmt(c.difference)}, CI {interval}; {explanation}",
            )
        )
    return checks


def _segment_checks(
    segments: list[SegmentComparison], policy: GateThresholds, judged: int = 1
) -> list[Check]:
    level = segment_confidence(policy.bootstrap_confidence, judged)
    checks = []
    for segment in segments:
        where = f"{segment.family}={segment.label}"
        if not segment.judged:
            checks.append(
                Check(
                    kind="segment",
                    name=f"{where}: too small to judge",
                    passed=None,
                    observed=float(segment.rows),
                    limit=float(MIN_SEGMENT_ROWS),
                    detail=(
                        f"{segment.rows} rows, {segment.positives} positives (judged from "
                        f"{MIN_SEGMENT_ROWS} rows and {MIN_SEGMENT_POSITIVES} positives); "
                        "figures reported only"
                    ),
                )
            )
            continue
        floor_value = segment.challenger.roc_auc
        checks.append(
            Check(
                kind="segment",
                name=f"{where}: roc_auc >= floor {policy.segment_floor_roc_auc}",
                passed=floor_value is not None and floor_value >= policy.segment_floor_roc_auc,
                observed=floor_value,
                limit=policy.segment_floor_roc_auc,
                detail=f"champion {_plain(segment.champion.roc_auc)} on the same {segment.rows} rows",
            )
        )
        for c in segment.comparisons:
            if c.metric not in policy.segment_metrics:
                continue
            beyond = c.difference is not None and c.difference < -policy.segment_tolerance
            confident = c.ci_high is not None and c.ci_high < 0
            checks.append(
                Check(
                    kind="segment",
                    name=f"{where}: {c.metric} within {policy.segment_tolerance} of the champion",
                    passed=not (beyond and confident),
                    observed=c.difference,
                    limit=-policy.segment_tolerance,
                    detail=(
                        f"champion {_plain(c.champion)}, challenger {_plain(c.challenger)}, "
                        f"{level:.2%} CI [{_fmt(c.ci_low)}, {_fmt(c.ci_high)}] ("
                        f"{policy.bootstrap_confidence:.0%} over {judged} judged segments); fails when "
                        "worse by more than the tolerance and the whole CI is below 0"
                    ),
                )
            )
    return checks


def _distribution_checks(
    d: DistributionComparison, policy: GateThresholds, recent: bool = False, calibrations_differ: bool = False
) -> list[Check]:
    yes_limit = policy.yes_rate_tolerance_points / 100
    mean_limit = policy.mean_probability_tolerance_points / 100
    figures = [
        (
            "yes rate close to the champion's",
            abs(d.challenger_yes_rate - d.champion_yes_rate),
            yes_limit,
            f"challenger {d.challenger_yes_rate:.2%}, champion {d.champion_yes_rate:.2%}",
        ),
        (
            "yes rate close to the observed base rate",
            abs(d.challenger_yes_rate - d.base_rate),
            yes_limit,
            f"challenger {d.challenger_yes_rate:.2%}, base rate {d.base_rate:.2%}",
        ),
        (
            "mean probability close to the observed base rate",
            abs(d.challenger_mean_probability - d.base_rate),
            mean_limit,
            f"challenger {d.challenger_mean_probability:.2%}, base rate {d.base_rate:.2%} "
            "(calibration in the large)",
        ),
        (
            "score distribution close to the champion's (PSI)",
            d.score_psi,
            policy.score_psi_max,
            f"PSI over {len(d.score_edges) + 1} probability bins of width 0.05",
        ),
    ]
    checks = []
    for name, value, limit, detail in figures:
        # Against the observed base rate of the holdout: meaningless for a model calibrated
        # to the latest months (see recent_calibrated); against the champion: still judged.
        against_base = "base rate" in name
        reason = (
            NOT_ON_STRATIFIED
            if recent and against_base
            else CALIBRATIONS_DIFFER
            if calibrations_differ and not against_base
            else None
        )
        checks.append(
            Check(
                kind="distribution",
                name=name,
                passed=None if reason else value <= limit,
                observed=value,
                limit=limit,
                detail=f"{detail}; {reason}" if reason else detail,
            )
        )
    return checks


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.4f}"


def _plain(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
