"""Reproducible holdout splits."""

from __future__ import annotations

import numpy as np

from propensity.training.split import fingerprint, stratified_folds, stratified_split, time_ordered_split


def _target(n: int = 5000, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < 0.12).astype(np.int8)


def test_stratified_split_is_reproducible_and_stratified() -> None:
    # Given the same data twice
    y = _target()
    first, second = stratified_split(y, "sha"), stratified_split(y, "sha")
    # Then the same rows are held out, with the same fingerprint
    assert np.array_equal(first.holdout, second.holdout)
    assert first.fingerprint == second.fingerprint
    # And the holdout keeps the class balance and is disjoint from training
    assert abs(y[first.holdout].mean() - y.mean()) < 0.005
    assert np.intersect1d(first.holdout, first.train).size == 0
    assert first.holdout.size + first.train.size == y.size
    assert abs(first.holdout.size / y.size - 0.2) < 0.001


def test_fingerprint_changes_with_rows_or_data() -> None:
    rows = np.arange(10)
    assert fingerprint(rows, "a") != fingerprint(rows, "b")
    assert fingerprint(rows, "a") != fingerprint(rows[:-1], "a")
    assert fingerprint(rows[::-1], "a") == fingerprint(rows, "a")  # order-free


def test_another_seed_gives_another_holdout() -> None:
    y = _target()
    assert not np.array_equal(
        stratified_split(y, "s", seed=1).holdout, stratified_split(y, "s", seed=2).holdout
    )


def test_time_ordered_split_holds_out_the_end_of_the_file() -> None:
    split = time_ordered_split(1000, "sha")
    assert split.holdout.tolist() == list(range(800, 1000))
    assert split.train.tolist() == list(range(800))


def test_folds_partition_the_rows() -> None:
    y = _target(1000)
    folds = stratified_folds(y, 5, seed=3)
    assert sorted(np.concatenate(folds).tolist()) == list(range(1000))
    assert all(abs(y[f].mean() - y.mean()) < 0.02 for f in folds)
