"""Serving-time layouts of a ``TreeEnsemble``: same answers, several times faster.

``TreeEnsemble.raw_score`` walks node ids through ``left``/``right`` gathers and a NaN check
at every level. For serving, the ensemble is laid out twice, once, at load. Both layouts
compare the row's values with the nodes' thresholds exactly as scikit-learn does (go right
when ``x > threshold``, a NaN where the node's ``missing_left`` says), keep the leaves and
the order of the per-tree sum, so the raw score is bit-identical to
``TreeEnsemble.raw_score`` (the parity tests compare the service with scikit-learn too).

**One row: bit vectors (QuickScorer).** Leaves of a tree are numbered left to right and a
tree's state is a bit mask of the leaves still reachable; a node whose test sends the row
right removes the leaves of its left subtree, and the exit leaf is the lowest bit left
(Lucchese et al., SIGIR 2015). Which nodes go right depends only on where the value falls
among its feature's thresholds, so the masks are precomputed per (feature, bin): one table
row per bin, each the AND over that feature's right-going nodes, per tree. Scoring a row is
then ten numpy calls whatever the ensemble's size: one ``searchsorted`` gives every
feature's bin (the keys are complex numbers ``feature + 1j * threshold``, sorted
lexicographically, and a NaN sorts after every number, in feature order, onto its own
table row), one ``take`` and one AND-``reduce`` over the features give each tree's mask,
``m & -m`` its lowest bit, ``% 37`` a distinct slot for each of the 32 powers of two, and a
``take`` and a ``sum`` the score. Per-call overhead, not arithmetic, is the cost at one row.

**Many rows: a level-synchronous walk.** The trees are laid out as complete binary trees
(level by level, entry ``e``'s children at ``2e`` and ``2e + 1`` of the next level; a leaf
above the last level is repeated down to it). Each row's answers to the ensemble's distinct
(column, threshold) tests are computed once, in one gather and one comparison (a few hundred
tests for thousands of nodes); a NaN goes the way its node records (tests are distinct by
column, threshold and that way), which also covers scikit-learn's "NaN against the rest"
splits at a +inf threshold. A level then costs a gather of the test's id, a row offset, a gather of the
answer and the step to the child. Rows are scored in chunks that keep the temporaries in
the CPU cache.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from propensity.model.trees import Floats, TreeEnsemble

# Complete layouts grow as trees x 2**depth; deeper ensembles keep the generic walk.
MAX_COMPILED_DEPTH: Final[int] = 12
CHUNK_ROWS: Final[int] = 256
# The bit-vector path holds a tree's leaves in one uint32.
MAX_BITVECTOR_LEAVES: Final[int] = 32
# 2**j % 37 is distinct for j = 0..35 (2 is a primitive root modulo 37).
_SLOT_MODULUS: Final[int] = 37
_ALL_LEAVES: Final[int] = 0xFFFFFFFF

Index = npt.NDArray[np.intp]
Masks = npt.NDArray[np.uint32]


@dataclass(frozen=True)
class _Walk:
    """Complete-tree layout for batches: per level, the id of each entry's test."""

    # Per level L, trees * 2**L entries: entry ``tree * 2**L + p`` is position p of that
    # tree; its children are entries ``2 * e`` and ``2 * e + 1`` of level L + 1.
    tests: tuple[Index, ...]
    test_column: Index  # column of the row each distinct test reads
    test_threshold: Floats  # go right when that column is > this
    test_nan_right: npt.NDArray[np.bool_]  # and where a NaN goes (right when True)
    leaf_values: Floats  # level ``depth``: trees * 2**depth leaves
    first_children: Index  # 2 * tree, as a (1, trees) row: the roots' left children at level 1


@dataclass(frozen=True)
class _BitVectors:
    """QuickScorer tables for one row."""

    keys: npt.NDArray[np.complex128]  # feature + 1j * threshold, then feature + 1j * nan
    masks: npt.NDArray[np.uint64]  # one row per key: trees' uint32 masks, two per uint64
    trees: int
    slot_offset: Masks  # tree * 37
    modulus: Masks  # 37 per tree (an array operand: a Python scalar costs a type resolution)
    slot_values: Floats  # leaf value at tree * 37 + (2**leaf % 37)


