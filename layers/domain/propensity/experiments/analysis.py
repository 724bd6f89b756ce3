"""An experiment judged on outcomes: per-arm figures, differences with intervals, the test.

Rows are the experiment's PredictionEvents (``event.experiment`` is its id; synthetic traffic
is left out), read by the query engine (``propensity.query.experiment_sql``) or the Python
archive reader, one per prediction id, joined with the ingested outcomes by prediction id or,
failing that, by customer reference (the customer's latest prediction on or before the
outcome date, as in ``propensity.evaluation.join``). Everything is computed on the rows with a
known outcome; the counts say how many are still waiting.

- Per arm: conversion among "yes" decisions (precision), recall, calls per subscription, ROC
  AUC, calibration bias (mean probability minus observed rate), and the campaign's business
  figures (``EvaluationThresholds``' cost per call and value per subscription).
- Differences (challenger minus champion) with percentile intervals from a bootstrap over
  customers (``propensity.experiments.bootstrap``).
- The pre-registered test (``TestDesign``) on the primary metric: an mSPRT re-read at every
  day of outcome knowledge, so its always-valid p-value is what every daily look would have
  seen. Both metrics are ratios of per-customer sums (net return / labelled customers, or
  subscriptions / calls), so the variance is the delta-method variance over customers: the
  test, like the intervals, treats the customer as the unit.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel

from propensity.archive.hours import floor_hour, hours_between
from propensity.archive.reader import ReadStats, iter_window_events
from propensity.archive.store import ArchiveStore
from propensity.constants import ExperimentArm
from propensity.evaluation.windows import as_utc
from propensity.experiments.assignment import FALLBACK_WARNING
from propensity.experiments.bootstrap import cluster_weights, percentile_interval
from propensity.experiments.models import Experiment, PrimaryMetric
from propensity.experiments.sequential import Look, look
from propensity.gate.bootstrap import Ranked
from propensity.labels.outcomes import OutcomeBook, precedence
from propensity.monitoring.metrics import roc_auc

if TYPE_CHECKING:
    from propensity.query.engine import Engine

ARMS: Final[tuple[ExperimentArm, ...]] = ("champion", "challenger")
DEFAULT_RESAMPLES: Final[int] = 1000
BOOTSTRAP_SEED: Final[int] = 20_261_201
# Metrics with intervals; the primary metric is one of the first two.
METRICS: Final[tuple[str, ...]] = (
    "net_return_per_customer",
    "conversion",
    "recall",
    "calls_per_subscription",
    "roc_auc",
    "calibration_bias",
)
PRIMARY_FIELD: Final[dict[PrimaryMetric, str]] = {
    "net_return": "net_return_per_customer",
    "conversion": "conversion",
}
Verdict = Literal["challenger_better", "champion_better", "no_difference", "continue"]
_UNKNOWN_DAY: Final[int] = 10**9


@dataclass
class ArmRows:
    """One arm's predictions as aligned arrays (``label`` -1 while the outcome is unknown)."""

    arm: ExperimentArm
    model_versions: set[str] = field(default_factory=set)
    customer_keys: list[str] = field(default_factory=list)
    probability: list[float] = field(default_factory=list)
    decision: list[bool] = field(default_factory=list)
    label: list[int] = field(default_factory=list)
    known_day: list[int] = field(default_factory=list)  # date ordinal the outcome was known
    served_day: list[int] = field(default_factory=list)  # date ordinal of the prediction
    fallback: int = 0

    def arrays(self) -> tuple[npt.NDArray[np.intp], Any, Any, Any, Any]:
        keys = {k: i for i, k in enumerate(dict.fromkeys(self.customer_keys))}
        customer = np.asarray([keys[k] for k in self.customer_keys], dtype=np.intp)
        return (
            customer,
            np.asarray(self.probability, dtype=np.float64),
            np.asarray(self.decision, dtype=bool),
            np.asarray(self.label, dtype=np.int8),
            np.asarray(self.known_day, dtype=np.int64),
        )


