"""The shadow comparison report for a window: agreement, both score distributions, latency, and
(once outcomes exist) both models' metrics on the same labelled rows.

Results are read from ``shadow/results/<api>/`` for the window's hours and de-duplicated by
prediction id; outcomes come from the label ingestion (``propensity.labels``), joined on the
prediction id.
"""

from __future__ import annotations

import gzip
import html
from collections.abc import Mapping
from datetime import datetime
from itertools import pairwise
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from propensity.archive.hours import hours_between
from propensity.archive.store import ArchiveStore
from propensity.constants import ApiVersion
from propensity.drift.report import STYLE, bar_png, figure_html
from propensity.monitoring.metrics import ClassificationMetrics, classification_metrics
from propensity.monitoring.reference import SCORE_EDGES
from propensity.shadow.scorer import SHADOW_PREFIX, ShadowRecord


def load_records(
    store: ArchiveStore, api_version: ApiVersion, start: datetime, end: datetime
) -> list[ShadowRecord]:
    """Shadow results of ``[start, end)``, one per prediction id (the last written wins)."""
    by_id: dict[str, ShadowRecord] = {}
    for hour in hours_between(start, end):
        for key in store.list(f"{SHADOW_PREFIX}{api_version}/{hour:%Y/%m/%d/%H}/"):
            for line in gzip.decompress(store.get(key)).splitlines():
                if line.strip():
                    record = ShadowRecord.model_validate_json(line)
                    by_id[record.prediction_id] = record
    return sorted(by_id.values(), key=lambda r: (r.timestamp, r.prediction_id))


class Distribution(BaseModel):
    """Summary of one model's probabilities on the compared rows."""

    mean: float
    p10: float
    p50: float
    p90: float
    yes_rate: float
    histogram: list[float]  # shares per SCORE_EDGES bin


class Latency(BaseModel):
    """Per-request milliseconds on the sampled requests."""

    requests: int
    p50: float | None
    p95: float | None


class PairedInterval(BaseModel):
    """Challenger minus champion on the same labelled rows, with a paired bootstrap interval."""

    metric: str
    difference: float | None
    low: float | None
    high: float | None
    confidence: float
    resamples: int


class LabelledComparison(BaseModel):
    """Both models on the same rows with known outcomes."""

    rows: int
    coverage: float
    champion: ClassificationMetrics
    challenger: ClassificationMetrics
    roc_auc_difference: PairedInterval | None = None


# Paired bootstrap of the ROC AUC difference (propensity.experiments.bootstrap): both models
# scored the same rows, so one resample of rows applies to both.
PAIRED_RESAMPLES = 1000
PAIRED_CONFIDENCE = 0.95
PAIRED_SEED = 20_261_202


def roc_auc_interval(
    y: np.ndarray[Any, Any], champion: np.ndarray[Any, Any], challenger: np.ndarray[Any, Any]
) -> PairedInterval | None:
    """The challenger's ROC AUC minus the champion's, with its paired-bootstrap interval."""
    from propensity.experiments.bootstrap import paired_auc_difference, percentile_interval
    from propensity.monitoring.metrics import roc_auc

    if y.min() == y.max():
        return None
    replicates = paired_auc_difference(y, champion, challenger, PAIRED_RESAMPLES, PAIRED_SEED)
    low, high = percentile_interval(replicates, PAIRED_CONFIDENCE)
    return PairedInterval(
        metric="roc_auc",
        difference=roc_auc(y, challenger) - roc_auc(y, champion),
        low=low,
        high=high,
        confidence=PAIRED_CONFIDENCE,
        resamples=PAIRED_RESAMPLES,
    )


class PairComparison(BaseModel):
    """One (champion version, challenger version) pair in the window."""

    champion_version: str
    challenger_version: str
    rows: int
    agreement_rate: float
    decisions: dict[str, int]  # "champion/challenger" -> rows, e.g. "yes/no"
    mean_difference: float
    mean_abs_difference: float
    p95_abs_difference: float
    champion: Distribution
    challenger: Distribution
    champion_latency: Latency
    challenger_latency: Latency
    labelled: LabelledComparison | None = None


