"""v1 contract tests: every row of CONTRACT-v1.md, every error case, the deprecation headers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import numpy as np
import pytest

from propensity.bundle.io import Bundle
from propensity.features.domain import V1_SPEC
from propensity.model.confidence import bands
from tests.service_support import DEPRECATED_ON, SUNSET_ON, post_raw, v1_body

CATEGORICAL = [f for f in V1_SPEC.features if f.kind == "categorical"]
NUMERIC = [f for f in V1_SPEC.features if f.kind == "numeric"]


def offending(response: Any) -> list[list[Any]]:
    return [item["loc"] for item in response.json()["detail"]]


# --- the happy path ---------------------------------------------------------------------------


def test_contract_example_answers_the_documented_shape(client, bundles: dict[str, Bundle]):
    # Given the contract's example body
    # When it is posted to /v1/predict
    response = client.post("/v1/predict", json=v1_body())

    # Then the answer has exactly the contract's three fields, consistent with the threshold
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"prediction", "probability", "confidence"}
    assert 0.0 <= body["probability"] <= 1.0
    threshold = bundles["v1"].manifest.threshold
    assert body["prediction"] == ("yes" if body["probability"] >= threshold else "no")
    assert body["confidence"] == str(bands(np.array([body["probability"]]), threshold)[0])


def test_golden_requests_get_their_recorded_answers(client, bundles: dict[str, Bundle]):
    # Given the bundle's golden cases (holdout rows spread over the score range)
    golden = bundles["v1"].golden
    for case in golden.cases:
        # When each is posted
        body = client.post("/v1/predict", json=case.request).json()
        # Then probability, decision and band are the ones recorded at training time
        assert body["probability"] == pytest.approx(case.probability, abs=golden.tolerance)
        assert body["prediction"] == case.decision
        assert body["confidence"] == case.confidence
    # And both decisions and every band were exercised
    assert {c.decision for c in golden.cases} == {"yes", "no"}


@pytest.mark.parametrize(
    ("field", "value"), [(f.name, c) for f in CATEGORICAL for c in f.categories], ids=lambda v: str(v)
)
def test_every_allowed_category_is_accepted(client, field: str, value: str):
    # Given the example with one categorical field set to an allowed value
    # When posted
    response = client.post("/v1/predict", json=v1_body(**{field: value}))
    # Then it is scored
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [(f.name, f.minimum) for f in NUMERIC] + [(f.name, f.maximum) for f in NUMERIC] + [("pdays", 0)],
    ids=lambda v: str(v),
)
def test_numeric_range_bounds_are_accepted(client, field: str, value: int):
    # Given a numeric field at the edge of its allowed range (pdays: -1 and 0 included)
    # When posted, Then it is scored
    assert client.post("/v1/predict", json=v1_body(**{field: value})).status_code == 200


@pytest.mark.parametrize("literal", ["41.0", "4.1e1", "41"])
def test_integral_json_numbers_are_integers(client, literal: str):
    # Given age written as 41.0 or 4.1e1 (JSON has one number type; JSON Schema calls these integers)
    body = json.dumps(v1_body()).replace('"age": 41', f'"age": {literal}').encode()
    # Then it is the integer 41: same answer as "age": 41
    assert post_raw(client, "/v1/predict", body).json() == client.post("/v1/predict", json=v1_body()).json()


def test_negative_balance_is_accepted(client):
    # Given a customer in overdraft (the contract allows negative balances)
    assert client.post("/v1/predict", json=v1_body(balance=-2500)).status_code == 200


# --- 422: every field, every way of being wrong ------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [(f.name, f.minimum - 1) for f in NUMERIC] + [(f.name, f.maximum + 1) for f in NUMERIC],
    ids=lambda v: str(v),
)
def test_numeric_out_of_range_is_422_naming_the_field(client, field: str, value: int):
    # Given a numeric field just outside its range (pdays -2, age 17, age 101, ...)
    response = client.post("/v1/predict", json=v1_body(**{field: value}))
    # Then 422 names exactly that field
    assert response.status_code == 422
    assert offending(response) == [["body", field]]


@pytest.mark.parametrize("field", [f.name for f in NUMERIC])
@pytest.mark.parametrize("wrong", ["41", True, 41.5, 0.5, None, [41], {"v": 41}], ids=repr)
def test_numeric_wrong_type_is_422(client, field: str, wrong: Any):
    # Given an integer field sent as a string, a boolean, a float, null, a list or an object
    response = client.post("/v1/predict", json=v1_body(**{field: wrong}))
    # Then 422 names the field (strict types: no coercion)
    assert response.status_code == 422
    assert offending(response) == [["body", field]]


@pytest.mark.parametrize("field", [f.name for f in CATEGORICAL])
@pytest.mark.parametrize("wrong", ["not-a-category", "", 1, None, True], ids=repr)
def test_categorical_outside_the_allowed_set_is_422(client, field: str, wrong: Any):
    # Given a categorical field with a value outside its set or of the wrong type
    response = client.post("/v1/predict", json=v1_body(**{field: wrong}))
    # Then 422 names the field, and the message lists what is allowed
    assert response.status_code == 422
    assert offending(response) == [["body", field]]
    if isinstance(wrong, str):
        assert V1_SPEC[field].categories[0] in response.json()["detail"][0]["msg"]


def test_categories_are_case_sensitive_in_v1(client):
    # Given "Married" (v1 is the frozen contract; v2 normalises case)
    response = client.post("/v1/predict", json=v1_body(marital="Married"))
    # Then it is refused
    assert response.status_code == 422


@pytest.mark.parametrize("field", V1_SPEC.names)
def test_missing_field_is_422_naming_it(client, field: str):
    # Given the example without one field
    body = v1_body()
    del body[field]
    response = client.post("/v1/predict", json=body)
    # Then 422 says that field is missing
    assert response.status_code == 422
    assert response.json()["detail"] == [{"loc": ["body", field], "msg": "Field required", "type": "missing"}]


@pytest.mark.parametrize("extra", ["duration", "y", "customer_ref", "Age"])
def test_unknown_field_is_422_naming_it(client, extra: str):
    # Given an unknown field (duration is not an input: it leaks the outcome)
    response = client.post("/v1/predict", json=v1_body(**{extra: 1}))
    # Then 422 names it as not permitted
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", extra]
    assert response.json()["detail"][0]["type"] == "extra_forbidden"


def test_every_offending_field_is_named_at_once(client):
    # Given three problems in one body
    body = v1_body(age=12, job="astronaut", duration=300)
    del body["month"]
    response = client.post("/v1/predict", json=body)
    # Then all four are reported in FastAPI's shape, each with loc, msg and type
    assert response.status_code == 422
    assert sorted(map(tuple, offending(response))) == sorted(
        [("body", "age"), ("body", "job"), ("body", "month"), ("body", "duration")]
    )
    assert all(set(item) == {"loc", "msg", "type"} for item in response.json()["detail"])


@pytest.mark.parametrize("document", [[], [v1_body()], "text", 41, None], ids=repr)
def test_a_body_that_is_not_an_object_is_422(client, document: Any):
    # Given valid JSON that is not an object (null included)
    response = post_raw(client, "/v1/predict", json.dumps(document).encode())
    # Then 422 locates the problem at the body itself
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]
    assert response.json()["detail"][0]["msg"] == "the body must be a JSON object"


# --- deprecation headers -------------------------------------------------------------------------


def assert_deprecation_headers(response: Any) -> None:
    headers = response.headers
    # RFC 9745: "@" + unix seconds of the deprecation date
    assert headers["Deprecation"] == f"@{int(datetime(2026, 9, 1, tzinfo=UTC).timestamp())}"
    assert DEPRECATED_ON == datetime.fromtimestamp(int(headers["Deprecation"][1:]), UTC).date()
    # RFC 8594: an HTTP-date
    assert headers["Sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
    assert parsedate_to_datetime(headers["Sunset"]).date() == SUNSET_ON
    assert headers["Link"] == '</v2/predict>; rel="successor-version"'
    assert headers["X-API-Deprecation"] == "v1 deprecated on 2026-09-01"


@pytest.mark.parametrize(
    ("method", "path", "body", "content_type", "status"),
    [
        ("POST", "/v1/predict", b'{"age": 41}', "application/json", 422),
        ("POST", "/v1/predict", b"{not json", "application/json", 400),
        ("POST", "/v1/predict", b'{"age": NaN}', "application/json", 400),
        ("POST", "/v1/predict", b"age=41", "application/x-www-form-urlencoded", 415),
        ("POST", "/v1/predict", b"{" + b" " * 20_000 + b"}", "application/json", 413),
        ("GET", "/v1/predict", b"", None, 405),
        ("POST", "/v1/score", b"{}", "application/json", 404),
        ("GET", "/v1", b"", None, 404),
    ],
)
def test_every_v1_response_carries_the_deprecation_headers(client, method, path, body, content_type, status):
    # Given a v1 request that fails in one of the ways a client can fail
    headers = {"content-type": content_type} if content_type else {}
    response = client.request(method, path, content=body, headers=headers)
    # Then the status is the documented one, the body a JSON detail, and the headers are all there
    assert response.status_code == status
    assert "detail" in response.json()
    assert_deprecation_headers(response)


def test_successful_v1_response_carries_the_deprecation_headers(client):
    response = client.post("/v1/predict", json=v1_body())
    assert response.status_code == 200
    assert_deprecation_headers(response)


def test_503_on_v1_carries_the_deprecation_headers(make_client, tmp_path):
    # Given a v1 bundle folder that does not exist
    client = make_client(model_dir_v1=tmp_path / "missing")
    # When v1 is called
    response = client.post("/v1/predict", json=v1_body())
    # Then 503, and still the deprecation headers
    assert response.status_code == 503
    assert_deprecation_headers(response)


def test_v2_and_health_do_not_carry_v1_deprecation_headers(client):
    for response in (client.get("/health"), post_raw(client, "/v2/validate", b"{}")):
        assert "Deprecation" not in response.headers
        assert "Sunset" not in response.headers


def test_openapi_documents_v1_as_deprecated_with_its_headers(client):
    # Given the OpenAPI schema
    operation = client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
    # Then v1 is marked deprecated, documents the headers on its responses, and its body schema
    assert operation["deprecated"] is True
    assert set(operation["responses"]["200"]["headers"]) == {
        "Deprecation",
        "Sunset",
        "Link",
        "X-API-Deprecation",
    }
    schema = client.get("/openapi.json").json()["components"]["schemas"]["V1PredictRequest"]
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == set(V1_SPEC.names)
    assert schema["properties"]["job"]["enum"] == list(V1_SPEC["job"].categories)


def test_v1_answer_names_the_model_that_answered(client, bundles):
    # The body is fixed by the contract; the header lets probes and hooks tell a canary apart.
    response = client.post("/v1/predict", json=v1_body())
    assert response.status_code == 200
    assert response.headers["X-Model-Version"] == bundles["v1"].version
    assert set(response.json()) == {"prediction", "probability", "confidence"}
