"""The vectorised bootstrap equals the plain metrics on resampled rows, and is reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from propensity.gate.bootstrap import (
    METRICS,
    Group,
    paired_differences,
    percentile_interval,
    resample_weights,
    weighted_metrics,
)
from propensity.monitoring.metrics import classification_metrics


@pytest.fixture(scope="module")
def scores() -> tuple[np.ndarray, np.ndarray]:
    """1,500 rows, 12% positives, scores rounded to 2 decimals so that ties are frequent."""
    rng = np.random.default_rng(7)
    y = (rng.random(1500) < 0.12).astype(np.int8)
    p = np.clip(np.round(0.1 + 0.25 * y + rng.normal(0, 0.15, y.size), 2), 0.0, 1.0)
    return y, p


def _plain(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    m = classification_metrics(y, p, threshold)
    return {"roc_auc": m.roc_auc, "pr_auc": m.pr_auc, "f1": m.f1, "ece": m.ece}


def test_unit_weights_give_the_plain_metrics(scores):
    # Given every row drawn exactly once
    y, p = scores
    weights = np.ones((y.size, 1))

    # When the weighted metrics are computed
    weighted = weighted_metrics(weights, y, p, threshold=0.3)

    # Then they equal the library's metrics (which are tested against scikit-learn)
    plain = _plain(y, p, 0.3)
    for name in METRICS:
        assert weighted[name][0] == pytest.approx(plain[name], abs=1e-12), name


def test_resample_weights_equal_metrics_on_the_resampled_rows(scores):
    # Given three bootstrap resamples as row indices, and the same resamples as draw counts
    y, p = scores
    rng = np.random.default_rng(3)
    draws = [rng.integers(0, y.size, y.size) for _ in range(3)]
    weights = np.stack([np.bincount(d, minlength=y.size) for d in draws], axis=1).astype(float)

    # When the weighted metrics are computed for all three at once
    weighted = weighted_metrics(weights, y, p, threshold=0.3)

    # Then each equals the plain metric of the explicitly resampled rows (ties included)
    for column, rows in enumerate(draws):
        plain = _plain(y[rows], p[rows], 0.3)
        for name in METRICS:
            assert weighted[name][column] == pytest.approx(plain[name], abs=1e-12), name


def test_resamples_are_stratified_and_reproducible(scores):
    # Given the same seed twice and another seed
    y, _ = scores
    first = np.concatenate(list(resample_weights(y, 450, seed=11)), axis=1)
    again = np.concatenate(list(resample_weights(y, 450, seed=11)), axis=1)
    other = np.concatenate(list(resample_weights(y, 450, seed=12)), axis=1)

    # Then every resample keeps each class's size, and the seed fixes the draws
    assert first.shape == (y.size, 450)
    assert (first[y == 1].sum(axis=0) == (y == 1).sum()).all()
    assert (first[y == 0].sum(axis=0) == (y == 0).sum()).all()
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_paired_differences_of_identical_models_are_zero(scores):
    # Given the same scores as champion and challenger
    y, p = scores

    # When the paired bootstrap runs, overall and on a subgroup
    groups = {"all": Group(None, METRICS), "first half": Group(np.arange(750), ("roc_auc", "pr_auc"))}
    differences = paired_differences(y, (p, 0.3), (p, 0.3), groups, resamples=300, seed=1)

    # Then every difference is exactly zero: pairing removes the sampling noise entirely
    for key, metrics in differences.items():
        for name, values in metrics.items():
            assert values.shape == (300,)
            assert np.all(values == 0.0), (key, name)


def test_paired_interval_detects_a_worse_model_and_is_reproducible(scores):
    # Given a challenger whose scores carry extra noise
    y, p = scores
    worse = np.clip(p + np.random.default_rng(5).normal(0, 0.2, p.size), 0, 1)
    groups = {"all": Group(None, ("roc_auc",))}

    # When the paired bootstrap runs twice with the same seed
    first = paired_differences(y, (p, 0.3), (worse, 0.3), groups, resamples=400, seed=9)["all"]["roc_auc"]
    second = paired_differences(y, (p, 0.3), (worse, 0.3), groups, resamples=400, seed=9)["all"]["roc_auc"]
    interval = percentile_interval(first, 0.95)

    # Then the interval lies below zero, and the same seed gives the same numbers
    assert interval.high < 0
    assert interval.resamples == 400
    assert np.array_equal(first, second)


def test_interval_ignores_undefined_resamples():
    # Given differences where some resamples had no positives (NaN)
    differences = np.array([np.nan, 0.1, 0.2, 0.3, np.nan])

    # When the interval is taken
    interval = percentile_interval(differences, 0.5)

    # Then only the three defined values count
    assert interval.resamples == 3
    assert 0.1 <= interval.low <= interval.high <= 0.3
