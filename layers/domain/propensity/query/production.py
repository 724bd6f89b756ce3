"""The retraining query: labelled production rows (archived events joined with their outcomes).

Written once in DuckDB's dialect over the two tables of ``propensity.query.schema``, like the
monitoring queries of ``propensity.query.sql``, so the DuckDB engine runs it over a local
archive and the Athena engine over the Glue tables (its Trino text is parse-tested).

- events: valid, non-synthetic PredictionEvents of one API version, one per prediction id (a
  Firehose retry archives an event twice; the earliest copy counts, as in evaluation);
- outcomes by prediction id, one winner per id by the precedence of ``labels.outcomes``
  (latest outcome date, then latest ingestion, then file hash, then row). Outcomes carrying
  only a customer reference are not joined here: which prediction they belong to is the
  evaluation job's attribution, not a training label;
- each row's features exactly as the model saw them (one typed column per input, from the
  events' feature struct), its calendar month (when it was scored) and its label.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Final

from propensity.constants import ApiVersion
from propensity.features.schemas import SPECS
from propensity.query.schema import OUTCOMES_TABLE, PREDICTIONS_TABLE
from propensity.query.sql import Query, _in_list, _not_synthetic, _quoted, _valid_event, dt_of, literal

# The outcome precedence of ``propensity.labels.outcomes`` as an ORDER BY (the winner first).
OUTCOME_PRECEDENCE: Final = "outcome_date DESC, ingested_at DESC, file_sha256 DESC, source_row DESC"


def feature_column(name: str) -> str:
    """The result column holding input ``name`` (prefixed: an input may share a column's name)."""
    return f"feature_{name}"


def production_rows(hours: Sequence[datetime], api: ApiVersion) -> Query:
    """Every labelled, non-synthetic prediction of ``api`` in ``hours``, in scoring order.

    Columns: ``prediction_id``, ``month`` (``YYYY-MM`` of the event's UTC timestamp),
    ``model_version``, ``outcome`` (``yes``/``no``) and one ``feature_<name>`` per input.
    """
    dts = tuple(dt_of(h) for h in hours)
    features = ",\n         ".join(
        f"features.{_quoted(name)} AS {_quoted(feature_column(name))}" for name in SPECS[api].names
    )
    sql = f"""
WITH scanned AS (
  SELECT prediction_id, timestamp, request_id, model_version,
         {features}
  FROM {PREDICTIONS_TABLE}
  WHERE dt IN {_in_list(dts)} AND {_valid_event()} AND {_not_synthetic()} AND api_version = {literal(api)}
),
events AS (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY prediction_id ORDER BY timestamp, request_id) AS copy
  FROM scanned
),
by_id AS (
  SELECT prediction_id, outcome,
         ROW_NUMBER() OVER (PARTITION BY prediction_id ORDER BY {OUTCOME_PRECEDENCE}) AS rank
  FROM {OUTCOMES_TABLE}
  WHERE prediction_id IS NOT NULL
)
SELECT e.*, SUBSTR(e.timestamp, 1, 7) AS month, b.outcome
FROM events AS e JOIN by_id AS b ON b.prediction_id = e.prediction_id AND b.rank = 1
WHERE e.copy = 1
ORDER BY e.timestamp, e.prediction_id
"""
    return Query(f"production_rows_{api}", sql.strip(), dts, reads_outcomes=True)
