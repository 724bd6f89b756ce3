"""Numpy building blocks for preprocessing: columnar in, float64 matrix out.

Preprocessing is written once over columns (a mapping of field name to a sequence of values)
so that training (45k rows) and serving (one row, or a batch) run literally the same code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import repeat
from operator import eq, is_
from typing import Any

import numpy as np
import numpy.typing as npt

Columns = Mapping[str, Sequence[Any]]
Matrix = npt.NDArray[np.float64]


def n_rows(columns: Columns) -> int:
    """Number of rows in a columnar batch (all columns have the same length)."""
    return len(next(iter(columns.values())))


def numeric(values: Sequence[Any]) -> npt.NDArray[np.float64]:
    """Numbers as float64; ``None`` becomes NaN, which the tree model routes as missing."""
    # numpy itself converts None to NaN for a float dtype: one C-level pass over the column.
    return np.array(values, dtype=np.float64)


def boolean(values: Sequence[Any]) -> npt.NDArray[np.float64]:
    """Booleans (or "yes"/"no") as 0.0/1.0: ``True`` and ``"yes"`` are 1.0, anything else 0.0."""
    # C-level passes (identity, then equality only where text occurs), not a Python loop per value.
    true = np.fromiter(map(is_, values, repeat(True)), dtype=np.float64, count=len(values))
    if "yes" in values:  # v1-style text, as in the training data
        true += np.fromiter(map(eq, values, repeat("yes")), dtype=np.float64, count=len(values))
    return true


def one_hot_into(out: Matrix, first_column: int, values: Sequence[Any], categories: Sequence[str]) -> None:
    """Write a one-hot block into ``out``; a value outside ``categories`` leaves its row all zero.

    All-zero is the model's unknown handling: no indicator fires, so trees follow the branch
    learned for "not any of these", and nothing is invented.
    """
    index = {c: i for i, c in enumerate(categories)}
    if len(values) < _VECTORISE_FROM:  # a single request: three numpy calls cost more than the loop
        for row, value in enumerate(values):
            position = index.get(value)
            if position is not None:
                out[row, first_column + position] = 1.0
        return
    positions = np.fromiter(map(index.get, values, repeat(-1)), dtype=np.intp, count=len(values))
    rows = np.flatnonzero(positions >= 0)
    out[rows, first_column + positions[rows]] = 1.0


# Rows from which the one-hot positions are found with one C-level map and set with one
# fancy assignment (about 4 µs of fixed numpy cost; the loop costs about 1 µs a row).
_VECTORISE_FROM = 8
