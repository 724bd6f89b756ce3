"""A serving-time layout of a ``TreeEnsemble``: same answers, a few times faster.

``TreeEnsemble.raw_score`` walks node ids through ``left``/``right`` gathers and a NaN check
at every level. For serving, the ensemble is laid out once, at load, as complete binary
trees (level by level, node ``p``'s children at ``2p`` and ``2p + 1``), so a level costs two
gathers and a comparison:

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
    features: tuple[Index, ...]  # per level, (trees * 2**level,) column of the widened row
    thresholds: tuple[Floats, ...]  # per level, same shape
    level_base: tuple[Index, ...]  # per level, start of each tree's block: tree * 2**level
    leaf_base: Index  # start of each tree's block of leaves: tree * 2**depth
    leaf_values: Floats  # (trees * 2**depth,)


def _layout(ensemble: TreeEnsemble) -> _Layout:
    trees = ensemble.roots.size
    widened_feature = ensemble.feature.astype(np.intp) + ensemble.n_features * (~ensemble.missing_left)
    nodes = ensemble.roots.astype(np.intp)[:, None]  # (trees, 1): node ids at level 0
    features, thresholds, bases = [], [], []
    for level in range(ensemble.depth):
        flat = nodes.ravel()
        features.append(widened_feature[flat])
        thresholds.append(ensemble.threshold[flat])
        bases.append(np.arange(trees, dtype=np.intp) * (2**level))
        # children of position p at 2p (left) and 2p + 1 (right); leaves point to themselves
        children = np.stack([ensemble.left[nodes], ensemble.right[nodes]], axis=2)
        nodes = children.reshape(trees, -1).astype(np.intp)
    return _Layout(
        features=tuple(features),
        thresholds=tuple(thresholds),
        level_base=tuple(bases),
        leaf_base=np.arange(trees, dtype=np.intp) * (2**ensemble.depth),
        leaf_values=ensemble.value[nodes.ravel()],
    )


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
        position = np.zeros(self.roots.size, dtype=np.intp)
        for features, thresholds, base in zip(
            layout.features, layout.thresholds, layout.level_base, strict=True
        ):
            node = base + position
            go_left = row[features[node]] <= thresholds[node]
            position = 2 * position + 1 - go_left
        return float(layout.leaf_values[layout.leaf_base + position].sum() + self.baseline)

    def _score_rows(self, layout: _Layout, rows: Floats) -> Floats:
        width = rows.shape[1]
        flat_rows = rows.ravel()
        row_start = (np.arange(rows.shape[0], dtype=np.intp) * width)[:, None]
        position = np.zeros((rows.shape[0], self.roots.size), dtype=np.intp)
        for features, thresholds, base in zip(
            layout.features, layout.thresholds, layout.level_base, strict=True
        ):
            node = base + position
            go_left = flat_rows[row_start + features[node]] <= thresholds[node]
            position = 2 * position + 1 - go_left
        result: Floats = layout.leaf_values[layout.leaf_base + position].sum(axis=1) + self.baseline
        return result
