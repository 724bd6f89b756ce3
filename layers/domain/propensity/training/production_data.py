"""Production outcomes as training rows: archived PredictionEvents joined with ingested outcomes.

Features are taken exactly as the model saw them (the event's flat record), labels as they
arrived (``outcomes/accepted/``, one winner per prediction by the rule of
``propensity.labels.outcomes``: latest outcome date, then latest ingestion, then file hash,
then row). Synthetic traffic (probes, deployment hooks) is left out; an event archived twice
(a Firehose retry) counts once. Each row's calendar month is the month it was scored.

The query runs on DuckDB over a local archive folder (the layout of
``propensity.archive.layout``). It is kept in one constant so it can move to the shared query
package (DuckDB locally, Athena in AWS) without being rewritten.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np

from propensity.constants import ApiVersion
from propensity.data.loader import BankDataset, sha256_hex
from propensity.features.domain import V1_SPEC
from propensity.features.translate import v2_to_v1
from propensity.features.v2 import FIELD_MAP, GROUPS
from propensity.labels.layout import ACCEPTED_PREFIX

PREDICTIONS_GLOB: Final = "predictions/*/*/*/*/*.gz"
OUTCOMES_GLOB: Final = f"{ACCEPTED_PREFIX}*.jsonl"

# $events and $outcomes are file globs; $api the API version. Outcomes carrying only a
# customer reference are not joined here (the evaluation job attributes those).
PRODUCTION_ROWS_SQL: Final = """
WITH events AS (
    SELECT prediction_id, "timestamp" AS scored_at, model_version, CAST(features AS VARCHAR) AS features
    FROM read_json($events, format = 'newline_delimited', union_by_name = true,
                   columns = {prediction_id: 'VARCHAR', "timestamp": 'TIMESTAMPTZ', api_version: 'VARCHAR',
                              model_version: 'VARCHAR', features: 'JSON', synthetic: 'BOOLEAN'})
    WHERE api_version = $api AND NOT coalesce(synthetic, false)
    QUALIFY row_number() OVER (PARTITION BY prediction_id ORDER BY "timestamp", model_version) = 1
),
outcomes AS (
    SELECT prediction_id, outcome, outcome_date
    FROM read_json($outcomes, format = 'newline_delimited', union_by_name = true,
                   columns = {prediction_id: 'VARCHAR', outcome: 'VARCHAR', outcome_date: 'DATE',
                              ingested_at: 'TIMESTAMPTZ', file_sha256: 'VARCHAR', source_row: 'BIGINT'})
    WHERE prediction_id IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY prediction_id
        ORDER BY outcome_date DESC, ingested_at DESC, file_sha256 DESC, source_row DESC) = 1
)
SELECT e.prediction_id, strftime(e.scored_at AT TIME ZONE 'UTC', '%Y-%m') AS month, e.features,
       o.outcome, e.model_version
FROM events e JOIN outcomes o USING (prediction_id)
ORDER BY e.scored_at, e.prediction_id
"""


@dataclass(frozen=True)
class ProductionRows:
    """Labelled production rows as a data set (v1 input columns), plus what they came from."""

    dataset: BankDataset
    prediction_ids: list[str]
    model_versions: list[str]


def _v1_record(api: ApiVersion, features: dict[str, Any]) -> dict[str, Any]:
    if api == "v1":
        return {name: features[name] for name in V1_SPEC.names}
    nested: dict[str, dict[str, Any]] = {group: {} for group in GROUPS}
    for m in FIELD_MAP:
        nested[m.group][m.v2_name] = features[m.flat_name]
    return v2_to_v1(nested)


def production_rows(archive_root: Path, api: ApiVersion) -> ProductionRows:
    """Every labelled, non-synthetic prediction of ``api`` in the local archive, in scoring order."""
    import duckdb

    events = sorted(str(p) for p in archive_root.glob(PREDICTIONS_GLOB))
    outcomes = sorted(str(p) for p in archive_root.glob(OUTCOMES_GLOB))
    columns: dict[str, list[Any]] = {name: [] for name in V1_SPEC.names}
    if not events or not outcomes:
        empty = BankDataset(columns, np.array([], dtype=np.int8), sha256_hex(b""), str(archive_root))
        return ProductionRows(empty, [], [])
    with duckdb.connect() as connection:
        rows = connection.execute(
            PRODUCTION_ROWS_SQL, {"events": events, "outcomes": outcomes, "api": api}
        ).fetchall()
    ids, months, labels, versions = [], [], [], []
    for prediction_id, month, features, outcome, model_version in rows:
        record = _v1_record(api, json.loads(features))
        for name in V1_SPEC.names:
            columns[name].append(record[name])
        ids.append(prediction_id)
        months.append(month)
        labels.append(outcome == "yes")
        versions.append(model_version)
    digest = sha256_hex("\n".join(f"{i}:{int(y)}" for i, y in zip(ids, labels, strict=True)).encode())
    dataset = BankDataset(
        columns, np.array(labels, dtype=np.int8), digest, f"{archive_root} (production)", np.array(months)
    )
    return ProductionRows(dataset, ids, versions)


def concat(base: BankDataset, extra: BankDataset) -> BankDataset:
    """``base`` followed by ``extra`` (months kept); the stratified holdout stays on ``base`` rows."""
    columns = {name: [*base.columns[name], *extra.columns[name]] for name in base.columns}
    months = np.concatenate([base.calendar_months(), extra.calendar_months()]).astype(str)
    return BankDataset(columns, np.concatenate([base.target, extra.target]), base.sha256, base.source, months)
