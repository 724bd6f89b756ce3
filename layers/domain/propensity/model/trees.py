"""A flat-array tree ensemble and its numpy evaluator (and the export from scikit-learn)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Ints = npt.NDArray[np.int32]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class TreeEnsemble:
    """All trees' nodes in flat arrays; leaves point to themselves so every walk has one length.

    Routing follows scikit-learn's ``HistGradientBoosting`` on raw data exactly: go left when
    ``x <= threshold``; a NaN goes where ``missing_left`` says.
    """

    feature: Ints
    threshold: Floats
    left: Ints
    right: Ints
    missing_left: npt.NDArray[np.bool_]
    value: Floats
    roots: Ints
    baseline: float
    depth: int
    n_features: int

    def raw_score(self, x: Floats) -> Floats:
        """The ensemble's raw (log-odds) score per row of ``x``."""
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, got shape {x.shape}")
        rows = np.arange(x.shape[0])[:, None]
        node = np.broadcast_to(self.roots, (x.shape[0], self.roots.size))
        for _ in range(self.depth):
            values = x[rows, self.feature[node]]
            go_left = values <= self.threshold[node]
            missing = np.isnan(values)
            if missing.any():
                go_left = np.where(missing, self.missing_left[node], go_left)
            node = np.where(go_left, self.left[node], self.right[node])
        result: Floats = self.value[node].sum(axis=1) + self.baseline
        return result

    def to_arrays(self) -> dict[str, npt.NDArray[Any]]:
        """Arrays for ``numpy.savez`` (no pickle: a bundle never executes code on load)."""
        return {
            "feature": self.feature,
            "threshold": self.threshold,
            "left": self.left,
            "right": self.right,
            "missing_left": self.missing_left,
            "value": self.value,
            "roots": self.roots,
            "baseline": np.array([self.baseline]),
            "depth": np.array([self.depth]),
            "n_features": np.array([self.n_features]),
        }

    @classmethod
    def from_arrays(cls, arrays: Any) -> TreeEnsemble:
        """Rebuild from what ``to_arrays`` produced (an ``NpzFile`` or a dict)."""
        return cls(
            feature=np.asarray(arrays["feature"], dtype=np.int32),
            threshold=np.asarray(arrays["threshold"], dtype=np.float64),
            left=np.asarray(arrays["left"], dtype=np.int32),
            right=np.asarray(arrays["right"], dtype=np.int32),
            missing_left=np.asarray(arrays["missing_left"], dtype=np.bool_),
            value=np.asarray(arrays["value"], dtype=np.float64),
            roots=np.asarray(arrays["roots"], dtype=np.int32),
            baseline=float(arrays["baseline"][0]),
            depth=int(arrays["depth"][0]),
            n_features=int(arrays["n_features"][0]),
        )


def export_hist_gradient_boosting(model: Any) -> TreeEnsemble:
    """Flatten a fitted binary ``HistGradientBoostingClassifier`` into a ``TreeEnsemble``.

    Only numeric splits are supported (our preprocessing one-hot encodes categoricals).
    """
    features: list[Any] = []
    thresholds: list[Any] = []
    lefts: list[Any] = []
    rights: list[Any] = []
    missing: list[Any] = []
    values: list[Any] = []
    roots: list[int] = []
    depth = 0
    offset = 0
    for iteration in model._predictors:
        if len(iteration) != 1:
            raise ValueError("only binary classifiers are supported")
        nodes = iteration[0].nodes
        if nodes["is_categorical"].any():
            raise ValueError("categorical splits are not supported; one-hot encode instead")
        count = len(nodes)
        index = np.arange(count, dtype=np.int32) + offset
        leaf = nodes["is_leaf"].astype(bool)
        features.append(np.where(leaf, 0, nodes["feature_idx"]).astype(np.int32))
        thresholds.append(np.where(leaf, np.inf, nodes["num_threshold"]).astype(np.float64))
        lefts.append(np.where(leaf, index, nodes["left"].astype(np.int32) + offset))
        rights.append(np.where(leaf, index, nodes["right"].astype(np.int32) + offset))
        missing.append(nodes["missing_go_to_left"].astype(bool))
        values.append(np.where(leaf, nodes["value"], 0.0).astype(np.float64))
        roots.append(offset)
        depth = max(depth, int(nodes["depth"].max()))
        offset += count
    return TreeEnsemble(
        feature=np.concatenate(features),
        threshold=np.concatenate(thresholds),
        left=np.concatenate(lefts).astype(np.int32),
        right=np.concatenate(rights).astype(np.int32),
        missing_left=np.concatenate(missing),
        value=np.concatenate(values),
        roots=np.array(roots, dtype=np.int32),
        baseline=float(np.ravel(model._baseline_prediction)[0]),
        depth=depth,
        n_features=int(model.n_features_in_),
    )
