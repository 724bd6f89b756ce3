"""Shadow comparison on labelled rows: the ROC AUC difference comes with a paired-bootstrap interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from propensity.archive.store import LocalArchiveStore
from propensity.monitoring.metrics import roc_auc
from propensity.shadow.report import render_html, shadow_report
from propensity.shadow.scorer import ShadowRecord, result_key, write_records

HOUR = datetime(2026, 11, 26, 8, tzinfo=UTC)


def _records(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.2
    shared = rng.normal(size=n)
    champion = 1 / (1 + np.exp(-(shared + 0.7 * y - 1)))
    challenger = 1 / (1 + np.exp(-(shared + 1.1 * y - 1 + 0.3 * rng.normal(size=n))))
    records = [
        ShadowRecord(
            prediction_id=f"p{i}",
            request_id=f"r{i}",
            timestamp=HOUR + timedelta(seconds=i),
            api_version="v1",
            champion_version="v1-a",
            champion_probability=float(champion[i]),
            champion_decision="yes" if champion[i] >= 0.3 else "no",
            champion_threshold=0.3,
            champion_inference_ms=0.1,
            challenger_version="v1-b",
            challenger_probability=float(challenger[i]),
            challenger_decision="yes" if challenger[i] >= 0.3 else "no",
            challenger_confidence="low",
            challenger_threshold=0.3,
            source_key="predictions/2026/11/26/08/x.jsonl.gz",
        )
        for i in range(n)
    ]
    return records, {f"p{i}": bool(y[i]) for i in range(n)}, y, champion, challenger


def test_the_labelled_comparison_reports_the_auc_difference_with_a_paired_interval(tmp_path):
    store = LocalArchiveStore(tmp_path)
    records, outcomes, y, champion, challenger = _records(1700, seed=11)
    write_records(store, result_key("predictions/2026/11/26/08/x.jsonl.gz", "v1"), records)
    report = shadow_report(store, "v1", HOUR, HOUR + timedelta(hours=1), outcomes)
    interval = report.pairs[0].labelled.roc_auc_difference
    assert interval is not None and interval.resamples == 1000
    assert abs(interval.difference - (roc_auc(y, challenger) - roc_auc(y, champion))) < 1e-12
    assert interval.low < interval.difference < interval.high
    assert interval.high - interval.low < 0.08  # paired: narrow on 1,700 rows
    assert "paired-bootstrap CI" in render_html(report, plots=False)


def test_without_both_classes_there_is_no_interval(tmp_path):
    store = LocalArchiveStore(tmp_path)
    records, outcomes, *_ = _records(50, seed=3)
    write_records(store, result_key("predictions/2026/11/26/08/x.jsonl.gz", "v1"), records)
    report = shadow_report(store, "v1", HOUR, HOUR + timedelta(hours=1), dict.fromkeys(outcomes, False))
    assert report.pairs[0].labelled.roc_auc_difference is None
