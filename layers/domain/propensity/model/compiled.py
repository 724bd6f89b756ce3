"""Serving-time layouts of a ``TreeEnsemble``: same answers, several times faster.

``TreeEnsemble.raw_score`` walks node ids through ``left``/``right`` gathers and a NaN check
at every level. For serving, the ensemble is laid out once, at load. The layouts compare the
row's values with the nodes' thresholds exactly as scikit-learn does (go right when
``x > threshold``, a NaN where the node's ``missing_left`` says), keep the leaves and the
order of the per-tree sum, so the raw score is bit-identical to ``TreeEnsemble.raw_score``
(the parity tests compare the service with scikit-learn too).

**Bit vectors (QuickScorer, one row and batches).** Leaves of a tree are numbered left to
right and a tree's state is a bit mask of its leaves (Lucchese et al., SIGIR 2015). Which
way a node sends the row depends only on where the value falls among its feature's
thresholds, so per (feature, bin) and per tree a mask keeps the leaves whose path agrees with
every node of that feature (a right turn rules out the left subtree, a left turn the right
one); the AND over the features keeps exactly one bit per tree, the exit leaf. Features are
AND-combined in groups at load (runs of consecutive features whose bin combinations stay
within ``MAX_GROUP_ROWS``: four one-hot columns of two bins and a NaN row make 81 table
rows), so a row reads one table row per group. Scoring is then a fixed dozen numpy calls
whatever the ensemble's size: one ``searchsorted`` gives every feature's bin (the keys are
complex numbers ``feature + 1j * threshold``, sorted lexicographically; a NaN sorts after
every number, in feature order, onto its own row), a ``take`` and a ``reduceat`` the
groups' table rows, a ``take`` and an AND-``reduce`` each tree's one-bit mask, a de Bruijn
multiply and shift its leaf's slot, and a ``take`` and a ``sum`` the score. Batches run the
same calls on chunks of rows. At one row the cost is numpy's per-call overhead.

**Trees of more than 32 leaves: a level-synchronous walk.** The trees are laid out as
complete binary trees (level by level, entry ``e``'s children at ``2e`` and ``2e + 1`` of
the next level; a leaf above the last level is repeated down to it). Each row's answers to
the ensemble's distinct (column, threshold) tests are computed once, in one gather and one
comparison; a NaN goes the way its node records (tests are distinct by column, threshold
and that way), which also covers scikit-learn's "NaN against the rest" splits at a +inf
threshold. A level then costs a gather of the test's id, a row offset, a gather of the
answer and the step to the child.
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
CHUNK_ROWS: Final[int] = 256  # the walk's
# Bit vectors: 128 rows keep the (groups, rows, trees) masks of a chunk within a few MB.
BIT_CHUNK_ROWS: Final[int] = 128
# The bit-vector path holds a tree's leaves in one uint32.
MAX_BITVECTOR_LEAVES: Final[int] = 32
# De Bruijn: the top five bits of (2**j * 0x077CB531) mod 2**32 are distinct for j = 0..31,
# a multiply and a shift where a remainder would be an integer division per tree.
_DE_BRUIJN: Final[int] = 0x077CB531
_SLOT_SHIFT: Final[int] = 27
_ALL_LEAVES: Final[int] = 0xFFFFFFFF
# One table row per combination of a group's bins: 81 = four features of two bins and a NaN row.
MAX_GROUP_ROWS: Final[int] = 81

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
    """QuickScorer tables for one row, with features AND-combined in small groups."""

    keys: npt.NDArray[np.complex128]  # feature + 1j * threshold, then feature + 1j * nan
    code_part: Index  # per key: its bin's share of its group's table row (the group's base included once)
    group_starts: Index  # first feature of each group (groups are runs of consecutive features)
    masks: npt.NDArray[np.uint64]  # a row per group and bin combination: trees' uint32 masks, 2 per uint64
    trees: int
    one_row: tuple[int, int]  # the shape of a one-row matrix, (1, features)
    padded: bool  # an odd number of trees, padded to whole uint64 pairs
    # per tree (array operands: a Python scalar costs a type resolution at every call)
    de_bruijn: Masks
    slot_shift: Masks
    slot_offset: Masks  # tree * 32
    slot_values: Floats  # leaf value at tree * 32 + slot(leaf)


def _leaf_order(ensemble: TreeEnsemble) -> tuple[Index, Index, npt.NDArray[np.uint64]]:
    """Per node: its tree, its left-to-right leaf number (leaves) and the bit mask of its leaves.

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
    # bits first .. first + leaves - 1 (only read for trees of at most 32 leaves)
    span = np.minimum(leaves, 63).astype(np.uint64)
    below = ((np.uint64(1) << span) - np.uint64(1)) << np.minimum(first, 63).astype(np.uint64)
    leaf_number = np.where(is_leaf, first, -1).astype(np.intp)
    return tree, leaf_number, below


