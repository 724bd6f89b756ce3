"""Intervals that cover: the cluster bootstrap over customers, and the paired one over rows."""

from __future__ import annotations

import numpy as np

from propensity.experiments.bootstrap import cluster_weights, paired_auc_difference, percentile_interval
from propensity.monitoring.metrics import roc_auc


def _clustered_sample(rng, customers: int, mean: float):
    """Customers with 1-6 rows each; a customer's rows share a random effect (strong clustering)."""
    sizes = rng.integers(1, 7, size=customers)
    cluster = np.repeat(np.arange(customers), sizes)
    effect = rng.normal(0, 1.0, size=customers)[cluster]
    return cluster, mean + effect + rng.normal(0, 0.5, size=cluster.size)


def _interval(cluster, values, resamples, seed, confidence=0.9):
    replicates = np.concatenate(
        [(w * values[:, None]).sum(0) / w.sum(0) for w in cluster_weights(cluster, resamples, seed)]
    )
    return percentile_interval(replicates, confidence)


def test_the_cluster_bootstrap_covers_the_true_mean_at_its_level():
    rng = np.random.default_rng(3)
    covered = 0
    runs = 200
    for run in range(runs):
        cluster, values = _clustered_sample(rng, 150, mean=2.0)
        low, high = _interval(cluster, values, 300, seed=run)
        covered += low <= 2.0 <= high
    # 90% intervals over 200 runs: about 180 cover (binomial sd about 4).
    assert 165 <= covered <= 193, covered


def test_resampling_rows_instead_of_customers_would_undercover():
    # Why customers: the same data, rows treated as independent, covers far less than 90%.
    rng = np.random.default_rng(4)
    covered = 0
    runs = 200
    for run in range(runs):
        _cluster, values = _clustered_sample(rng, 150, mean=2.0)
        low, high = _interval(np.arange(values.size), values, 300, seed=run)
        covered += low <= 2.0 <= high
    assert covered < 160, covered


def test_weights_resample_whole_customers():
    cluster = np.array([0, 0, 0, 1, 2, 2])
    for block in cluster_weights(cluster, 50, seed=1):
        assert block.shape == (6, 50)
        # a customer's rows are always drawn together, and there are always 3 customers drawn
        assert (block[0] == block[1]).all() and (block[1] == block[2]).all() and (block[4] == block[5]).all()
        assert (block[[0, 3, 4]].sum(axis=0) == 3).all()


def test_the_paired_auc_interval_brackets_the_observed_difference():
    rng = np.random.default_rng(8)
    y = (rng.random(3000) < 0.2).astype(np.int8)
    shared = rng.normal(size=y.size)
    champion = 1 / (1 + np.exp(-(shared + 0.8 * y)))
    challenger = 1 / (1 + np.exp(-(shared + 1.0 * y + 0.2 * rng.normal(size=y.size))))
    differences = paired_auc_difference(y, champion, challenger, 400, seed=2)
    low, high = percentile_interval(differences, 0.95)
    observed = roc_auc(y, challenger) - roc_auc(y, champion)
    assert low < observed < high
    assert low > 0  # the challenger really is better here, and pairing shows it
