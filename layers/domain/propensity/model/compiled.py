"""A serving-time layout of a ``TreeEnsemble``: same answers, a few times faster.

``TreeEnsemble.raw_score`` walks node ids through ``left``/``right`` gathers and a NaN check
at every level. For serving, the ensemble is laid out once, at load, as complete binary
trees (level by level, entry ``e``'s children at ``2e`` and ``2e + 1`` of the next level), so
a level costs three gathers, a comparison and two in-place integer operations:

- a leaf above the last level is repeated down to it (its children are itself, as in
  ``TreeEnsemble``), so every walk has the same length and ends on a leaf;
- NaN routing is folded into the data: each row is widened to ``[x with NaN -> -inf, x]``,
  and a node whose missing values go left reads the first copy (``-inf <= t`` is true) while
  the others read the second (``NaN <= t`` is false, so NaN goes right);
- rows are scored in chunks, because small temporaries stay in the CPU cache (a batch of
  1,000 rows runs about three times faster in chunks of 64 than in one piece).

Leaves and the order of the per-tree sum are unchanged, so the raw score is bit-identical
to ``TreeEnsemble.raw_score`` (the parity tests compare the service with scikit-learn).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from propensity.model.trees import Floats, TreeEnsemble

# Complete layouts grow as trees x 2**depth; deeper ensembles keep the generic walk.
MAX_COMPILED_DEPTH: Final[int] = 12
CHUNK_ROWS: Final[int] = 64

Index = npt.NDArray[np.intp]


@dataclass(frozen=True)
class _Layout:
    # Per level L, arrays of trees * 2**L entries: entry ``tree * 2**L + p`` is position p of
    # that tree, and its children are entries ``2 * e`` and ``2 * e + 1`` of level L + 1.
    features: tuple[Index, ...]  # column of the widened row that the node reads
    thresholds: tuple[Floats, ...]
    leaf_values: Floats  # level ``depth``: trees * 2**depth leaves


def _layout(ensemble: TreeEnsemble) -> _Layout:
    trees = ensemble.roots.size
    widened_feature = ensemble.feature.astype(np.intp) + ensemble.n_features * (~ensemble.missing_left)
    nodes = ensemble.roots.astype(np.intp)  # level 0: one node per tree
    features, thresholds = [], []
    for _ in range(ensemble.depth):
        features.append(widened_feature[nodes])
        thresholds.append(ensemble.threshold[nodes])
        # children of entry e at 2e (left) and 2e + 1 (right); leaves point to themselves
        nodes = np.stack([ensemble.left[nodes], ensemble.right[nodes]], axis=1).ravel().astype(np.intp)
    assert nodes.size == trees * 2**ensemble.depth
    return _Layout(features=tuple(features), thresholds=tuple(thresholds), leaf_values=ensemble.value[nodes])


@dataclass(frozen=True)
class CompiledEnsemble(TreeEnsemble):
    """A ``TreeEnsemble`` whose ``raw_score`` uses the complete-tree layout (built once)."""

    _compiled: _Layout | None = field(default=None, repr=False, compare=False)

    @classmethod
    def compile(cls, ensemble: TreeEnsemble) -> TreeEnsemble:
        """The compiled ensemble, or ``ensemble`` itself when it is too deep to lay out."""
        if ensemble.depth > MAX_COMPILED_DEPTH:
            return ensemble
        fields = {name: getattr(ensemble, name) for name in TreeEnsemble.__dataclass_fields__}
        return cls(**fields, _compiled=_layout(ensemble))

    def raw_score(self, x: Floats) -> Floats:
        """The ensemble's raw (log-odds) score per row of ``x`` (same as ``TreeEnsemble``)."""
        layout = self._compiled
        if layout is None:
            return super().raw_score(x)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, got shape {x.shape}")
        missing = np.isnan(x)
        widened = np.concatenate([np.where(missing, -np.inf, x), x], axis=1)
        if widened.shape[0] == 1:
            return np.array([self._score_one(layout, widened[0])])
        return np.concatenate(
            [
                self._score_rows(layout, widened[i : i + CHUNK_ROWS])
                for i in range(0, len(widened), CHUNK_ROWS)
            ]
        )

    def _score_one(self, layout: _Layout, row: Floats) -> float:
        entry = np.arange(self.roots.size, dtype=np.intp)
        for features, thresholds in zip(layout.features, layout.thresholds, strict=True):
            go_left = row[features[entry]] <= thresholds[entry]
            entry *= 2
            entry += ~go_left
        return float(layout.leaf_values[entry].sum() + self.baseline)

    def _score_rows(self, layout: _Layout, rows: Floats) -> Floats:
        flat_rows = rows.ravel()
        row_start = (np.arange(rows.shape[0], dtype=np.intp) * rows.shape[1])[:, None]
        entry = np.broadcast_to(
            np.arange(self.roots.size, dtype=np.intp), (rows.shape[0], self.roots.size)
        ).copy()
        for features, thresholds in zip(layout.features, layout.thresholds, strict=True):
            column = features[entry]
            column += row_start
            go_left = flat_rows[column] <= thresholds[entry]
            entry *= 2
            entry += ~go_left
        result: Floats = layout.leaf_values[entry].sum(axis=1) + self.baseline
        return result