def _leaf_order(ensemble: TreeEnsemble) -> tuple[Index, Index, npt.NDArray[np.uint64]]:
    """Per node: its tree, its left-to-right leaf number (leaves) and its left subtree's leaves.

    Vectorised over all nodes, ``depth`` passes each way: leaf counts bottom-up, then each
    subtree's first leaf number top-down (left child: the parent's; right: after the left's).
    """
    count = ensemble.feature.size
    nodes = np.arange(count, dtype=np.intp)
    tree = np.searchsorted(ensemble.roots, nodes, side="right") - 1
    left, right = ensemble.left.astype(np.intp), ensemble.right.astype(np.intp)
    is_leaf = left == nodes
    internal = np.flatnonzero(~is_leaf)
    leaves = is_leaf.astype(np.int64)
    for _ in range(ensemble.depth):
        leaves[internal] = leaves[left[internal]] + leaves[right[internal]]
    first = np.zeros(count, dtype=np.int64)
    for _ in range(ensemble.depth):
        first[left[internal]] = first[internal]
        first[right[internal]] = first[internal] + leaves[left[internal]]
    left_leaves = np.zeros(count, dtype=np.uint64)
    # bits first[l] .. first[l] + leaves[l] - 1 of the left child l (at most 32 leaves here)
    span = np.minimum(leaves[left[internal]], 63).astype(np.uint64)
    left_leaves[internal] = ((np.uint64(1) << span) - np.uint64(1)) << first[left[internal]].astype(np.uint64)
    leaf_number = np.where(is_leaf, first, -1).astype(np.intp)
    return tree, leaf_number, left_leaves


def _bit_vectors(ensemble: TreeEnsemble) -> _BitVectors | None:
    trees, features = ensemble.roots.size, ensemble.n_features
    leaves_per_tree = np.bincount(
        np.searchsorted(
            ensemble.roots, np.flatnonzero(ensemble.left == np.arange(ensemble.left.size)), "right"
        )
        - 1,
        minlength=trees,
    )
    if leaves_per_tree.max() > MAX_BITVECTOR_LEAVES:
        return None
    tree, leaf_number, left_leaves = _leaf_order(ensemble)
    internal = leaf_number < 0
    nodes = np.flatnonzero(internal)
    feature = ensemble.feature[nodes].astype(np.intp)
    # return_index: the same sorted distinct values, without np.unique's masked-array check, whose
    # first call imports numpy.ma (37 million instructions, 3% of the prediction function's cold start).
    thresholds = [
        np.unique(ensemble.threshold[nodes[feature == f]], return_index=True)[0] for f in range(features)
    ]
    # Per feature: its thresholds, then +inf (so x = +inf and NaN land on different rows).
    # searchsorted(x) is then the number of thresholds below x: the bin; NaN keys come last.
    sizes = np.array([t.size + 1 for t in thresholds], dtype=np.intp)
    first_row = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    keys = np.empty(int(sizes.sum()) + features, dtype=np.complex128)  # (1j * inf is nan + infj)
    keys.real = np.concatenate([np.arange(features).repeat(sizes), np.arange(features)])
    keys.imag = np.concatenate([*(np.append(t, np.inf) for t in thresholds), np.full(features, np.nan)])
    finite = int(sizes.sum())
    padded = trees + trees % 2
    masks = np.full((keys.size, padded), _ALL_LEAVES, dtype=np.uint32)
    cleared = (~left_leaves[nodes] & np.uint64(_ALL_LEAVES)).astype(np.uint32)
    # A node of rank r (its threshold's place among its feature's) goes right from bin r + 1
    # on: clear its left leaves there, then AND-accumulate down each feature's bins.
    query = np.empty(nodes.size, dtype=np.complex128)
    query.real, query.imag = feature, ensemble.threshold[nodes]
    rank = np.searchsorted(keys[:finite], query) - first_row[feature]
    np.bitwise_and.at(masks, (first_row[feature] + rank + 1, tree[nodes]), cleared)
    for f in range(features):
        block = masks[first_row[f] : first_row[f] + sizes[f]]
        np.bitwise_and.accumulate(block, axis=0, out=block)
    gone_right = ~ensemble.missing_left[nodes]
    np.bitwise_and.at(masks, (finite + feature[gone_right], tree[nodes[gone_right]]), cleared[gone_right])
    slot_values = np.zeros((trees, _SLOT_MODULUS))
    is_leaf = ~internal
    slots = (np.left_shift(1, leaf_number[is_leaf]) % _SLOT_MODULUS).astype(np.intp)
    slot_values[tree[is_leaf], slots] = ensemble.value[is_leaf]
    return _BitVectors(
        keys=keys,
        masks=masks.view(np.uint64),
        trees=trees,
        slot_offset=(np.arange(trees) * _SLOT_MODULUS).astype(np.uint32),
        modulus=np.full(trees, _SLOT_MODULUS, dtype=np.uint32),
        slot_values=slot_values.ravel(),
    )