@dataclass
class ExperimentRows:
    experiment: Experiment
    arms: dict[ExperimentArm, ArmRows]
    events_read: int = 0
    synthetic_skipped: int = 0
    duplicates: int = 0
    wrong_model: int = 0


@dataclass
class _Pending:
    arm: ExperimentArm
    model_version: str
    customer_ref: str | None
    customer_key: str
    timestamp: datetime
    probability: float
    decision: bool
    fallback: bool
    outcome: Any = None


@dataclass(frozen=True)
class Served:
    """One archived answer of the experiment: what the analysis needs of a PredictionEvent."""

    prediction_id: str
    customer_ref: str | None
    timestamp: datetime
    probability: float
    decision: bool
    arm: ExperimentArm | None
    model_version: str
    synthetic: bool
    fallback: bool


def _read_with_python(store: ArchiveStore, record: Any, start: datetime, end: datetime) -> Iterator[Served]:
    """Every event of the window parsed and validated in Python, the experiment's kept."""
    for event in iter_window_events(store, start, end, ReadStats()):
        if event.experiment != record.experiment_id or event.api_version != record.api_version:
            continue
        yield Served(
            prediction_id=event.prediction_id,
            customer_ref=event.customer_ref,
            timestamp=as_utc(event.timestamp),
            probability=event.probability,
            decision=event.decision == "yes",
            arm=event.arm,
            model_version=event.model_version,
            synthetic=event.synthetic,
            fallback=FALLBACK_WARNING in event.warnings,
        )


def _read_with_engine(engine: Engine, record: Any, start: datetime, end: datetime) -> Iterator[Served]:
    """The experiment's events selected by the query engine (DuckDB locally, Athena in AWS)."""
    from propensity.query.experiment_sql import experiment_rows

    hours = hours_between(start, end)
    query = experiment_rows(hours, record.experiment_id, record.api_version, FALLBACK_WARNING)
    for row in engine.run(query):
        arm = row["arm"]
        yield Served(
            prediction_id=str(row["prediction_id"]),
            customer_ref=row["customer_ref"] or None,
            timestamp=as_utc(datetime.fromisoformat(str(row["timestamp"]))),
            probability=float(row["probability"]),
            decision=row["decision"] == "yes",
            arm=arm if arm in ARMS else None,
            model_version=str(row["model_version"]),
            synthetic=bool(row["synthetic"]),
            fallback=bool(row["fallback"]),
        )


def load_rows(
    store: ArchiveStore,
    experiment: Experiment,
    book: OutcomeBook,
    until: datetime,
    engine: Engine | None = None,
) -> ExperimentRows:
    """The experiment's predictions in the archive from its start to ``until`` (or its end).

    Read through ``engine`` when one is given (one query, only the experiment's rows and the
    columns used), else by the Python reader over ``store``; both give the same rows.
    """
    record = experiment.record
    end = experiment.end.ended_at if experiment.end is not None else until
    window = (floor_hour(record.started_at), floor_hour(end) + timedelta(hours=1))
    source = (
        _read_with_engine(engine, record, *window)
        if engine is not None
        else _read_with_python(store, record, *window)
    )
    # One order whatever the source (files, or an engine's unordered scan): the customers'
    # cluster numbers, hence the bootstrap, depend on it.
    served = sorted(source, key=lambda s: (s.timestamp, s.prediction_id, s.synthetic))
    pending: dict[str, _Pending] = {}
    result = ExperimentRows(experiment, {arm: ArmRows(arm) for arm in ARMS})
    expected = {"champion": record.champion_version, "challenger": record.challenger_version}
    for event in served:
        result.events_read += 1
        if event.synthetic:
            result.synthetic_skipped += 1
            continue
        if event.prediction_id in pending:
            result.duplicates += 1
            continue
        arm = event.arm
        if arm is None:
            continue
        if event.model_version != expected[arm]:
            result.wrong_model += 1
        pending[event.prediction_id] = _Pending(
            arm=arm,
            model_version=event.model_version,
            customer_ref=event.customer_ref,
            customer_key=f"c:{event.customer_ref}" if event.customer_ref else f"p:{event.prediction_id}",
            timestamp=event.timestamp,
            probability=event.probability,
            decision=event.decision,
            fallback=event.fallback,
            outcome=book.by_prediction.get(event.prediction_id),
        )
    _attach_customer_outcomes(pending, book)
    for row in pending.values():
        arm_rows = result.arms[row.arm]
        arm_rows.model_versions.add(row.model_version)
        arm_rows.customer_keys.append(row.customer_key)
        arm_rows.probability.append(row.probability)
        arm_rows.decision.append(row.decision)
        arm_rows.served_day.append(row.timestamp.date().toordinal())
        known = row.outcome is not None
        arm_rows.label.append(int(row.outcome.subscribed) if known else -1)
        arm_rows.known_day.append(
            max(row.outcome.outcome_date, row.timestamp.date()).toordinal() if known else _UNKNOWN_DAY
        )
        arm_rows.fallback += int(row.fallback)
    return result


