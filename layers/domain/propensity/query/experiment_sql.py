"""The A/B experiment's rows: one SQL text for DuckDB (local archive) and Athena (Trino) alike.

Unlike the drift and evaluation queries this one does not aggregate: the analysis resamples
customers (``propensity.experiments.bootstrap``), so it needs every row of the experiment. What
the engine saves is the rest: it reads only the columns below, keeps only the experiment's
events, and never builds a ``PredictionEvent`` per archived line, which the Python reader does
for every event of the window (other traffic included).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from propensity.query.schema import PREDICTIONS_TABLE
from propensity.query.sql import Query, _in_list, _valid_event, dt_of, literal

# The result's columns, in order (``ExperimentServed`` in the analysis mirrors them).
EXPERIMENT_ROW_COLUMNS = (
    "prediction_id",
    "customer_ref",
    "timestamp",
    "probability",
    "decision",
    "arm",
    "model_version",
    "synthetic",
    "fallback",
)


def experiment_rows(
    hours: Sequence[datetime], experiment_id: str, api_version: str, fallback_warning: str
) -> Query:
    """Every valid event of one experiment in ``hours`` (duplicates included: the caller counts them).

    ``fallback`` is whether the event carries ``fallback_warning`` (an arm chosen by request id).
    """
    dts = sorted({dt_of(h) for h in hours})
    sql = f"""
SELECT
  prediction_id,
  customer_ref,
  "timestamp",
  probability,
  decision,
  arm,
  model_version,
  COALESCE(synthetic, FALSE) AS synthetic,
  COALESCE(LIST_CONTAINS(warnings, {literal(fallback_warning)}), FALSE) AS fallback
FROM {PREDICTIONS_TABLE}
WHERE dt IN {_in_list(dts) if dts else "('')"}
  AND {_valid_event()}
  AND experiment = {literal(experiment_id)}
  AND api_version = {literal(api_version)}
"""
    return Query("experiment_rows", sql, tuple(dts))