def _walk(ensemble: TreeEnsemble) -> _Walk:
    widened_column = ensemble.feature.astype(np.intp) + ensemble.n_features * (~ensemble.missing_left)
    # Distinct (column, threshold) tests; leaves' +inf tests are never read past the leaf.
    pairs = np.empty(widened_column.size, dtype=np.complex128)  # column + 1j * threshold
    pairs.real, pairs.imag = widened_column, ensemble.threshold
    unique, test_of_node = np.unique(pairs, return_inverse=True)
    test_of_node = test_of_node.reshape(-1).astype(np.intp)
    nodes = ensemble.roots.astype(np.intp)  # level 0: one node per tree
    tests = []
    for _ in range(ensemble.depth):
        tests.append(test_of_node[nodes])
        # children of entry e at 2e (left) and 2e + 1 (right); leaves point to themselves
        nodes = np.stack([ensemble.left[nodes], ensemble.right[nodes]], axis=1).ravel().astype(np.intp)
    assert nodes.size == ensemble.roots.size * 2**ensemble.depth
    widened = unique.real.astype(np.intp)
    return _Walk(
        tests=tuple(tests),
        test_column=widened % ensemble.n_features,
        test_threshold=np.ascontiguousarray(unique.imag),
        test_nan_right=widened >= ensemble.n_features,
        leaf_values=ensemble.value[nodes],
        first_children=(2 * np.arange(ensemble.roots.size, dtype=np.intp))[None, :],
    )


@dataclass(frozen=True)
class CompiledEnsemble(TreeEnsemble):
    """A ``TreeEnsemble`` whose ``raw_score`` uses the layouts above (built once)."""

    _compiled: _Walk | None = field(default=None, repr=False, compare=False)
    _bits: _BitVectors | None = field(default=None, repr=False, compare=False)
    # per thread, the complex query of one row: real part the feature, imaginary part the row
    _queries: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    @classmethod
    def compile(cls, ensemble: TreeEnsemble) -> TreeEnsemble:
        """The compiled ensemble, or ``ensemble`` itself when it is too deep to lay out."""
        if ensemble.depth > MAX_COMPILED_DEPTH:
            return ensemble
        fields = {name: getattr(ensemble, name) for name in TreeEnsemble.__dataclass_fields__}
        return cls(
            **fields,
            _compiled=_walk(ensemble),
            _bits=_bit_vectors(ensemble),
        )

    def raw_score(self, x: Floats) -> Floats:
        """The ensemble's raw (log-odds) score per row of ``x`` (same as ``TreeEnsemble``)."""
        walk = self._compiled
        if walk is None:
            return super().raw_score(x)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, got shape {x.shape}")
        if x.shape[0] == 1 and self._bits is not None:
            return self._score_one(self._bits, x[0])
        return np.concatenate(
            [self._score_rows(walk, x[i : i + CHUNK_ROWS]) for i in range(0, len(x), CHUNK_ROWS)]
        )

    def _score_one(self, bits: _BitVectors, row: Floats) -> Floats:
        query: npt.NDArray[np.complex128] | None = getattr(self._queries, "query", None)
        if query is None:
            query = self._queries.query = np.arange(self.n_features).astype(np.complex128)
        query.imag = row
        rows = np.searchsorted(bits.keys, query)
        survivors = np.bitwise_and.reduce(bits.masks.take(rows, axis=0), axis=0).view(np.uint32)[: bits.trees]
        lowest = np.negative(survivors)
        lowest &= survivors
        np.remainder(lowest, bits.modulus, out=lowest)
        lowest += bits.slot_offset
        score: Floats = np.add.reduce(bits.slot_values.take(lowest), keepdims=True)
        score += self.baseline
        return score

    def _score_rows(self, walk: _Walk, rows: Floats) -> Floats:
        # answers[r * tests + k]: does row r go right at distinct test k. A NaN goes where the
        # node says, also at +inf thresholds (scikit-learn's "NaN vs the rest" splits), which a
        # NaN -> +inf substitution would get wrong.
        values = rows.take(walk.test_column, axis=1)
        answers = values > walk.test_threshold
        missing = np.isnan(values)
        if missing.any():
            answers |= missing & walk.test_nan_right
        answers = answers.ravel()
        row_start = (np.arange(rows.shape[0], dtype=np.intp) * walk.test_column.size)[:, None]
        test = np.add(walk.tests[0], row_start)  # level 0: the roots' tests, row after row
        right = np.take(answers, test, mode="wrap")
        position = np.add(walk.first_children, right)  # entry e's children: 2e and 2e + 1
        for tests in walk.tests[1:]:
            # mode="wrap": the indices are in range by construction, and "raise" would
            # buffer the output (twice as slow)
            np.take(tests, position, out=test, mode="wrap")
            test += row_start
            np.take(answers, test, out=right, mode="wrap")
            position *= 2
            position += right
        result: Floats = np.take(walk.leaf_values, position, mode="wrap").sum(axis=1)
        result += self.baseline
        return result
