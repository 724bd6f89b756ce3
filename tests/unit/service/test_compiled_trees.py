"""The serving layouts of the trees answer exactly what TreeEnsemble.raw_score answers."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from propensity.features.schemas import SPECS
from propensity.model.compiled import MAX_COMPILED_DEPTH, CompiledEnsemble
from propensity.model.trees import TreeEnsemble


def _real_matrix(api, bank_data, bundles, rows=2000):
    from propensity.training.train import flat_columns

    columns = {k: v[:rows] for k, v in flat_columns(bank_data, api).items()}
    return bundles[api].model.matrix({name: columns[name] for name in SPECS[api].names})


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_compiled_scores_are_bit_identical(api, bank_data, bundles):
    # Given 2,000 real rows of the API's flat records, with 10% of the cells made missing
    matrix = _real_matrix(api, bank_data, bundles)
    rng = np.random.default_rng(7)
    matrix[rng.random(matrix.shape) < 0.1] = np.nan
    ensemble = bundles[api].model.ensemble
    compiled = CompiledEnsemble.compile(ensemble)
    # When scored by both, in one piece, in uneven chunks and row by row
    expected = ensemble.raw_score(matrix)
    # Then every raw score is identical (same leaves, same order of the sum)
    assert np.array_equal(compiled.raw_score(matrix), expected)
    assert np.array_equal(compiled.raw_score(matrix[:65]), expected[:65])
    for row in range(50):
        assert compiled.raw_score(matrix[row : row + 1])[0] == expected[row]


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_one_row_bit_vectors_on_every_real_row_and_edge_value(api, bank_data, bundles):
    # Given real rows, and the same rows with cells set to NaN, +-inf, -0.0 and each split's
    # own threshold (where "<=" and "<" differ)
    ensemble = bundles[api].model.ensemble
    matrix = _real_matrix(api, bank_data, bundles, rows=600)
    rng = np.random.default_rng(11)
    edge = matrix.copy()
    for value, share in [(np.nan, 0.1), (np.inf, 0.03), (-np.inf, 0.03), (-0.0, 0.03)]:
        edge[rng.random(edge.shape) < share] = value
    internal = ensemble.left != np.arange(ensemble.left.size)
    picks = rng.choice(np.flatnonzero(internal), size=600)
    edge[np.arange(600), ensemble.feature[picks]] = ensemble.threshold[picks]
    compiled = CompiledEnsemble.compile(ensemble)
    assert isinstance(compiled, CompiledEnsemble) and compiled._bits is not None  # the QuickScorer path
    for rows in (matrix, edge):
        expected = ensemble.raw_score(rows)
        one_by_one = np.array([compiled.raw_score(rows[i : i + 1])[0] for i in range(len(rows))])
        # Then each single-row score is the generic walk's, bit for bit
        assert np.array_equal(one_by_one, expected)


def test_one_row_and_batch_scores_agree_across_threads(bundles):
    # Given one compiled model shared by 4 threads scoring different rows at the same time,
    # one by one and in batches of 150 (two chunks each)
    ensemble = bundles["v2"].model.ensemble
    compiled = CompiledEnsemble.compile(ensemble)
    rng = np.random.default_rng(3)
    rows = rng.normal(size=(4, 400, ensemble.n_features))
    expected = [ensemble.raw_score(r) for r in rows]
    got: list[np.ndarray | None] = [None] * 4
    batches: list[list[np.ndarray]] = [[] for _ in range(4)]

    def work(k: int) -> None:
        got[k] = np.array([compiled.raw_score(rows[k][i : i + 1])[0] for i in range(400)])
        for _ in range(20):
            batches[k].append(compiled.raw_score(rows[k][:150]))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then no thread saw another's rows (the query buffers are per thread)
    for k in range(4):
        assert np.array_equal(got[k], expected[k])
        assert all(np.array_equal(batch, expected[k][:150]) for batch in batches[k])


def _complete_tree(depth: int, n_features: int, rng: np.random.Generator) -> TreeEnsemble:
    # One complete tree in breadth-first order: node i's children at 2i + 1 and 2i + 2
    count = 2 ** (depth + 1) - 1
    index = np.arange(count, dtype=np.int32)
    leaf = index >= 2**depth - 1
    return TreeEnsemble(
        feature=np.where(leaf, 0, rng.integers(0, n_features, count)).astype(np.int32),
        threshold=np.where(leaf, np.inf, rng.normal(size=count)),
        left=np.where(leaf, index, 2 * index + 1).astype(np.int32),
        right=np.where(leaf, index, 2 * index + 2).astype(np.int32),
        missing_left=rng.random(count) < 0.5,
        value=np.where(leaf, rng.normal(size=count), 0.0),
        roots=np.array([0], dtype=np.int32),
        baseline=0.25,
        depth=depth,
        n_features=n_features,
    )


def test_more_than_32_leaves_a_tree_keeps_the_walk_for_one_row():
    # Given a tree of 64 leaves (too many for the uint32 masks), and one of 32 (just enough)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(300, 4))
    x[rng.random(x.shape) < 0.2] = np.nan
    for depth, bit_vectors in [(6, False), (5, True)]:
        ensemble = _complete_tree(depth, 4, rng)
        compiled = CompiledEnsemble.compile(ensemble)
        assert isinstance(compiled, CompiledEnsemble) and (compiled._bits is not None) == bit_vectors
        expected = ensemble.raw_score(x)
        # Then both paths still answer what the generic walk answers
        assert np.array_equal(compiled.raw_score(x), expected)
        assert np.array_equal([compiled.raw_score(x[i : i + 1])[0] for i in range(300)], expected)


def test_too_deep_an_ensemble_keeps_the_generic_walk(bundles):
    deep = dataclasses.replace(bundles["v1"].model.ensemble, depth=MAX_COMPILED_DEPTH + 1)
    assert CompiledEnsemble.compile(deep) is deep


def test_compiled_checks_the_matrix_shape(bundles):
    compiled = CompiledEnsemble.compile(bundles["v1"].model.ensemble)
    with pytest.raises(ValueError, match="columns"):
        compiled.raw_score(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="columns"):
        compiled.raw_score(np.zeros((1, 3)))


def test_nan_against_the_rest_splits_at_an_infinite_threshold_route_nan_right_in_batches():
    # Given scikit-learn's "NaN vs the rest" split: threshold +inf, NaN goes right (a v2
    # feature with missing values, days_since_previous_contact, trains such nodes)
    rng = np.random.default_rng(3)
    ensemble = _complete_tree(3, 4, rng)
    internal = ensemble.threshold != np.inf
    threshold = ensemble.threshold.copy()
    threshold[0] = np.inf  # the root: non-NaN left, NaN right
    missing_left = ensemble.missing_left.copy()
    missing_left[0] = False
    ensemble = dataclasses.replace(ensemble, threshold=threshold, missing_left=missing_left)
    assert internal[0]
    x = rng.normal(size=(600, 4))
    x[rng.random(x.shape) < 0.3] = np.nan

    # Then the batch layout and the one-row layout give the walk's answers exactly
    compiled = CompiledEnsemble.compile(ensemble)
    assert np.array_equal(compiled.raw_score(x), ensemble.raw_score(x))
    for row in x[:50]:
        assert np.array_equal(compiled.raw_score(row[None, :]), ensemble.raw_score(row[None, :]))


def _forest(trees: int, depth: int, binary: int, numeric: int, rng: np.random.Generator) -> TreeEnsemble:
    # Complete trees over one-hot-like columns (one threshold, 0.5) and numeric columns (a few
    # hundred thresholds), so the bit vectors group the one-hot columns by four, as for v2
    parts = [_complete_tree(depth, binary + numeric, rng) for _ in range(trees)]
    count = parts[0].feature.size
    feature = np.concatenate([p.feature for p in parts])
    threshold = np.concatenate([p.threshold for p in parts])
    internal = np.isfinite(threshold)
    is_binary = feature < binary
    threshold[internal & is_binary] = 0.5
    threshold[internal & ~is_binary] = rng.choice(
        rng.normal(size=300), size=int((internal & ~is_binary).sum())
    )
    offsets = np.repeat(np.arange(trees, dtype=np.int32) * count, count)
    return TreeEnsemble(
        feature=feature,
        threshold=threshold,
        left=np.concatenate([p.left for p in parts]) + offsets,
        right=np.concatenate([p.right for p in parts]) + offsets,
        missing_left=np.concatenate([p.missing_left for p in parts]),
        value=np.concatenate([p.value for p in parts]),
        roots=np.arange(trees, dtype=np.int32) * count,
        baseline=-1.5,
        depth=depth,
        n_features=binary + numeric,
    )


@pytest.mark.parametrize("trees", [1, 41, 64])
def test_grouped_bit_vectors_match_the_walk_with_odd_tree_counts_and_chunk_edges(trees):
    # Given forests of an odd and an even number of trees over 11 one-hot-like columns (in
    # groups of up to four) and 3 numeric ones with up to hundreds of thresholds each
    rng = np.random.default_rng(trees)
    ensemble = _forest(trees, 5, binary=11, numeric=3, rng=rng)
    compiled = CompiledEnsemble.compile(ensemble)
    assert isinstance(compiled, CompiledEnsemble) and compiled._bits is not None
    assert compiled._bits.group_starts.size < 14  # some columns share a group's table
    x = np.concatenate([rng.integers(0, 2, size=(300, 11)).astype(float), rng.normal(size=(300, 3))], axis=1)
    for value, share in [(np.nan, 0.1), (np.inf, 0.02), (-np.inf, 0.02), (0.5, 0.05)]:
        x[rng.random(x.shape) < share] = value
    expected = ensemble.raw_score(x)
    # When scored in one call (chunks of 128, 128 and 44), at a chunk's edge and row by row
    assert np.array_equal(compiled.raw_score(x), expected)
    assert np.array_equal(compiled.raw_score(x[:129]), expected[:129])
    # Then every score is the generic walk's, bit for bit
    assert np.array_equal([compiled.raw_score(x[i : i + 1])[0] for i in range(300)], expected)
