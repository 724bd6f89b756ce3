"""v2 API: predict, batch, validate, translate; unknown categories; the v2 schema rules."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np
import pytest

from propensity.bundle.io import Bundle
from propensity.features import v2
from propensity.features.translate import v1_to_v2, v2_flatten
from propensity.model.scoring import ScoringModel
from propensity.service.v2.adapter import check_record
from tests.service_support import emitted_events, v1_body, v2_body

V2_RESPONSE_FIELDS = {
    "prediction_id",
    "model_version",
    "probability",
    "decision",
    "threshold",
    "confidence",
    "warnings",
}


def test_predict_answers_the_richer_v2_response(client, bundles: dict[str, Bundle]):
    # Given the v2 example body
    # When it is posted
    response = client.post("/v2/predict", json=v2_body())
    # Then the response carries an id, the model version, the threshold and no warnings
    assert response.status_code == 200
    body = response.json()
    assert set(body) == V2_RESPONSE_FIELDS
    assert uuid.UUID(body["prediction_id"]).version == 4
    assert body["model_version"] == bundles["v2"].version
    assert body["threshold"] == bundles["v2"].manifest.threshold
    assert body["decision"] == ("yes" if body["probability"] >= body["threshold"] else "no")
    assert body["warnings"] == []


def test_prediction_ids_are_unique(client):
    ids = {client.post("/v2/predict", json=v2_body()).json()["prediction_id"] for _ in range(20)}
    assert len(ids) == 20


def test_golden_requests_get_their_recorded_answers(client, bundles: dict[str, Bundle]):
    golden = bundles["v2"].golden
    for case in golden.cases:
        body = client.post("/v2/predict", json=case.request).json()
        assert body["probability"] == pytest.approx(case.probability, abs=golden.tolerance)
        assert body["decision"] == case.decision
        assert body["confidence"] == case.confidence


def test_unknown_category_is_scored_with_a_warning_and_counted(client, bundles: dict[str, Bundle], capsys):
    # Given a job the model has never seen
    body = v2_body(customer={"job": "astronaut"})
    # When posted
    response = client.post("/v2/predict", json=body)
    # Then it is scored (not refused), with a warning naming the field and the value
    assert response.status_code == 200
    assert response.json()["warnings"] == ["customer.job: unknown category 'astronaut', scored as unknown"]
    # And the score is the model's unknown handling: no job indicator set
    flat = v2_flatten(body)
    expected = bundles["v2"].model.score_records([flat])
    assert response.json()["probability"] == pytest.approx(float(expected.probability[0]), abs=1e-12)
    matrix = bundles["v2"].model.matrix({k: [flat[k]] for k in v2.SPEC.names})
    job_columns = [i for i, name in enumerate(v2.COLUMN_NAMES) if name.startswith("job=")]
    assert not matrix[0, job_columns].any()
    # And the event carries the warning
    (event,) = emitted_events(capsys.readouterr().out)
    assert event.warnings == response.json()["warnings"]


def test_every_categorical_field_accepts_unknown_values(client):
    # Given unknown values in all five categorical fields
    body = v2_body(
        customer={"job": "astronaut", "marital_status": "complicated", "education": "phd"},
        contact={"channel": "carrier pigeon", "last_contact_month": "smarch"},
        history={"previous_outcome": "maybe"},
    )
    # When posted
    response = client.post("/v2/predict", json=body)
    # Then all six are reported, one warning each
    assert response.status_code == 200
    assert len(response.json()["warnings"]) == 6


def test_category_case_and_spaces_are_normalised(client):
    # Given " Technician " and "MARRIED"
    loose = client.post(
        "/v2/predict", json=v2_body(customer={"job": " Technician ", "marital_status": "MARRIED"})
    )
    exact = client.post("/v2/predict", json=v2_body())
    # Then they are the known categories: same score, no warning
    assert loose.json()["warnings"] == []
    assert loose.json()["probability"] == exact.json()["probability"]


def test_never_contacted_is_null_and_differs_from_zero_days(client):
    # Given "never contacted" (null) and "contacted today" (0)
    never = client.post("/v2/predict", json=v2_body(history={"days_since_previous_contact": None}))
    today = client.post(
        "/v2/predict",
        json=v2_body(
            history={"days_since_previous_contact": 0, "previous_contacts": 1, "previous_outcome": "success"}
        ),
    )
    # Then both are valid and they are scored differently
    assert never.status_code == today.status_code == 200
    assert never.json()["probability"] != today.json()["probability"]


@pytest.mark.parametrize(
    ("group", "field", "wrong"),
    [
        ("finances", "has_housing_loan", "yes"),
        ("finances", "has_housing_loan", 1),
        ("customer", "age", "41"),
        ("customer", "age", True),
        ("customer", "age", 17),
        ("history", "days_since_previous_contact", -1),
        ("history", "previous_contacts", None),
        ("customer", "job", 7),
        ("customer", "job", ""),
        ("customer", "job", "x" * 65),
        ("customer", "job", " \t "),
    ],
    ids=repr,
)
def test_v2_types_are_strict(client, group: str, field: str, wrong: Any):
    # Given a wrong type or value (booleans are booleans, -1 is no longer "never")
    response = client.post("/v2/predict", json=v2_body(**{group: {field: wrong}}))
    # Then 422 locates the nested field
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", group, field]


def test_missing_group_and_unknown_fields_are_422(client):
    body = v2_body()
    del body["history"]
    body["customer"]["nickname"] = "bob"
    response = client.post("/v2/predict", json=body)
    assert response.status_code == 422
    locations = sorted(tuple(item["loc"]) for item in response.json()["detail"])
    assert locations == [("body", "customer", "nickname"), ("body", "history")]


def test_customer_ref_is_optional_and_reaches_the_event(client, capsys):
    # Given one body with a reference and one without
    with_ref = client.post("/v2/predict", json=v2_body(customer_ref="crm-42"))
    body = v2_body()
    del body["customer_ref"]
    without = client.post("/v2/predict", json=body)
    # Then both are scored, and the events carry the reference (or null)
    assert with_ref.status_code == without.status_code == 200
    events = emitted_events(capsys.readouterr().out)
    assert [e.customer_ref for e in events] == ["crm-42", None]


# --- batch ---------------------------------------------------------------------------------------


def test_batch_scores_every_record_in_order(client, bundles: dict[str, Bundle], capsys):
    # Given the golden requests as one batch
    golden = bundles["v2"].golden.cases
    response = client.post("/v2/predict/batch", json={"records": [c.request for c in golden]})
    # Then one result per record, in order, each equal to its single-record answer
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["scored"], body["failed"]) == (len(golden), len(golden), 0)
    assert [r["index"] for r in body["results"]] == list(range(len(golden)))
    for result, case in zip(body["results"], golden, strict=True):
        assert result["probability"] == pytest.approx(case.probability, abs=1e-6)
        assert result["decision"] == case.decision
    # And one event per record, sharing the request's latency and batch size
    events = emitted_events(capsys.readouterr().out)
    assert [e.prediction_id for e in events] == [r["prediction_id"] for r in body["results"]]
    assert {e.batch_size for e in events} == {len(golden)}


def test_invalid_records_do_not_fail_the_batch(client, capsys):
    # Given a batch with a good record, a bad one, a non-object and an unknown category
    records = [
        v2_body(),
        v2_body(customer={"age": "old"}),
        "not a record",
        v2_body(customer={"job": "astronaut"}),
    ]
    response = client.post("/v2/predict/batch", json={"records": records})
    # Then the batch answers 200 with per-record results
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["scored"], body["failed"]) == (4, 2, 2)
    results = body["results"]
    assert "prediction_id" in results[0]
    assert results[1] == {
        "index": 1,
        "errors": [
            {
                "loc": ["body", "records", 1, "customer", "age"],
                "msg": "Input should be a valid integer",
                "type": "int_type",
            }
        ],
    }
    assert results[2]["errors"][0]["msg"] == "the record must be a JSON object"
    assert results[3]["warnings"] == ["customer.job: unknown category 'astronaut', scored as unknown"]
    # And only the scored records left events
    assert len(emitted_events(capsys.readouterr().out)) == 2


def test_batch_of_only_invalid_records_answers_200_with_no_scores(client):
    response = client.post("/v2/predict/batch", json={"records": [{}, {"customer": 1}]})
    assert response.status_code == 200
    assert (response.json()["scored"], response.json()["failed"]) == (0, 2)


@pytest.mark.parametrize(
    ("document", "loc"),
    [
        ({"records": []}, ["body", "records"]),
        ({"records": [{}] * 1001}, ["body", "records"]),
        ({}, ["body", "records"]),
        ({"records": {}}, ["body", "records"]),
        ({"records": [v2_body()], "extra": 1}, ["body", "extra"]),
        ([v2_body()], ["body"]),
    ],
    ids=["empty", "1001 records", "no records", "records not a list", "extra field", "a bare list"],
)
def test_batch_envelope_errors_are_422(client, document: Any, loc: list[Any]):
    response = client.post("/v2/predict/batch", json=document)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_batch_of_1000_is_scored_in_one_vectorised_call(client, bundles, monkeypatch):
    # Given a batch at the limit, and a count of the model's scoring calls
    calls: list[int] = []
    original = ScoringModel.matrix

    def counting(self: ScoringModel, columns: Any) -> Any:
        calls.append(len(next(iter(columns.values()))))
        return original(self, columns)

    monkeypatch.setattr(ScoringModel, "matrix", counting)
    records = [c.request for c in bundles["v2"].golden.cases] * 42
    # When the 1000 records are posted
    response = client.post("/v2/predict/batch", json={"records": records[:1000]})
    # Then all are scored with one matrix for the whole batch
    assert response.status_code == 200
    assert response.json()["scored"] == 1000
    assert calls == [1000]


# --- validate and translate ----------------------------------------------------------------------


def test_validate_returns_the_normalised_form_without_scoring(client, capsys):
    # Given a body with loose casing and an unknown category
    body = v2_body(customer={"job": " Astronaut", "marital_status": " Single"})
    # When validated
    response = client.post("/v2/validate", json=body)
    # Then the normalised body, the flat features and the warning come back, and nothing is scored
    assert response.status_code == 200
    result = response.json()
    assert result["normalised"]["customer"]["marital_status"] == "single"
    assert result["normalised"]["customer"]["job"] == "Astronaut"  # unknown: kept as sent, trimmed
    assert result["features"] == v2_flatten(result["normalised"])
    assert result["warnings"] == ["customer.job: unknown category 'Astronaut', scored as unknown"]
    assert emitted_events(capsys.readouterr().out) == []


def test_validate_refuses_what_predict_refuses(client):
    bad = v2_body(finances={"has_credit_default": "no"})
    assert client.post("/v2/validate", json=bad).json() == client.post("/v2/predict", json=bad).json()


def test_translate_turns_a_v1_body_into_the_equivalent_v2_body(client):
    # Given a v1 body of a customer contacted before
    v1 = v1_body(pdays=120, previous=2, poutcome="failure", housing="no", default="yes")
    # When translated
    response = client.post("/v2/translate", json=v1)
    # Then it is the library's translation, and v2 accepts it as is
    assert response.status_code == 200
    assert response.json() == v1_to_v2(v1)
    assert response.json()["history"]["days_since_previous_contact"] == 120
    assert response.json()["finances"]["has_credit_default"] is True
    assert client.post("/v2/predict", json=response.json()).status_code == 200


def test_translate_maps_the_never_contacted_sentinel_to_null(client):
    assert (
        client.post("/v2/translate", json=v1_body(pdays=-1)).json()["history"]["days_since_previous_contact"]
        is None
    )


def test_translate_validates_the_v1_body(client):
    response = client.post("/v2/translate", json=v1_body(age="41"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "age"]


def test_adapter_flattening_agrees_with_the_library(bundles):
    # Given every golden v2 request
    for case in bundles["v2"].golden.cases:
        checked = check_record(case.request)
        # Then the adapter's flat record is translate.v2_flatten's
        assert checked.features == v2_flatten(case.request)  # type: ignore[union-attr]


def test_v2_json_schema_is_documented_from_the_field_map(client):
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    request = schemas["V2PredictRequest"]
    assert set(request["required"]) == set(v2.GROUPS)
    for mapping in v2.FIELD_MAP:
        group = schemas[f"V2{mapping.group.capitalize()}"]
        assert mapping.v2_name in group["required"]
        assert group["additionalProperties"] is False
    history = schemas["V2History"]["properties"]["days_since_previous_contact"]
    assert {"type": "null"} in history["anyOf"]
    assert schemas["V2Finances"]["properties"]["has_housing_loan"]["type"] == "boolean"
    batch = client.get("/openapi.json").json()["paths"]["/v2/predict/batch"]["post"]
    assert batch["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/V2BatchRequest"
    }
    assert np.isclose(schemas["V2BatchRequest"]["properties"]["records"]["maxItems"], 1000)