def _attach_customer_outcomes(rows: dict[str, _Pending], book: OutcomeBook) -> None:
    by_customer: dict[str, list[_Pending]] = {}
    for row in rows.values():
        if row.customer_ref and row.outcome is None and row.customer_ref in book.by_customer:
            by_customer.setdefault(row.customer_ref, []).append(row)
    for ref, candidates in by_customer.items():
        candidates.sort(key=lambda r: r.timestamp)
        for outcome in book.by_customer[ref]:
            eligible = [r for r in candidates if r.timestamp.date() <= outcome.outcome_date]
            if eligible and (
                eligible[-1].outcome is None or precedence(outcome) > precedence(eligible[-1].outcome)
            ):
                eligible[-1].outcome = outcome


class ArmFigures(BaseModel):
    arm: ExperimentArm
    model_version: str
    predictions: int
    customers: int
    fallback_predictions: int
    labelled: int
    labelled_customers: int
    calls: int
    subscriptions_from_calls: int
    subscribers: int
    conversion: float | None
    recall: float | None
    calls_per_subscription: float | None
    roc_auc: float | None
    calibration_bias: float | None
    mean_probability: float | None
    observed_rate: float | None
    net_return_eur: float
    net_return_per_customer: float | None


class Difference(BaseModel):
    metric: str
    champion: float | None
    challenger: float | None
    difference: float | None
    low: float | None
    high: float | None


class LookFigures(BaseModel):
    day: date
    n_champion: int
    n_challenger: int
    difference: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float
    rejected: bool


class WeekFigures(BaseModel):
    """The primary metric of the customers served in one week of the experiment, outcomes so far.

    A guardrail against a drifting effect, not a test: the interval is pointwise (normal, delta
    method over customers), with no correction for reading several weeks."""

    week: int
    first_day: date
    n_champion: int
    n_challenger: int
    champion: float | None
    challenger: float | None
    difference: float | None
    low: float | None
    high: float | None


class ExperimentAnalysis(BaseModel):
    experiment: Experiment
    as_of: datetime
    confidence: float
    resamples: int
    arms: dict[str, ArmFigures]
    differences: list[Difference]
    looks: list[LookFigures]
    by_week_served: list[WeekFigures] = []
    test: LookFigures | None
    horizon_reached: bool
    verdict: Verdict
    decision: str
    notes: list[str]


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _figures(rows: ArmRows, version: str, cost: float, value: float) -> ArmFigures:
    customer, p, d, label, _ = rows.arrays()
    known = label >= 0
    y, pk, dk = label[known] == 1, p[known], d[known]
    tp, calls, subs = int(np.sum(y & dk)), int(dk.sum()), int(y.sum())
    labelled_customers = int(np.unique(customer[known]).size)
    net = tp * value - calls * cost
    auc = roc_auc(y, pk) if known.any() else math.nan
    return ArmFigures(
        arm=rows.arm,
        model_version=version,
        predictions=int(p.size),
        customers=int(np.unique(customer).size),
        fallback_predictions=rows.fallback,
        labelled=int(known.sum()),
        labelled_customers=labelled_customers,
        calls=calls,
        subscriptions_from_calls=tp,
        subscribers=subs,
        conversion=_ratio(tp, calls),
        recall=_ratio(tp, subs),
        calls_per_subscription=_ratio(calls, tp),
        roc_auc=None if math.isnan(auc) else auc,
        calibration_bias=float(pk.mean() - y.mean()) if known.any() else None,
        mean_probability=float(pk.mean()) if known.any() else None,
        observed_rate=float(y.mean()) if known.any() else None,
        net_return_eur=float(net),
        net_return_per_customer=_ratio(net, labelled_customers),
    )