class ShadowReport(BaseModel):
    """The comparison report of one API version's window."""

    api_version: ApiVersion
    start: datetime
    end: datetime
    rows: int
    pairs: list[PairComparison] = Field(default_factory=list)


def _distribution(p: np.ndarray[Any, Any], decisions: list[str]) -> Distribution:
    counts = np.bincount(
        np.searchsorted(np.asarray(SCORE_EDGES), p, side="left"), minlength=len(SCORE_EDGES) + 1
    )
    return Distribution(
        mean=float(p.mean()),
        p10=float(np.quantile(p, 0.1)),
        p50=float(np.quantile(p, 0.5)),
        p90=float(np.quantile(p, 0.9)),
        yes_rate=decisions.count("yes") / len(decisions),
        histogram=[float(c) / p.size for c in counts],
    )


def _latency(values: list[float]) -> Latency:
    if not values:
        return Latency(requests=0, p50=None, p95=None)
    array = np.asarray(values)
    return Latency(
        requests=len(values), p50=float(np.quantile(array, 0.5)), p95=float(np.quantile(array, 0.95))
    )


def _pair(records: list[ShadowRecord], outcomes: Mapping[str, bool]) -> PairComparison:
    champion = np.asarray([r.champion_probability for r in records])
    challenger = np.asarray([r.challenger_probability for r in records])
    difference = challenger - champion
    decisions: dict[str, int] = {}
    for r in records:
        key = f"{r.champion_decision}/{r.challenger_decision}"
        decisions[key] = decisions.get(key, 0) + 1
    # Latency per request: a batch's rows share one timing, so count each request once.
    sampled = {r.request_id: r for r in records if r.challenger_latency_ms is not None}
    labelled_rows = [i for i, r in enumerate(records) if r.prediction_id in outcomes]
    labelled = None
    if labelled_rows:
        y = np.asarray([outcomes[records[i].prediction_id] for i in labelled_rows], dtype=np.int8)
        labelled = LabelledComparison(
            rows=len(labelled_rows),
            coverage=len(labelled_rows) / len(records),
            champion=classification_metrics(y, champion[labelled_rows], records[0].champion_threshold),
            challenger=classification_metrics(y, challenger[labelled_rows], records[0].challenger_threshold),
            roc_auc_difference=roc_auc_interval(y, champion[labelled_rows], challenger[labelled_rows]),
        )
    return PairComparison(
        champion_version=records[0].champion_version,
        challenger_version=records[0].challenger_version,
        rows=len(records),
        agreement_rate=float(np.mean([r.agree for r in records])),
        decisions=decisions,
        mean_difference=float(difference.mean()),
        mean_abs_difference=float(np.abs(difference).mean()),
        p95_abs_difference=float(np.quantile(np.abs(difference), 0.95)),
        champion=_distribution(champion, [r.champion_decision for r in records]),
        challenger=_distribution(challenger, [r.challenger_decision for r in records]),
        champion_latency=_latency([r.champion_inference_ms for r in sampled.values()]),
        challenger_latency=_latency([r.challenger_latency_ms or 0.0 for r in sampled.values()]),
        labelled=labelled,
    )


def shadow_report(
    store: ArchiveStore,
    api_version: ApiVersion,
    start: datetime,
    end: datetime,
    outcomes: Mapping[str, bool] | None = None,
) -> ShadowReport:
    """Compare champion and challenger over ``[start, end)``; ``outcomes``: prediction id -> subscribed."""
    records = load_records(store, api_version, start, end)
    pairs: dict[tuple[str, str], list[ShadowRecord]] = {}
    for record in records:
        pairs.setdefault((record.champion_version, record.challenger_version), []).append(record)
    return ShadowReport(
        api_version=api_version,
        start=start,
        end=end,
        rows=len(records),
        pairs=[_pair(rows, outcomes or {}) for _, rows in sorted(pairs.items())],
    )


