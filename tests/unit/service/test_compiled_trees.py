"""The serving layout of the trees answers exactly what TreeEnsemble.raw_score answers."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from propensity.features.schemas import SPECS
from propensity.model.compiled import MAX_COMPILED_DEPTH, CompiledEnsemble


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_compiled_scores_are_bit_identical(api, bank_data, bundles):
    # Given 2,000 real rows of the API's flat records, with 10% of the cells made missing
    from propensity.training.train import flat_columns

    columns = {k: v[:2000] for k, v in flat_columns(bank_data, api).items()}
    matrix = bundles[api].model.matrix({name: columns[name] for name in SPECS[api].names})
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


def test_too_deep_an_ensemble_keeps_the_generic_walk(bundles):
    deep = dataclasses.replace(bundles["v1"].model.ensemble, depth=MAX_COMPILED_DEPTH + 1)
    assert CompiledEnsemble.compile(deep) is deep


def test_compiled_checks_the_matrix_shape(bundles):
    compiled = CompiledEnsemble.compile(bundles["v1"].model.ensemble)
    with pytest.raises(ValueError, match="columns"):
        compiled.raw_score(np.zeros((2, 3)))
