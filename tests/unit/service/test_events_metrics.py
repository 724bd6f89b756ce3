"""PredictionEvents (one plain JSON line per scored record, valid against the schema) and EMF metrics."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mangum import Mangum

from propensity.archive.layout import hour_prefix
from propensity.events import PredictionEvent
from propensity.service import metric_names as names
from propensity.service.app import create_app
from tests.events import LambdaContext, api_gateway_event
from tests.service_support import emf_blobs, emitted_events, make_settings, post_raw, v1_body, v2_body


def test_v1_prediction_leaves_one_plain_json_event_line(client, bundles, capsys):
    # Given a v1 request
    before = datetime.now(UTC)
    response = client.post("/v1/predict", json=v1_body())
    # Then stdout has exactly one line that IS the event's JSON (no logger envelope around it)
    lines = [line for line in capsys.readouterr().out.splitlines() if '"PredictionEvent"' in line]
    assert len(lines) == 1
    assert json.loads(lines[0])["event"] == "PredictionEvent"
    event = PredictionEvent.model_validate_json(lines[0])
    # (compact: fields at their default are left out, and read back as that default)
    assert json.loads(lines[0]) == json.loads(event.model_dump_json(exclude_defaults=True)) | {
        "event": "PredictionEvent",
        "schema_version": event.schema_version,
    }
    # And it records what was asked and answered, by which model, how fast
    body = response.json()
    assert event.api_version == "v1"
    assert event.model_version == bundles["v1"].version
    assert event.features == v1_body()
    assert (event.probability, event.decision, event.confidence) == (
        body["probability"],
        body["prediction"],
        body["confidence"],
    )
    assert event.threshold == bundles["v1"].manifest.threshold
    assert event.batch_size == 1
    assert event.consumer is None  # no API Gateway locally
    assert uuid.UUID(event.prediction_id) and uuid.UUID(event.request_id)
    assert before - timedelta(seconds=1) <= event.timestamp <= datetime.now(UTC)
    latency = event.latency
    assert (
        min(latency.validation_ms, latency.preprocessing_ms, latency.inference_ms, latency.serialization_ms)
        > 0
    )


def test_v2_event_has_the_flat_features_the_model_saw(client, capsys):
    response = client.post("/v2/predict", json=v2_body(customer={"job": "Retired"}, customer_ref="crm-7"))
    (event,) = emitted_events(capsys.readouterr().out)
    assert event.prediction_id == response.json()["prediction_id"]
    assert event.features["job"] == "retired"  # normalised, as scored
    assert event.features["days_since_previous_contact"] is None
    assert event.features["has_housing_loan"] is True
    assert event.customer_ref == "crm-7"


def test_no_event_for_rejected_requests(client, capsys):
    client.post("/v1/predict", json=v1_body(age=5))
    post_raw(client, "/v2/predict", b"{")
    assert emitted_events(capsys.readouterr().out) == []


def test_api_gateway_request_id_and_api_key_reach_the_event(bundles, capsys):
    # Given the app behind Mangum, called with a real API Gateway REST proxy event
    # (the stage's key ids mapped to consumer names at synth: CONSUMER_KEY_IDS)
    handler = Mangum(create_app(make_settings(bundles, consumers={"key-crm-123": "crm"})), lifespan="off")
    event = api_gateway_event(
        "POST", "/v2/predict", v2_body(), api_key_id="key-crm-123", request_id="req-abc-1"
    )
    # When invoked
    response = handler(event, LambdaContext())
    # Then the event names the consumer (by name, not key id) and the API Gateway request id
    assert response["statusCode"] == 200
    (prediction,) = emitted_events(capsys.readouterr().out)
    assert prediction.consumer == "crm"
    assert prediction.request_id == "req-abc-1"


def test_events_are_appended_to_the_local_archive_layout(make_client, tmp_path, capsys):
    # Given a service writing to a local archive instead of stdout
    client = make_client(archive_dir=tmp_path / "archive", events_to_stdout=False)
    # When a single and a batch of three are scored
    single = client.post("/v2/predict", json=v2_body()).json()
    batch = client.post("/v2/predict/batch", json={"records": [v2_body()] * 3}).json()
    # Then the archive's hour folder holds the four events, valid against the schema
    folder = tmp_path / "archive" / hour_prefix(datetime.now(UTC))
    lines = b"".join(gzip.decompress(f.read_bytes()) for f in folder.glob("*.jsonl.gz")).decode().splitlines()
    events = [PredictionEvent.model_validate_json(line) for line in lines]
    assert [e.prediction_id for e in events] == [single["prediction_id"]] + [
        r["prediction_id"] for r in batch["results"]
    ]
    # And nothing went to stdout
    assert emitted_events(capsys.readouterr().out) == []


# --- EMF -------------------------------------------------------------------------------------------


def metrics_of(blobs: list[dict[str, Any]]) -> dict[str, list[float]]:
    values: dict[str, list[float]] = {}
    for blob in blobs:
        for definition in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = blob[definition["Name"]]
            values.setdefault(definition["Name"], []).extend(value if isinstance(value, list) else [value])
    return values


@pytest.fixture
def emf_client(make_client):
    return make_client(metrics_flush="request", events_to_stdout=False)


def test_prediction_metrics_with_low_cardinality_dimensions(emf_client, bundles, capsys):
    # Given a v1 prediction (metrics flushed per request)
    body = emf_client.post("/v1/predict", json=v1_body()).json()
    blobs = emf_blobs(capsys.readouterr().out)
    ((calls,), (blob,)) = (
        [b for b in blobs if names.V1_CALLS in b],
        [b for b in blobs if names.V1_CALLS not in b],
    )
    # (V1Calls by consumer is a blob of its own: the Consumer dimension is on nothing else)
    assert calls["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [[names.DIMENSION_CONSUMER]]
    assert calls[names.V1_CALLS] == 1 and calls[names.DIMENSION_CONSUMER] == "unknown"
    # Then the dimensions are the API version and the model version, never the consumer
    directive = blob["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Propensity"
    assert directive["Dimensions"] == [
        ["service"],
        [names.DIMENSION_API],
        [names.DIMENSION_API, names.DIMENSION_MODEL],
    ]
    assert blob[names.DIMENSION_API] == "v1"
    assert blob[names.DIMENSION_MODEL] == bundles["v1"].version
    assert "consumer" not in json.dumps(directive)
    # And latency per phase, the decision and the probability are there: what the alarms and
    # the dashboard read, and nothing else (a zero decision count is not written)
    values = metrics_of([blob])
    for metric in names.PHASE_LATENCY.values():
        assert values[metric][0] >= 0
    decision = body["prediction"]
    assert values[names.DECISION_COUNT[decision]] == [1.0]
    assert values[names.PROBABILITY_SUM] == [pytest.approx(body["probability"])]
    assert values[names.PREDICTIONS] == [1.0]
    expected = {*names.PHASE_LATENCY.values(), names.DECISION_COUNT[decision], names.PROBABILITY_SUM}
    assert set(values) - {names.COLD_START} == expected | {names.PREDICTIONS}


def test_validation_errors_are_counted_by_field(emf_client, capsys):
    # Given a v1 body with a bad age, a bad job and an unexpected field with an arbitrary name
    emf_client.post("/v1/predict", json=v1_body(age=5, job="astronaut", **{"free-text-name-9": 1}))
    values = metrics_of(emf_blobs(capsys.readouterr().out))
    # Then each field has its count, and the unexpected one is pooled (bounded metric names)
    assert values[names.VALIDATION_ERRORS] == [3.0]
    assert values[names.validation_error_metric("age")] == [1.0]
    assert values[names.validation_error_metric("job")] == [1.0]
    assert values[names.validation_error_metric(names.UNEXPECTED_FIELD)] == [1.0]
    recorded = {m.removeprefix("ValidationError_") for m in values if m.startswith("ValidationError_")}
    assert recorded <= set(names.VALIDATION_FIELDS["v1"])


def test_v2_errors_are_counted_by_flat_field(emf_client, capsys):
    emf_client.post("/v2/predict", json=v2_body(contact={"channel": 5}))
    values = metrics_of(emf_blobs(capsys.readouterr().out))
    assert values[names.validation_error_metric("contact_channel")] == [1.0]


def test_unknown_categories_are_counted_by_field(emf_client, capsys):
    emf_client.post("/v2/predict", json=v2_body(customer={"job": "astronaut", "education": "phd"}))
    values = metrics_of(emf_blobs(capsys.readouterr().out))
    assert values[names.UNKNOWN_CATEGORIES] == [2.0]
    assert values[names.unknown_category_metric("job")] == [1.0]
    assert values[names.unknown_category_metric("education")] == [1.0]


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [(b"{", "application/json", "malformed_json"), (b"{}", "text/plain", "unsupported_media_type")],
)
def test_rejected_requests_are_counted_by_reason(emf_client, capsys, body, content_type, reason):
    post_raw(emf_client, "/v2/predict", body, content_type)
    values = metrics_of(emf_blobs(capsys.readouterr().out))
    assert values[names.REJECTED_REQUESTS] == [1.0]
    assert values[names.rejected_metric(reason)] == [1.0]
    assert reason in names.REJECTION_REASONS


def test_batch_metrics_count_records(emf_client, capsys):
    # Given a batch of 250 valid records and 2 invalid ones
    records = [v2_body()] * 250 + [{}, {"customer": 1}]
    body = emf_client.post("/v2/predict/batch", json={"records": records}).json()
    values = metrics_of(emf_blobs(capsys.readouterr().out))
    # Then one request's worth of metrics: sizes, per-record counts and the probability sum
    assert values[names.BATCH_SIZE] == [252.0]
    assert values[names.INVALID_RECORDS] == [2.0]
    assert values[names.PREDICTIONS] == [250.0]
    scored = [r for r in body["results"] if "probability" in r]
    assert values[names.PROBABILITY_SUM] == [pytest.approx(sum(r["probability"] for r in scored))]
    assert sum(values[m][0] for m in names.DECISION_COUNT.values() if m in values) == 250.0


def test_metrics_off_publishes_nothing(make_client, capsys):
    client = make_client(metrics_flush="off", events_to_stdout=False)
    client.post("/v1/predict", json=v1_body())
    assert emf_blobs(capsys.readouterr().out) == []


def test_validate_and_translate_move_no_serving_metrics(emf_client, capsys):
    # Given consumers testing their migration, with mistakes and unknown categories
    emf_client.post("/v2/validate", json=v2_body(customer={"job": "astronaut"}))
    emf_client.post("/v2/validate", json=v2_body(customer={"age": "x"}))
    emf_client.post("/v2/translate", json=v1_body(age=3))
    # Then the serving metrics (latency, validation errors, unknown categories) are untouched
    assert emf_blobs(capsys.readouterr().out) == []


def test_server_errors_are_counted_for_the_canary_rollback_alarm(make_client, bundles, capsys, monkeypatch):
    # Given a v1 model whose scoring fails unexpectedly (a broken release)
    client = make_client(metrics_flush="request", events_to_stdout=False)
    runtime = client.app.state.runtime
    broken = runtime.require("v1")

    def explode(*_args, **_kwargs):
        raise RuntimeError("corrupt tree arrays")

    monkeypatch.setattr(type(broken.model), "score", explode, raising=False)
    monkeypatch.setattr(type(broken.model), "probability", explode, raising=False)
    # When a consumer asks for a prediction
    response = client.post("/v1/predict", json=v1_body())
    # Then it gets a trace-free 500, and ServerErrors is counted for that model version
    assert response.status_code == 500
    assert "corrupt" not in response.text
    values = metrics_of(emf_blobs(capsys.readouterr().out))
    assert values.get("ServerErrors") == [1.0]
