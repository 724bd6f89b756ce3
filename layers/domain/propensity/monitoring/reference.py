"""Reference distributions stored in a bundle's manifest, the baseline for drift.

Numeric features get fixed bin edges (training deciles) and the share of rows per bin;
categorical and boolean features get the share per category. Drift compares live windows
with these using the same edges, so the comparison never depends on the window's own shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel

from propensity.constants import UNCERTAIN_MARGIN
from propensity.features.spec import Feature, FeatureSpec
from propensity.model.confidence import bands, margin

NUMERIC_BINS = 10
SCORE_EDGES = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 20 bins of width 0.05


class NumericReference(BaseModel):
    """Interior edges (bins are (-inf, e0], (e0, e1], ..., (e_last, inf)) and shares per bin."""

    kind: Literal["numeric"] = "numeric"
    edges: list[float]
    proportions: list[float]
    missing_share: float = 0.0


class CategoricalReference(BaseModel):
    """Share of rows per category (booleans as "true"/"false")."""

    kind: Literal["categorical"] = "categorical"
    proportions: dict[str, float]


class Reference(BaseModel):
    """What the model was trained on and how it answered, for drift comparison."""

    rows: int
    features: dict[str, NumericReference | CategoricalReference]
    yes_rate: float  # share of "yes" decisions on the reference rows
    base_rate: float  # observed share of subscribers in the training data
    mean_probability: float
    uncertain_share: float
    confidence_mix: dict[str, float]
    score_edges: list[float]
    score_proportions: list[float]
    # Where the answers above (yes rate, mean probability, score shares, base rate) were
    # measured: "holdout" (the feature rows), or "latest months" for a model whose calibration
    # and threshold were chosen on them (out-of-fold), the traffic it is tuned to answer next.
    answers_from: str = "holdout"
    answer_rows: int | None = None


def numeric_bin_index(values: Sequence[Any], edges: Sequence[float]) -> np.ndarray[Any, Any]:
    """Bin index per value with the reference's edges; -1 for missing (None/NaN)."""
    x = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), x, side="left")
    return np.where(np.isnan(x), -1, index)


def category_key(feature: Feature, value: Any) -> str:
    """The category a value counts under (booleans normalised to "true"/"false")."""
    if feature.kind == "boolean":
        return "true" if value is True or value == "yes" else "false"
    return str(value)


def _numeric_reference(values: Sequence[Any]) -> NumericReference:
    x = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    present = x[~np.isnan(x)]
    quantiles: Any = np.quantile(present, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1]) if present.size else []
    edges = sorted({float(q) for q in quantiles})
    index = numeric_bin_index(list(present), edges)
    counts = np.bincount(index, minlength=len(edges) + 1)
    return NumericReference(
        edges=edges,
        proportions=[float(c) / max(present.size, 1) for c in counts],
        missing_share=float(np.isnan(x).mean()) if x.size else 0.0,
    )


def _categorical_reference(feature: Feature, values: Sequence[Any]) -> CategoricalReference:
    keys = [category_key(feature, v) for v in values]
    known = ["false", "true"] if feature.kind == "boolean" else list(feature.categories)
    total = max(len(keys), 1)
    return CategoricalReference(proportions={k: keys.count(k) / total for k in known})


def build_reference(
    spec: FeatureSpec,
    columns: Mapping[str, Sequence[Any]],
    target: np.ndarray[Any, Any],
    probability: np.ndarray[Any, Any],
    threshold: float,
    answers: tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], str] | None = None,
) -> Reference:
    """Reference distributions of the inputs on ``columns`` and of the model's answers.

    The answers are measured on ``(target, probability)`` of ``columns``, or on ``answers``
    (outcomes, probabilities, where from) when the model is tuned to other rows than these.
    """
    features: dict[str, NumericReference | CategoricalReference] = {}
    for feature in spec.features:
        values = columns[feature.name]
        features[feature.name] = (
            _numeric_reference(values)
            if feature.kind == "numeric"
            else _categorical_reference(feature, values)
        )
    rows, answers_from = len(probability), "holdout"
    if answers is not None:
        target, probability, answers_from = answers
    score_index = np.searchsorted(np.asarray(SCORE_EDGES), probability, side="left")
    score_counts = np.bincount(score_index, minlength=len(SCORE_EDGES) + 1)
    band = bands(probability, threshold)
    return Reference(
        rows=rows,
        features=features,
        yes_rate=float(np.mean(probability >= threshold)),
        base_rate=float(np.mean(target)),
        mean_probability=float(np.mean(probability)),
        uncertain_share=float(np.mean(margin(probability, threshold) < UNCERTAIN_MARGIN)),
        confidence_mix={b: float(np.mean(band == b)) for b in ("low", "medium", "high")},
        score_edges=list(SCORE_EDGES),
        score_proportions=[float(c) / len(probability) for c in score_counts],
        answers_from=answers_from,
        answer_rows=len(probability),
    )
