"""Bad input gets a clear 4xx, never a 5xx or a stack trace; a missing model is a 503 that /health explains."""

from __future__ import annotations

import json
from typing import Any

import pytest

from propensity.constants import MAX_BODY_BYTES_BATCH, MAX_BODY_BYTES_SINGLE, MAX_JSON_DEPTH
from tests.service_support import post_raw, v1_body, v2_body

PREDICT_PATHS = ["/v1/predict", "/v2/predict", "/v2/predict/batch", "/v2/validate", "/v2/translate"]


def assert_clear(response: Any, status: int, *words: str) -> None:
    """Status, a JSON detail message containing ``words``, nothing internal."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for word in words:
        assert word in detail
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


@pytest.mark.parametrize("path", PREDICT_PATHS)
@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b'{"age": 41,', ["not valid JSON", "line 1"]),
        (b"{'age': 41}", ["not valid JSON"]),
        (b"", ["empty"]),
        (b"   ", ["empty"]),
        (b"\xff\xfe\x00garbage", ["not valid"]),
    ],
    ids=["truncated", "single quotes", "empty", "blank", "not utf-8"],
)
def test_malformed_json_is_400(client, path: str, body: bytes, words: list[str]):
    assert_clear(post_raw(client, path, body), 400, *words)


@pytest.mark.parametrize("path", PREDICT_PATHS)
@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_refused_with_a_clear_message(client, path: str, constant: str):
    # Given a body where a number is NaN or Infinity (Python's json would accept them)
    body = json.dumps(v1_body()).replace('"balance": 1270', f'"balance": {constant}').encode()
    # Then 400 says exactly that
    assert_clear(post_raw(client, path, body), 400, constant, "not a valid JSON number")


def test_a_number_too_large_for_a_float_is_a_422_not_a_crash(client):
    # Given 1e999, which parses to infinity
    body = json.dumps(v1_body()).replace('"balance": 1270', '"balance": 1e999').encode()
    response = post_raw(client, "/v1/predict", body)
    # Then it is a validation error on that field
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "balance"]


@pytest.mark.parametrize("path", PREDICT_PATHS)
@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/xml", "multipart/form-data"],
)
def test_wrong_content_type_is_415(client, path: str, content_type: str | None):
    response = post_raw(client, path, json.dumps(v1_body()).encode(), content_type)
    assert_clear(response, 415, "application/json")


def test_json_content_type_with_charset_is_accepted(client):
    response = post_raw(
        client, "/v1/predict", json.dumps(v1_body()).encode(), "application/json; charset=utf-8"
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        ("/v1/predict", MAX_BODY_BYTES_SINGLE),
        ("/v2/predict", MAX_BODY_BYTES_SINGLE),
        ("/v2/predict/batch", MAX_BODY_BYTES_BATCH),
    ],
)
def test_oversized_body_is_413_naming_the_limit(client, path: str, limit: int):
    # Given a body one byte over the endpoint's limit
    body = b'{"padding": "' + b"x" * (limit - 14) + b'"}'
    assert len(body) == limit + 1
    # Then 413 says how large it was and what the limit is
    assert_clear(post_raw(client, path, body), 413, str(limit + 1), str(limit))


def test_body_at_the_limit_is_not_refused_for_its_size(client):
    body = b'{"padding": "' + b"x" * (MAX_BODY_BYTES_SINGLE - 15) + b'"}'
    assert len(body) == MAX_BODY_BYTES_SINGLE
    assert post_raw(client, "/v1/predict", body).status_code == 422  # read and validated


def test_a_chunked_body_without_content_length_is_still_limited(client):
    # Given a streamed body (no Content-Length) larger than the limit
    def chunks():
        for _ in range(40):
            yield b" " * 1024

    response = client.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
    assert_clear(response, 413, "at least")


def nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


@pytest.mark.parametrize("path", PREDICT_PATHS)
def test_nesting_deeper_than_the_limit_is_400(client, path: str):
    assert_clear(post_raw(client, path, nested(MAX_JSON_DEPTH + 1)), 400, "nesting", str(MAX_JSON_DEPTH))


def test_nesting_at_the_limit_passes_to_validation(client):
    assert post_raw(client, "/v1/predict", nested(MAX_JSON_DEPTH)).status_code == 422


def test_pathological_nesting_is_400_not_a_recursion_crash(client):
    # Given 15,000 nested arrays (deeper than Python's recursion limit), within the batch size limit
    body = b"[" * 15_000 + b"]" * 15_000
    assert_clear(post_raw(client, "/v2/predict/batch", body), 400, "nesting")


def test_deep_nesting_inside_a_large_batch_is_caught(client):
    # Given a large batch (the bytes scanner path) with one deep record
    records = [v2_body()] * 300 + [json.loads(nested(MAX_JSON_DEPTH))]
    body = json.dumps({"records": records}).encode()
    assert len(body) > MAX_BODY_BYTES_SINGLE
    assert_clear(post_raw(client, "/v2/predict/batch", body), 400, "nesting")


def test_brackets_inside_strings_do_not_count_as_nesting(client):
    records = [v2_body(customer_ref='[[[[{{{{"' + "[" * 20)] * 100
    response = client.post("/v2/predict/batch", json={"records": records})
    assert response.status_code == 200
    assert response.json()["scored"] == 100


def test_a_huge_array_is_a_clear_4xx(client):
    # Given 200,000 numbers where one record is expected (fits the batch byte limit)
    body = json.dumps({"records": [0] * 200_000}).encode()
    response = post_raw(client, "/v2/predict/batch", body)
    # Then 422 says how many items are allowed
    assert response.status_code == 422
    assert "1000" in response.json()["detail"][0]["msg"]


def test_huge_array_in_a_single_prediction_is_refused_by_size(client):
    body = json.dumps(v1_body(job=["x"] * 10_000)).encode()
    assert_clear(post_raw(client, "/v1/predict", body), 413, "limit")


# --- 404, 405, 500 ---------------------------------------------------------------------------------


def test_unknown_path_and_method_are_json(client):
    assert_clear(client.get("/v3/predict"), 404, "/v3/predict", "/docs")
    assert_clear(client.delete("/v2/predict"), 405, "DELETE")


def test_an_unexpected_failure_is_a_plain_500_without_a_trace(make_client, monkeypatch):
    # Given a scoring step that fails unexpectedly
    client = make_client()
    from propensity.service.core import pipeline

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise ZeroDivisionError("secret internals")

    monkeypatch.setattr(pipeline.Pipeline, "score", staticmethod(broken))
    # When v1 and v2 are called
    for path, body in (("/v1/predict", v1_body()), ("/v2/predict", v2_body())):
        response = client.post(path, json=body)
        # Then a JSON 500 that reveals nothing, and v1 still says it is deprecated
        assert_clear(response, 500, "internal error")
        assert "secret" not in response.text
        assert ("Deprecation" in response.headers) == path.startswith("/v1")


# --- model not loaded ------------------------------------------------------------------------------


def test_health_is_ok_with_model_versions(client, bundles):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "reason": None,
        "api_versions": ["v1", "v2"],
        "models": {"v1": bundles["v1"].version, "v2": bundles["v2"].version},
        "reload_errors": {},
    }


def test_missing_bundle_gives_503_and_health_says_why(make_client, tmp_path):
    # Given a v2 bundle folder that does not exist
    client = make_client(model_dir_v2=tmp_path / "nowhere")
    # When predictions are asked for
    v2 = client.post("/v2/predict", json=v2_body())
    batch = client.post("/v2/predict/batch", json={"records": [v2_body()]})
    # Then 503 with the reason, while v1 keeps answering
    assert_clear(v2, 503, "v2", "nowhere")
    assert batch.status_code == 503
    assert client.post("/v1/predict", json=v1_body()).status_code == 200
    # And /health is 503 "unavailable" and says why
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unavailable"
    assert "nowhere" in health.json()["reason"]
    assert health.json()["models"]["v2"] is None


def test_tampered_bundle_gives_503_naming_the_problem(make_client, bundle_copy):
    # Given a copy of the v1 bundle whose artefact was altered after it was written
    folder = bundle_copy("v1")
    (folder / "model.npz").write_bytes((folder / "model.npz").read_bytes() + b"tampered")
    client = make_client(model_dir_v1=folder)
    # Then v1 answers 503 and /health says the bundle was refused
    assert_clear(client.post("/v1/predict", json=v1_body()), 503, "SHA-256")
    assert "tampered" in client.get("/health").json()["reason"]


def test_bundle_of_the_wrong_schema_gives_503(make_client, bundles):
    client = make_client(model_dir_v1=bundles["v2"].path)
    assert_clear(client.post("/v1/predict", json=v1_body()), 503, "schema v2")


def test_unconfigured_bundle_gives_503_naming_the_variable(make_client):
    client = make_client(model_dir_v2=None)
    assert_clear(client.post("/v2/predict", json=v2_body()), 503, "MODEL_DIR_V2")


def test_validate_and_translate_work_without_a_model(make_client, tmp_path):
    # Given no v2 model, the schema tools still help consumers migrate
    client = make_client(model_dir_v2=tmp_path / "nowhere")
    assert client.post("/v2/validate", json=v2_body()).status_code == 200
    assert client.post("/v2/translate", json=v1_body()).status_code == 200
