"""Reproducible holdout splits.

Two are reported: a stratified random holdout (the gate's yardstick: same rows every run,
the same mix of periods as the whole file) and a time-ordered one (train on the past, test
on the last 20% of the file, which shows what the strong drift in this data costs).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

HOLDOUT_SHARE = 0.2
SPLIT_SEED = 20_080_501  # fixed forever: changing it changes the gate's yardstick


@dataclass(frozen=True)
class Split:
    method: str
    train: npt.NDArray[np.intp]
    holdout: npt.NDArray[np.intp]
    fingerprint: str


def fingerprint(rows: npt.NDArray[np.intp], data_sha256: str) -> str:
    """Identifies the exact holdout rows of the exact data file."""
    digest = hashlib.sha256(data_sha256.encode())
    digest.update(np.sort(rows).astype(np.int64).tobytes())
    return digest.hexdigest()


def stratified_split(
    target: npt.NDArray[np.int8], data_sha256: str, share: float = HOLDOUT_SHARE, seed: int = SPLIT_SEED
) -> Split:
    """Same share of each class in the holdout; deterministic for a given seed."""
    rng = np.random.default_rng(seed)
    holdout_parts = []
    for label in (0, 1):
        rows = np.flatnonzero(target == label)
        rng.shuffle(rows)
        holdout_parts.append(rows[: round(share * rows.size)])
    holdout = np.sort(np.concatenate(holdout_parts))
    train = np.setdiff1d(np.arange(target.size), holdout)
    return Split("stratified", train, holdout, fingerprint(holdout, data_sha256))


def time_ordered_split(n_rows: int, data_sha256: str, share: float = HOLDOUT_SHARE) -> Split:
    """The last ``share`` of rows (the file is in date order) as the holdout."""
    cut = n_rows - round(share * n_rows)
    holdout = np.arange(cut, n_rows)
    return Split("time_ordered", np.arange(cut), holdout, fingerprint(holdout, data_sha256))


def stratified_folds(target: npt.NDArray[np.int8], k: int, seed: int) -> list[npt.NDArray[np.intp]]:
    """Indices (into ``target``) of k stratified folds."""
    rng = np.random.default_rng(seed)
    folds: list[list[npt.NDArray[np.intp]]] = [[] for _ in range(k)]
    for label in (0, 1):
        rows = np.flatnonzero(target == label)
        rng.shuffle(rows)
        for i, part in enumerate(np.array_split(rows, k)):
            folds[i].append(part)
    return [np.sort(np.concatenate(parts)) for parts in folds]