def _feature_groups(rows_per_feature: Index) -> list[range]:
    """Runs of consecutive features whose bin combinations stay within ``MAX_GROUP_ROWS``."""
    groups: list[range] = []
    start, product = 0, 1
    for f, rows in enumerate(rows_per_feature.tolist()):
        if f > start and product * rows > MAX_GROUP_ROWS:
            groups.append(range(start, f))
            start, product = f, 1
        product *= rows
    groups.append(range(start, rows_per_feature.size))
    return groups


def _bit_vectors(ensemble: TreeEnsemble) -> _BitVectors | None:
    trees, features = ensemble.roots.size, ensemble.n_features
    tree, leaf_number, below = _leaf_order(ensemble)
    internal = leaf_number < 0
    leaves_per_tree = np.bincount(tree[~internal], minlength=trees)
    if leaves_per_tree.max() > MAX_BITVECTOR_LEAVES:
        return None
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
    # Leaf l of a tree survives a feature's bin when every node of that feature on l's path
    # turns toward l there; across all features only the exit leaf survives: one bit per tree.
    everything = np.uint64(_ALL_LEAVES)
    rule_out_left = (~below[ensemble.left[nodes]] & everything).astype(np.uint32)  # kept on a right turn
    rule_out_right = (~below[ensemble.right[nodes]] & everything).astype(np.uint32)  # kept on a left turn
    query = np.empty(nodes.size, dtype=np.complex128)
    query.real, query.imag = feature, ensemble.threshold[nodes]
    rank = np.searchsorted(keys[:finite], query) - first_row[feature]
    # A node of rank r goes right from bin r + 1 on and left up to bin r: mark the first bin
    # of each side, then AND-accumulate down (right turns) and up (left turns) each feature's bins.
    right_turns = np.full((keys.size, padded), _ALL_LEAVES, dtype=np.uint32)
    left_turns = np.full((keys.size, padded), _ALL_LEAVES, dtype=np.uint32)
    np.bitwise_and.at(right_turns, (first_row[feature] + rank + 1, tree[nodes]), rule_out_left)
    np.bitwise_and.at(left_turns, (first_row[feature] + rank, tree[nodes]), rule_out_right)
    for f in range(features):
        block = right_turns[first_row[f] : first_row[f] + sizes[f]]
        np.bitwise_and.accumulate(block, axis=0, out=block)
        block = left_turns[first_row[f] : first_row[f] + sizes[f]][::-1]
        np.bitwise_and.accumulate(block, axis=0, out=block)
    own_leaves = np.zeros(padded, dtype=np.uint64)  # (a padding tree's are never read)
    own_leaves[:trees] = (np.uint64(1) << leaves_per_tree.astype(np.uint64)) - np.uint64(1)
    masks = right_turns & left_turns & own_leaves.astype(np.uint32)
    nan_right = ~ensemble.missing_left[nodes]
    nan_row = finite + feature
    np.bitwise_and.at(masks, (nan_row[nan_right], tree[nodes[nan_right]]), rule_out_left[nan_right])
    np.bitwise_and.at(masks, (nan_row[~nan_right], tree[nodes[~nan_right]]), rule_out_right[~nan_right])
    # Groups: one table row per combination of their features' bins (the AND of those rows),
    # so one row's AND reads a row per group (17 for the v2 model's 50 features) instead of
    # one per feature. A key's share of its group's row index: bin * the group's stride.
    code_part = np.zeros(keys.size, dtype=np.intp)
    tables, base = [], 0
    groups = _feature_groups(sizes + 1)
    for group in groups:
        table, stride = np.full((1, padded), _ALL_LEAVES, dtype=np.uint32), 1
        for f in group:
            rows = np.append(np.arange(first_row[f], first_row[f] + sizes[f]), finite + f)
            code_part[rows] = np.arange(rows.size) * stride + (base if f == group.start else 0)
            table = (masks[rows][:, None, :] & table[None, :, :]).reshape(-1, padded)
            stride *= rows.size
        tables.append(table)
        base += table.shape[0]
    slot_values = np.zeros((trees, MAX_BITVECTOR_LEAVES))
    is_leaf = ~internal
    one_bit = np.left_shift(np.uint64(1), leaf_number[is_leaf].astype(np.uint64))
    slots = ((one_bit * np.uint64(_DE_BRUIJN)) & np.uint64(_ALL_LEAVES)) >> np.uint64(_SLOT_SHIFT)
    slot_values[tree[is_leaf], slots.astype(np.intp)] = ensemble.value[is_leaf]
    return _BitVectors(
        keys=keys,
        code_part=code_part,
        group_starts=np.array([g.start for g in groups], dtype=np.intp),
        masks=np.concatenate(tables).view(np.uint64),
        trees=trees,
        one_row=(1, features),
        padded=padded != trees,
        de_bruijn=np.full(trees, _DE_BRUIJN, dtype=np.uint32),
        slot_shift=np.full(trees, _SLOT_SHIFT, dtype=np.uint32),
        slot_offset=(np.arange(trees) * MAX_BITVECTOR_LEAVES).astype(np.uint32),
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
    # per thread, the complex queries of a chunk: real part the feature, imaginary part the row
    _queries: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    @classmethod
    def compile(cls, ensemble: TreeEnsemble) -> TreeEnsemble:
        """The compiled ensemble, or ``ensemble`` itself when it is too deep to lay out."""
        if ensemble.depth > MAX_COMPILED_DEPTH:
            return ensemble
        fields = {name: getattr(ensemble, name) for name in TreeEnsemble.__dataclass_fields__}
        bits = _bit_vectors(ensemble)
        # the walk only where bit vectors cannot hold the trees (it costs load time)
        return cls(**fields, _compiled=_walk(ensemble) if bits is None else None, _bits=bits)

    def raw_score(self, x: Floats) -> Floats:
        """The ensemble's raw (log-odds) score per row of ``x`` (same as ``TreeEnsemble``)."""
        bits = self._bits
        if bits is not None and x.shape == bits.one_row:  # first: one row is the latency path
            return self._score_one(bits, x)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"expected a matrix with {self.n_features} columns, got shape {x.shape}")
        if bits is not None:
            scores = np.empty(x.shape[0])
            for i in range(0, len(x), BIT_CHUNK_ROWS):
                self._score_chunk(bits, x[i : i + BIT_CHUNK_ROWS], scores[i : i + BIT_CHUNK_ROWS])
            return scores
        walk = self._compiled
        if walk is None:
            return super().raw_score(x)
        return np.concatenate(
            [self._score_rows(walk, x[i : i + CHUNK_ROWS]) for i in range(0, len(x), CHUNK_ROWS)]
        )

    def _query(self, rows: int) -> npt.NDArray[np.complex128]:
        query: npt.NDArray[np.complex128] | None = getattr(self._queries, "chunk", None)
        if query is None:
            query = self._queries.chunk = np.tile(
                np.arange(self.n_features).astype(np.complex128), (BIT_CHUNK_ROWS, 1)
            )
        return query[:rows]

    def _score_one(self, bits: _BitVectors, x: Floats) -> Floats:
        one: tuple[npt.NDArray[np.complex128], Floats] | None = getattr(self._queries, "one", None)
        if one is None:
            query = np.arange(self.n_features).astype(np.complex128)
            one = self._queries.one = (query, query.imag)  # the imaginary part's view, made once
        query, values = one
        values[...] = x  # (the row of a (1, n) matrix)
        # the method, not np.searchsorted: its Python dispatch costs a fifth of the call
        codes = np.add.reduceat(bits.code_part.take(bits.keys.searchsorted(query)), bits.group_starts)
        exits = np.bitwise_and.reduce(bits.masks.take(codes, axis=0), axis=0).view(np.uint32)
        if bits.padded:
            exits = exits[: bits.trees]
        exits *= bits.de_bruijn  # one bit per tree: its slot in the top five bits
        exits >>= bits.slot_shift
        exits += bits.slot_offset
        # initial=: the baseline added to the (pairwise) sum in the same call, the same bits as after it
        score: Floats = np.add.reduce(bits.slot_values.take(exits), keepdims=True, initial=self.baseline)
        return score

    def _score_chunk(self, bits: _BitVectors, rows: Floats, out: Floats) -> None:
        """The chunk's raw scores, into ``out``: the one-row calls, on every row at once."""
        query = self._query(rows.shape[0])
        query.imag = rows
        codes = np.add.reduceat(bits.code_part.take(bits.keys.searchsorted(query)), bits.group_starts, axis=1)
        # (groups, rows, trees): the AND runs over the outer axis, on contiguous rows of masks
        masks = bits.masks.take(codes.T, axis=0)
        exits = np.bitwise_and.reduce(masks, axis=0).view(np.uint32)[:, : bits.trees]
        exits *= bits.de_bruijn
        exits >>= bits.slot_shift
        exits += bits.slot_offset
        np.add.reduce(bits.slot_values.take(exits), axis=1, out=out, initial=self.baseline)

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
            np.left_shift(position, 1, out=position)  # (a fifth cheaper than *= 2)
            position += right
        result: Floats = np.take(walk.leaf_values, position, mode="wrap").sum(axis=1)
        result += self.baseline
        return result