def _replicates(rows: ArmRows, cost: float, value: float, resamples: int, seed: int) -> dict[str, Any]:
    """Each metric per cluster-bootstrap resample of the arm's labelled customers."""
    customer, p, d, label, _ = rows.arrays()
    known = label >= 0
    _, cluster = np.unique(customer[known], return_inverse=True)
    y, pk, dk = (label[known] == 1), p[known], d[known]
    out: dict[str, list[Any]] = {name: [] for name in METRICS}
    ranked = Ranked.build(y.astype(np.int8), pk) if y.any() and (~y).any() else None
    clusters = int(cluster.max()) + 1 if cluster.size else 0
    for w in cluster_weights(cluster.astype(np.intp), resamples, seed):
        tp = w[y & dk].sum(axis=0)
        calls = w[dk].sum(axis=0)
        subs = w[y].sum(axis=0)
        n = w.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            out["net_return_per_customer"].append((tp * value - calls * cost) / max(clusters, 1))
            out["conversion"].append(np.where(calls > 0, tp / calls, np.nan))
            out["recall"].append(np.where(subs > 0, tp / subs, np.nan))
            out["calls_per_subscription"].append(np.where(tp > 0, calls / tp, np.nan))
            out["calibration_bias"].append(
                np.where(n > 0, ((w * pk[:, None]).sum(axis=0) - subs) / n, np.nan)
            )
        out["roc_auc"].append(ranked.areas(w)[0] if ranked is not None else np.full(w.shape[1], np.nan))
    return {name: np.concatenate(values) if values else np.zeros(0) for name, values in out.items()}


def _unit_sums(
    rows: ArmRows,
    metric: PrimaryMetric,
    cost: float,
    value: float,
    day: int,
    served: tuple[int, int] | None = None,
) -> tuple[Any, Any]:
    """Per labelled customer (by ``day``; of the rows served in ``[first, last)`` days if given):
    the primary metric's numerator and denominator sums."""
    customer, _, d, label, known_day = rows.arrays()
    known = (label >= 0) & (known_day <= day)
    if served is not None:
        served_day = np.asarray(rows.served_day, dtype=np.int64)
        known &= (served_day >= served[0]) & (served_day < served[1])
    if not known.any():
        return np.zeros(0), np.zeros(0)
    _, cluster = np.unique(customer[known], return_inverse=True)
    y, dk = label[known] == 1, d[known]
    if metric == "net_return":
        numerator = np.bincount(cluster, weights=(y & dk) * value - dk * cost)
        denominator = np.ones_like(numerator)
    else:
        numerator = np.bincount(cluster, weights=(y & dk).astype(np.float64))
        denominator = np.bincount(cluster, weights=dk.astype(np.float64))
    return numerator, denominator


def ratio_estimate(numerator: Any, denominator: Any) -> tuple[float, float]:
    """A ratio of sums over units and its delta-method variance (``nan``/``inf`` without data)."""
    n = numerator.size
    total = denominator.sum()
    if n < 2 or total <= 0:
        return math.nan, math.inf
    ratio = float(numerator.sum() / total)
    residual = numerator - ratio * denominator
    variance = float(residual.var(ddof=1) / n / (total / n) ** 2)
    return ratio, variance


