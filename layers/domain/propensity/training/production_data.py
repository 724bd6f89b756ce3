"""Production outcomes as training rows: archived PredictionEvents joined with ingested outcomes.

Features are taken exactly as the model saw them (the event's flat record), labels as they
arrived (``outcomes/accepted/``, one winner per prediction by the rule of
``propensity.labels.outcomes``: latest outcome date, then latest ingestion, then file hash,
then row). Synthetic traffic (probes, deployment hooks) is left out; an event archived twice
(a Firehose retry) counts once. Each row's calendar month is the month it was scored.

The query is ``propensity.query.production.production_rows`` (one SQL source with the
monitoring jobs' queries), run here by the DuckDB engine over a local archive folder (the
layout of ``propensity.archive.layout``; the monthly CodeBuild retrain copies the archive).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from propensity.constants import ApiVersion
from propensity.data.loader import BankDataset, sha256_hex
from propensity.features.domain import V1_SPEC
from propensity.features.schemas import SPECS
from propensity.features.translate import v2_to_v1
from propensity.features.v2 import FIELD_MAP, GROUPS
from propensity.query.production import feature_column
from propensity.query.production import production_rows as production_rows_query
from propensity.query.schema import PARTITION_FORMAT


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


def archive_hours(archive_root: Path) -> list[datetime]:
    """Every hour folder of the archive (``predictions/YYYY/MM/DD/HH``), in order."""
    folders = sorted(p for p in archive_root.glob("predictions/*/*/*/*") if p.is_dir())
    hours = []
    for folder in folders:
        try:
            hour = datetime.strptime("/".join(folder.parts[-4:]), PARTITION_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            continue  # not an hour of the layout (a stray folder): nothing the engine reads
        hours.append(hour)
    return hours


# The engine types every number as a double (a v2 amount may carry cents); the base data's v1
# records hold whole numbers there, so whole doubles go back to integers.
_V1_NUMERIC = frozenset(f.name for f in V1_SPEC.of_kind("numeric"))


def _value(name: str, value: Any) -> Any:
    if name in _V1_NUMERIC and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def production_rows(archive_root: Path, api: ApiVersion) -> ProductionRows:
    """Every labelled, non-synthetic prediction of ``api`` in the local archive, in scoring order."""
    from propensity.query.duckdb_engine import DuckDBEngine

    columns: dict[str, list[Any]] = {name: [] for name in V1_SPEC.names}
    hours = archive_hours(archive_root)
    rows = DuckDBEngine(archive_root).run(production_rows_query(hours, api)) if hours else []
    ids, months, labels, versions = [], [], [], []
    names = SPECS[api].names
    for row in rows:
        features = {name: row[feature_column(name)] for name in names}
        record = _v1_record(api, features)
        for name in V1_SPEC.names:
            columns[name].append(_value(name, record[name]))
        ids.append(row["prediction_id"])
        months.append(row["month"])
        labels.append(row["outcome"] == "yes")
        versions.append(row["model_version"])
    if not ids:
        empty = BankDataset(columns, np.array([], dtype=np.int8), sha256_hex(b""), str(archive_root))
        return ProductionRows(empty, [], [])
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
