"""Labelled production rows for retraining: archived events joined with ingested outcomes.

Real shapes end to end: PredictionEvents written by the archive writer (gzip JSON lines in the
hourly layout, one object archived twice as a Firehose retry does), label files dropped under
``labels/`` and ingested by the real ingestion, the query of ``propensity.query.production``
run by the DuckDB engine (and its Trino text parsed, as Athena would run it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlglot

from propensity.archive.layout import LocalArchiveWriter
from propensity.archive.store import LocalArchiveStore
from propensity.data.loader import load_bank_marketing
from propensity.events import PhaseLatency, PredictionEvent
from propensity.features.translate import v1_to_v2_flat
from propensity.labels.ingest import ingest_all
from propensity.labels.layout import LABELS_PREFIX
from propensity.query.athena import to_trino
from propensity.query.duckdb_engine import DuckDBEngine
from propensity.query.production import production_rows as production_rows_query
from propensity.training.production_data import archive_hours, production_rows

START = datetime(2026, 3, 31, 22, tzinfo=UTC)  # two hours before April: rows span two months


def _event(prediction_id: str, at: datetime, api: str, features: dict, synthetic: bool = False):
    return PredictionEvent(
        prediction_id=prediction_id,
        request_id=f"req-{prediction_id}",
        timestamp=at,
        api_version=api,
        model_version=f"{api}-0123456789",
        features=features,
        probability=0.3,
        decision="no",
        threshold=0.5,
        confidence="medium",
        latency=PhaseLatency(validation_ms=0, preprocessing_ms=0, inference_ms=0, serialization_ms=0),
        synthetic=synthetic,
    )


@pytest.fixture
def archive(synthetic_csv, tmp_path):
    """Twelve v1 rows over three hours (one of them archived twice), a probe, a v2 row, and
    outcomes: most by id, one id answered twice, one row unanswered, one by customer only."""
    records = load_bank_marketing(synthetic_csv, expected_sha256=None).records()[:14]
    store = LocalArchiveStore(tmp_path / "archive")
    writer = LocalArchiveWriter(store.root)
    events = [_event(f"p-{i:02d}", START + timedelta(minutes=15 * i), "v1", records[i]) for i in range(12)]
    for hour in range(3):
        writer.write(events[4 * hour : 4 * hour + 4])
    writer.write(events[4:8])  # a Firehose retry: the same events archived again
    writer.write([_event("probe-1", START, "v1", records[12], synthetic=True)])
    writer.write([_event("v2-1", START, "v2", v1_to_v2_flat(records[13]))])
    labels = ["prediction_id,customer_ref,outcome,outcome_date"]
    labels += [f"p-{i:02d},,{'yes' if i % 3 == 0 else 'no'},2026-04-20" for i in range(11)]  # p-11: none
    labels += ["probe-1,,yes,2026-04-20", "v2-1,,yes,2026-04-20", ",customer-9,yes,2026-04-20"]
    store.put(f"{LABELS_PREFIX}week-1.csv", "\n".join(labels).encode())
    # p-01 answered again later: the latest outcome date wins
    store.put(f"{LABELS_PREFIX}week-2.csv", b"prediction_id,outcome,outcome_date\np-01,yes,2026-04-27\n")
    results = ingest_all(store)
    assert sum(r.record.rejected for r in results) == 0
    return store, records


def test_each_labelled_prediction_becomes_one_training_row_as_the_model_saw_it(archive):
    store, records = archive
    # When the production rows of v1 are read
    rows = production_rows(store.root, "v1")
    # Then every real v1 prediction with an outcome is there once, in scoring order: the
    # retried object counts once, the probe and the v2 row are left out, p-11 has no outcome,
    # and the customer-only outcome is not attributed here
    assert rows.prediction_ids == [f"p-{i:02d}" for i in range(11)]
    assert set(rows.model_versions) == {"v1-0123456789"}
    # And the labels are the winners of the outcome precedence (p-01: the later "yes")
    expected = [i % 3 == 0 or i == 1 for i in range(11)]
    assert rows.dataset.target.tolist() == [int(e) for e in expected]
    # And the features are the request's values, with their types (whole numbers as integers)
    assert rows.dataset.records() == records[:11]
    # And each row's month is the month it was scored in (UTC)
    months = rows.dataset.calendar_months().tolist()
    assert months == ["2026-03"] * 8 + ["2026-04"] * 3


def test_v2_rows_come_back_as_v1_input_columns(archive):
    store, records = archive
    rows = production_rows(store.root, "v2")
    assert rows.prediction_ids == ["v2-1"]
    assert rows.dataset.records() == [records[13]]
    assert rows.dataset.target.tolist() == [1]


def test_an_empty_or_unlabelled_archive_gives_no_rows(tmp_path, synthetic_csv):
    assert len(production_rows(tmp_path, "v1").dataset) == 0
    record = load_bank_marketing(synthetic_csv, expected_sha256=None).records()[0]
    LocalArchiveWriter(tmp_path).write([_event("p-1", START, "v1", record)])
    assert archive_hours(tmp_path) == [START]
    assert len(production_rows(tmp_path, "v1").dataset) == 0


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_the_query_runs_on_an_empty_archive_and_parses_as_trino(api, tmp_path):
    query = production_rows_query([START, START + timedelta(hours=1)], api)
    assert DuckDBEngine(tmp_path).run(query) == []
    sqlglot.parse_one(to_trino(query.sql), read="trino")