def sequential_looks(data: ExperimentRows, until: date) -> list[LookFigures]:
    """The pre-registered test re-read at every day of outcome knowledge from the start to ``until``."""
    design = data.experiment.record.design
    cost, value = design.cost_per_call_eur, design.value_per_subscription_eur
    first = data.experiment.record.started_at.date()
    looks: list[LookFigures] = []
    previous_p = 1.0
    day = first
    while day <= until:
        estimates = []
        for arm in ARMS:
            numerator, denominator = _unit_sums(
                data.arms[arm], design.primary_metric, cost, value, day.toordinal()
            )
            estimates.append((numerator.size, *ratio_estimate(numerator, denominator)))
        (n_a, est_a, var_a), (n_b, est_b, var_b) = estimates
        result: Look = look(n_a, est_a, var_a, n_b, est_b, var_b, design.mixing_sd, design.alpha, previous_p)
        previous_p = result.p_value
        finite = math.isfinite(result.difference)
        looks.append(
            LookFigures(
                day=day,
                n_champion=n_a,
                n_challenger=n_b,
                difference=result.difference if finite else None,
                ci_low=result.ci_low if finite else None,
                ci_high=result.ci_high if finite else None,
                p_value=result.p_value,
                rejected=result.rejected,
            )
        )
        day += timedelta(days=1)
    return looks