def outcomes_from_store(store: ArchiveStore) -> dict[str, bool]:
    """Known outcomes by prediction id, from the label ingestion's accepted outcomes."""
    from propensity.labels.outcomes import load_outcomes

    book = load_outcomes(store)
    return {pid: outcome.subscribed for pid, outcome in book.by_prediction.items()}


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _row(label: str, *cells: str) -> str:
    if len(cells) == 1:
        return f"<tr><td>{label}</td><td colspan=2>{cells[0]}</td></tr>"
    return f"<tr><td>{label}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _pair_table(pair: PairComparison) -> str:
    decisions = ", ".join(f"{k}: {v}" for k, v in sorted(pair.decisions.items()))
    a, b = pair.champion, pair.challenger
    rows = [
        _row("rows", str(pair.rows)),
        _row("decision agreement", f"{100 * pair.agreement_rate:.1f}% ({decisions})"),
        _row(
            "probability difference (challenger - champion)",
            f"mean {pair.mean_difference:+.4f}, mean |d| {pair.mean_abs_difference:.4f}, "
            f"p95 |d| {pair.p95_abs_difference:.4f}",
        ),
        _row("mean probability", f"{a.mean:.3f}", f"{b.mean:.3f}"),
        _row(
            "p10 / p50 / p90",
            f"{a.p10:.3f} / {a.p50:.3f} / {a.p90:.3f}",
            f"{b.p10:.3f} / {b.p50:.3f} / {b.p90:.3f}",
        ),
        _row("yes rate", f"{100 * a.yes_rate:.1f}%", f"{100 * b.yes_rate:.1f}%"),
        _row(
            f"latency per request p50 / p95 (n={pair.challenger_latency.requests})",
            f"{_ms(pair.champion_latency.p50)} / {_ms(pair.champion_latency.p95)} (inference)",
            f"{_ms(pair.challenger_latency.p50)} / {_ms(pair.challenger_latency.p95)}",
        ),
    ]
    return "<table><tr><th></th><th>champion</th><th>challenger</th></tr>" + "".join(rows) + "</table>"


def _metrics_table(comparison: LabelledComparison) -> str:
    names = ("roc_auc", "pr_auc", "f1", "precision", "recall", "brier", "ece", "yes_rate")
    rows = [
        _row(name, _cell(getattr(comparison.champion, name)), _cell(getattr(comparison.challenger, name)))
        for name in names
    ]
    table = "<table><tr><th>metric</th><th>champion</th><th>challenger</th></tr>" + "".join(rows) + "</table>"
    interval = comparison.roc_auc_difference
    if interval is not None and interval.difference is not None:
        table += (
            f"<p>ROC AUC difference (challenger - champion): {interval.difference:+.4f}, "
            f"{100 * interval.confidence:.0f}% paired-bootstrap CI "
            f"[{_cell(interval.low)}, {_cell(interval.high)}] "
            f"({interval.resamples} resamples of the labelled rows)</p>"
        )
    return table


def render_html(report: ShadowReport, *, plots: bool = True) -> str:
    """The report as one self-contained HTML document."""
    title = (
        f"Shadow comparison {report.api_version}: "
        f"{report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC"
    )
    parts = [f"<h1>{html.escape(title)}</h1><p>{report.rows} predictions compared</p>"]
    if not report.pairs:
        parts.append("<p>No shadow results in this window (is a challenger set?).</p>")
    for pair in report.pairs:
        versions = f"champion {pair.champion_version} vs challenger {pair.challenger_version}"
        parts.append(f"<h2>{html.escape(versions)}</h2>")
        parts.append(_pair_table(pair))
        if pair.labelled is not None:
            coverage = f"{100 * pair.labelled.coverage:.1f}% coverage"
            parts.append(f"<h3>On {pair.labelled.rows} rows with outcomes ({coverage})</h3>")
            parts.append(_metrics_table(pair.labelled))
        else:
            parts.append("<p>No outcomes for these predictions yet: metrics follow once labels arrive.</p>")
        if plots:
            edges = [0.0, *SCORE_EDGES, 1.0]
            labels = [f"{a:.2f}-{b:.2f}" for a, b in pairwise(edges)]
            png = bar_png(
                "score distribution",
                labels,
                pair.champion.histogram,
                pair.challenger.histogram,
                names=("champion", "challenger"),
            )
            parts.append(figure_html(png, "score distributions"))
    head = f"<meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style>"
    return f"<!doctype html><html><head>{head}</head><body>{chr(10).join(parts)}</body></html>"
