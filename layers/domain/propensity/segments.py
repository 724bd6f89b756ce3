"""Customer segments used by the model card, the gate and the evaluation job.

Defined on the raw customer fields, which exist under different names in v1 and v2; the
``SEGMENT_FIELDS`` table says which field each schema uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from propensity.constants import ApiVersion

AGE_EDGES: Final = (25, 35, 45, 55, 65)  # groups: <25, 25-34, 35-44, 45-54, 55-64, 65+
BALANCE_EDGES: Final = (0, 1000, 5000)  # brackets: negative, 0-999, 1000-4999, 5000+

SEGMENTS: Final = ("age_group", "job", "balance_bracket")
SEGMENT_FIELDS: Final[dict[ApiVersion, dict[str, str]]] = {
    "v1": {"age_group": "age", "job": "job", "balance_bracket": "balance"},
    "v2": {"age_group": "age", "job": "job", "balance_bracket": "balance_eur"},
}

# Fewer rows (or positives) than this in a segment: figures are reported but marked as
# too small to judge, instead of pretending a 12-row segment has a meaningful F1.
MIN_SEGMENT_ROWS: Final = 200
MIN_SEGMENT_POSITIVES: Final = 20


def _label_edges(values: Sequence[Any], edges: Sequence[int], labels: Sequence[str]) -> list[str]:
    idx = np.searchsorted(np.asarray(edges), np.asarray(values, dtype=np.float64), side="right")
    return [labels[i] for i in idx]


def age_group(values: Sequence[Any]) -> list[str]:
    return _label_edges(values, AGE_EDGES, ("<25", "25-34", "35-44", "45-54", "55-64", "65+"))


def balance_bracket(values: Sequence[Any]) -> list[str]:
    return _label_edges(values, BALANCE_EDGES, ("negative", "0-999", "1000-4999", "5000+"))


def segment_labels(columns: Mapping[str, Sequence[Any]], api_version: ApiVersion) -> dict[str, list[str]]:
    """For each segment family, the label of every row."""
    fields = SEGMENT_FIELDS[api_version]
    return {
        "age_group": age_group(columns[fields["age_group"]]),
        "job": [str(v) for v in columns[fields["job"]]],
        "balance_bracket": balance_bracket(columns[fields["balance_bracket"]]),
    }


def segment_masks(labels: Sequence[str]) -> dict[str, npt.NDArray[np.bool_]]:
    """A boolean mask per distinct label, sorted by label."""
    array = np.asarray(labels)
    return {label: array == label for label in sorted(set(labels))}
