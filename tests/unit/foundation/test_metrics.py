"""The numpy metrics match scikit-learn on the same arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from propensity.monitoring.metrics import (
    average_precision,
    brier,
    classification_metrics,
    expected_calibration_error,
    precision_recall_f1,
    reliability_table,
    roc_auc,
)


@pytest.fixture(params=[0, 1, 2])
def arrays(request):
    rng = np.random.default_rng(request.param)
    y = (rng.random(3000) < 0.15).astype(int)
    p = np.clip(0.1 + 0.5 * y * rng.random(3000) + 0.3 * rng.random(3000), 0, 1)
    p = np.round(p, 2)  # ties, as calibrated scores have
    return y, p


def test_auc_and_ap_match_sklearn(arrays) -> None:
    y, p = arrays
    assert roc_auc(y, p) == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)
    assert average_precision(y, p) == pytest.approx(skm.average_precision_score(y, p), abs=1e-12)


def test_threshold_metrics_and_brier_match_sklearn(arrays) -> None:
    y, p = arrays
    d = p >= 0.3
    precision, recall, f1 = precision_recall_f1(y, d)
    assert precision == pytest.approx(skm.precision_score(y, d))
    assert recall == pytest.approx(skm.recall_score(y, d))
    assert f1 == pytest.approx(skm.f1_score(y, d))
    assert brier(y, p) == pytest.approx(skm.brier_score_loss(y, p))


def test_ece_by_hand() -> None:
    # Two bins used: [0.1,0.2) holds 0.1,0.1 with 0 positives; [0.9,1.0] holds 0.9,0.9 with 2 positives
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.1, 0.9, 0.9])
    assert expected_calibration_error(y, p) == pytest.approx((2 * 0.1 + 2 * 0.1) / 4)
    table = reliability_table(y, p)
    assert [b.count for b in table] == [0, 2, 0, 0, 0, 0, 0, 0, 0, 2]


def test_undefined_cases_are_explicit() -> None:
    y = np.zeros(10)
    p = np.linspace(0, 1, 10)
    m = classification_metrics(y, p, 0.5)
    assert m.roc_auc is None and m.pr_auc is None  # one class only: not a number to judge
    assert precision_recall_f1(y, np.zeros(10)) == (0.0, 0.0, 0.0)