def weekly_primary(data: ExperimentRows, as_of: date, confidence: float) -> list[WeekFigures]:
    """``WeekFigures`` for every week from the start to the last prediction."""
    design = data.experiment.record.design
    cost, value = design.cost_per_call_eur, design.value_per_subscription_eur
    served = [day for arm in data.arms.values() for day in arm.served_day]
    if not served:
        return []
    first = data.experiment.record.started_at.date().toordinal()
    z = float(NormalDist().inv_cdf(0.5 + confidence / 2))
    weeks = []
    for week in range((max(served) - first) // 7 + 1):
        span = (first + 7 * week, first + 7 * (week + 1))
        estimates = []
        for arm in ARMS:
            numerator, denominator = _unit_sums(
                data.arms[arm], design.primary_metric, cost, value, as_of.toordinal(), span
            )
            estimates.append((numerator.size, *ratio_estimate(numerator, denominator)))
        (n_a, est_a, var_a), (n_b, est_b, var_b) = estimates
        finite = math.isfinite(est_a) and math.isfinite(est_b) and math.isfinite(var_a + var_b)
        difference = est_b - est_a if finite else None
        half = z * math.sqrt(var_a + var_b) if finite else None
        weeks.append(
            WeekFigures(
                week=week + 1,
                first_day=date.fromordinal(span[0]),
                n_champion=n_a,
                n_challenger=n_b,
                champion=est_a if math.isfinite(est_a) else None,
                challenger=est_b if math.isfinite(est_b) else None,
                difference=difference,
                low=None if difference is None or half is None else difference - half,
                high=None if difference is None or half is None else difference + half,
            )
        )
    return weeks


def analyse(
    store: ArchiveStore,
    experiment: Experiment,
    book: OutcomeBook,
    *,
    now: datetime | None = None,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    engine: Engine | None = None,
) -> ExperimentAnalysis:
    """Everything ``experiment status`` and ``experiment report`` show (``engine``: see ``load_rows``)."""
    as_of = now or datetime.now(UTC)
    record, design = experiment.record, experiment.record.design
    data = load_rows(store, experiment, book, as_of, engine)
    cost, value = design.cost_per_call_eur, design.value_per_subscription_eur
    confidence = 1 - design.alpha
    versions = {"champion": record.champion_version, "challenger": record.challenger_version}
    arms = {arm: _figures(data.arms[arm], versions[arm], cost, value) for arm in ARMS}
    reps = {arm: _replicates(data.arms[arm], cost, value, resamples, seed + i) for i, arm in enumerate(ARMS)}
    differences = []
    for metric in METRICS:
        a, b = getattr(arms["champion"], metric), getattr(arms["challenger"], metric)
        low, high = percentile_interval(reps["challenger"][metric] - reps["champion"][metric], confidence)
        differences.append(
            Difference(
                metric=metric,
                champion=a,
                challenger=b,
                difference=None if a is None or b is None else b - a,
                low=low,
                high=high,
            )
        )
    # Predictions stop at the end record, their outcomes do not: the test keeps being read as they
    # arrive (an always-valid p-value and interval stay valid after a stop), up to ``as_of``.
    looks = sequential_looks(data, _last_look_day(data, as_of.date()))
    final = looks[-1] if looks else None
    horizon = final is not None and (
        final.n_champion >= _planned_customers(design.planned_units_champion, design, arms["champion"])
        and final.n_challenger
        >= _planned_customers(design.planned_units_challenger, design, arms["challenger"])
    )
    verdict, decision = _decide(final, horizon, design.primary_metric)
    notes = _notes(data, arms, experiment)
    return ExperimentAnalysis(
        experiment=experiment,
        as_of=as_of,
        confidence=confidence,
        resamples=resamples,
        arms={arm: figures for arm, figures in arms.items()},
        differences=differences,
        looks=looks,
        by_week_served=weekly_primary(data, as_of.date(), confidence),
        test=final,
        horizon_reached=horizon,
        verdict=verdict,
        decision=decision,
        notes=notes,
    )


def _last_look_day(data: ExperimentRows, as_of: date) -> date:
    """``as_of``, or the last day an outcome became known if that is earlier (no empty looks)."""
    known = [day for arm in data.arms.values() for day in arm.known_day if day != _UNKNOWN_DAY]
    start = data.experiment.record.started_at.date()
    if not known:
        return min(as_of, start)
    return max(start, min(as_of, date.fromordinal(max(known))))


def _planned_customers(units: float, design: Any, figures: ArmFigures) -> float:
    """The horizon in labelled customers (for ``conversion`` the plan is in calls)."""
    if design.primary_metric == "net_return":
        return units
    calls_per_customer = figures.calls / figures.labelled_customers if figures.labelled_customers else 0
    return units / calls_per_customer if calls_per_customer else math.inf


def _decide(final: LookFigures | None, horizon: bool, metric: PrimaryMetric) -> tuple[Verdict, str]:
    name = PRIMARY_FIELD[metric].replace("_", " ")
    if final is None:
        return "continue", "no outcomes yet"
    if final.rejected and final.difference is not None:
        if final.difference > 0:
            return "challenger_better", (
                f"the challenger is better on {name} (always-valid p = {final.p_value:.4f}): "
                f"stop the experiment and take the challenger through promotion"
            )
        return "champion_better", (
            f"the champion is better on {name} (always-valid p = {final.p_value:.4f}): "
            "stop and keep the champion"
        )
    if horizon:
        return "no_difference", (
            f"planned sample reached without a significant difference on {name} "
            f"(p = {final.p_value:.3f}): keep the champion"
        )
    return "continue", f"not decided yet (always-valid p = {final.p_value:.3f}): keep collecting outcomes"


def _notes(data: ExperimentRows, arms: dict[ExperimentArm, ArmFigures], experiment: Experiment) -> list[str]:
    notes = []
    if experiment.record.policy_override:
        notes.append(f"policy override at start: {experiment.record.policy_override}")
    if data.synthetic_skipped:
        notes.append(f"{data.synthetic_skipped} synthetic predictions left out")
    if data.duplicates:
        notes.append(f"{data.duplicates} duplicate deliveries counted once")
    if data.wrong_model:
        notes.append(f"{data.wrong_model} predictions were served by a model other than their arm's")
    fallback = sum(a.fallback_predictions for a in arms.values())
    if fallback:
        notes.append(f"{fallback} predictions had no customer_ref and were assigned by request id")
    waiting = sum(a.predictions - a.labelled for a in arms.values())
    if waiting:
        notes.append(f"{waiting} predictions still wait for their outcome")
    return notes
