"""The batch path (one validation call, columns, one encoder call) agrees with the single path."""

from __future__ import annotations

import json
from typing import Any

from propensity.events import PredictionEvent
from propensity.service.core.consumers import ConsumerDirectory
from propensity.service.core.events import ScoredColumns, event_lines, shared_fields
from propensity.service.core.http import Incoming, request_info
from propensity.service.v2.adapter import (
    FEATURE_NAMES,
    NormalisedRecord,
    RecordErrors,
    check_record,
    check_records,
)
from tests.service_support import v2_body

HOSTILE_REF = 'x"},{"prediction_id":"forged'


def _records() -> list[Any]:
    return [
        v2_body(),
        v2_body(customer={"job": " Technician ", "marital_status": "MARRIED"}),
        {"customer": 1},  # invalid: not an object
        v2_body(customer={"job": "astronaut"}, customer_ref=HOSTILE_REF),
        v2_body(customer={"age": 5}),  # invalid: out of range
        "not a record",
        v2_body(contact={"channel": "  cellular"}),
    ]


def test_batch_validation_and_normalisation_match_the_single_path():
    # Given a batch mixing valid, normalisable, unknown-category and invalid records
    records = _records()
    batch = check_records(records)
    singles = [check_record(r, ("body", "records", i)) for i, r in enumerate(records)]
    # Then the same records are valid, with the same features, warnings and refs
    assert batch.indices == [i for i, s in enumerate(singles) if isinstance(s, NormalisedRecord)]
    for k, i in enumerate(batch.indices):
        single = singles[i]
        assert isinstance(single, NormalisedRecord)
        assert {name: batch.columns[name][k] for name in FEATURE_NAMES} == single.features
        assert batch.warnings[k] == single.warnings
        assert batch.customer_refs[k] == single.customer_ref
    # And the invalid ones carry the same error items and metric labels
    for i, failed in batch.errors.items():
        single = singles[i]
        assert isinstance(single, RecordErrors)
        assert (failed.items, failed.fields) == (single.items, single.fields)
    assert sorted(batch.unknown_fields) == ["job"]


def test_event_lines_of_a_batch_are_valid_events_even_with_a_hostile_customer_ref():
    # Given scored columns where one customer_ref imitates the boundary between two records
    batch = check_records(_records())
    n = len(batch.indices)
    columns = ScoredColumns(
        [f"id-{k}" for k in range(n)],
        batch.columns,
        [0.25] * n,
        ["no"] * n,
        ["low"] * n,
        batch.warnings,
        batch.customer_refs,
    )
    consumers = ConsumerDirectory({"key-1": "crm"}, "api_key_id")
    info = request_info(
        Incoming("POST", "/v2/predict/batch", {}, request_id="req-1", consumer="key-1"), consumers
    )
    lines = event_lines(
        columns,
        shared_fields(
            info=info, api_version="v2", model_version="v2-x", threshold=0.2, phases_ms={}, batch_size=7
        ),
    )
    # Then there is one line per record, each a valid PredictionEvent with its own values
    events = [PredictionEvent.model_validate_json(line) for line in lines]
    assert [e.prediction_id for e in events] == [f"id-{k}" for k in range(n)]
    assert [e.customer_ref for e in events] == batch.customer_refs
    assert HOSTILE_REF in batch.customer_refs
    assert all(e.batch_size == 7 and e.consumer == "crm" and e.request_id == "req-1" for e in events)
    assert [e.features for e in events] == [
        {name: batch.columns[name][k] for name in FEATURE_NAMES} for k in range(n)
    ]
    # And defaults are left out of the line but read back (not synthetic, no experiment)
    assert all("synthetic" not in json.loads(line) for line in lines)
    assert not any(e.synthetic for e in events)
