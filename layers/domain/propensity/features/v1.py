"""v1 preprocessing: the contract's flat record, one-hot categoricals, raw numerics.

The v1 model was trained on exactly this layout; pdays keeps its -1 sentinel.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from propensity.features.domain import V1_SPEC
from propensity.features.encoding import Columns, Matrix, n_rows, numeric, one_hot_into

SPEC: Final = V1_SPEC
NUMERIC: Final = tuple(f.name for f in SPEC.of_kind("numeric"))
CATEGORICAL: Final = tuple(f.name for f in SPEC.of_kind("categorical"))

COLUMN_NAMES: Final[tuple[str, ...]] = NUMERIC + tuple(
    f"{name}={category}" for name in CATEGORICAL for category in SPEC[name].categories
)


def transform(columns: Columns) -> Matrix:
    """Turn v1 records (columnar) into the model matrix, in ``COLUMN_NAMES`` order."""
    rows = n_rows(columns)
    out = np.zeros((rows, len(COLUMN_NAMES)), dtype=np.float64)
    for i, name in enumerate(NUMERIC):
        out[:, i] = numeric(columns[name])
    offset = len(NUMERIC)
    for name in CATEGORICAL:
        categories = SPEC[name].categories
        one_hot_into(out, offset, columns[name], categories)
        offset += len(categories)
    return out
