"""The prediction Lambda handler with real API Gateway REST proxy events and a Lambda context.

Each API version is its own function (API_VERSIONS has one entry) with its bundle shipped
next to the handler as ``model`` (MODEL_DIR_<V>=model under LAMBDA_TASK_ROOT), as the
infrastructure packages it.
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import shutil
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from propensity.constants import SYNTHETIC_HEADER
from propensity.events import PredictionEvent
from propensity.lambda_log import logger
from propensity.observability import metrics
from tests.events import LambdaContext, api_gateway_event
from tests.service_support import v1_body, v2_body

# /health and unknown paths publish no service metric; Powertools says so once per process.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

DATES = {"V1_DEPRECATION_DATE": "2026-09-01", "V1_SUNSET_DATE": "2027-06-30"}


def load_handler(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> ModuleType:
    """Import predict_handler afresh under ``env`` (settings and bundle load happen at import)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sys.modules.pop("predict_handler", None)
    return importlib.import_module("predict_handler")


@pytest.fixture
def task_root(tmp_path, bundles):
    """A Lambda task root: the handler's folder with the bundles copied in as the infra ships them."""

    def make(api: str) -> str:
        root = tmp_path / f"task-{api}"
        shutil.copytree(bundles[api].path, root / "model")
        return str(root)

    return make


@pytest.fixture
def v1_function(monkeypatch, task_root) -> Iterator[ModuleType]:
    env = {
        "API_VERSIONS": "v1",
        "MODEL_DIR_V1": "model",
        "LAMBDA_TASK_ROOT": task_root("v1"),
        **DATES,
        "POWERTOOLS_SERVICE_NAME": "propensity-predict-v1",
        "CONSUMER_KEY_IDS": '{"key-crm-123": "crm"}',
    }
    metrics.clear_metrics()
    yield load_handler(monkeypatch, env)
    metrics.clear_metrics()
    sys.modules.pop("predict_handler", None)


@pytest.fixture
def v2_function(monkeypatch, task_root) -> Iterator[ModuleType]:
    env = {
        "API_VERSIONS": "v2",
        "MODEL_DIR_V2": "model",
        "LAMBDA_TASK_ROOT": task_root("v2"),
        **DATES,
        "CONSUMER_KEY_IDS": '{"key-crm-123": "crm"}',
    }
    metrics.clear_metrics()
    yield load_handler(monkeypatch, env)
    metrics.clear_metrics()
    sys.modules.pop("predict_handler", None)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def header(response: dict[str, Any], name: str) -> str | None:
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    multi = {k.lower(): v for k, v in (response.get("multiValueHeaders") or {}).items()}
    if name.lower() in headers:
        return str(headers[name.lower()])
    values = multi.get(name.lower())
    return ", ".join(values) if values else None


def test_v1_function_answers_the_contract_with_headers_event_and_emf(v1_function, bundles, capfd):
    # Given an API Gateway REST proxy event for POST /v1/predict with an API key
    event = api_gateway_event(
        "POST", "/v1/predict", v1_body(), api_key_id="key-crm-123", request_id="req-v1-0001"
    )
    # When the handler is invoked with a Lambda context
    response = v1_function.lambda_handler(event, LambdaContext())
    # Then API Gateway gets a 200 with the contract's body and the deprecation headers
    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert set(body) == {"prediction", "probability", "confidence"}
    assert header(response, "Sunset") == "Wed, 30 Jun 2027 00:00:00 GMT"
    assert header(response, "Link") == '</v2/predict>; rel="successor-version"'
    # And stdout carries the PredictionEvent as its own line, with the request id and the consumer
    lines = json_lines(capfd.readouterr().out)
    (event_line,) = [line for line in lines if line.get("event") == "PredictionEvent"]
    prediction = PredictionEvent.model_validate(event_line)
    assert prediction.request_id == "req-v1-0001"
    assert prediction.consumer == "crm"  # the key id's name, from CONSUMER_KEY_IDS
    assert prediction.model_version == bundles["v1"].version
    assert prediction.probability == body["probability"]
    # And the EMF blobs: the cold start and the request's metrics, the consumer in neither
    blobs = [line for line in lines if "_aws" in line]
    names = {m["Name"] for blob in blobs for m in blob["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"ColdStart", "InferenceLatency", "Predictions", "ProbabilitySum"} <= names
    service_blob = next(b for b in blobs if "Predictions" in b)
    (calls,) = [b for b in blobs if "V1Calls" in b]
    assert calls["Consumer"] == "crm" and calls["V1Calls"] == 1
    assert service_blob["ApiVersion"] == "v1"
    assert service_blob["ModelVersion"] == bundles["v1"].version
    assert "key-crm-123" not in json.dumps(blobs)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """What the prediction path's logger writes (``propensity.lambda_log``, Powertools' lines)."""
    buffer = io.StringIO()
    previous, logger.stream = logger.stream, buffer
    yield buffer
    logger.stream = previous


def test_logs_carry_the_api_gateway_request_id_as_correlation_id(v1_function, log_output):
    # Given an invalid request (the service logs why it refused it)
    event = api_gateway_event("POST", "/v1/predict", v1_body(age=7), request_id="req-corr-42")
    context = LambdaContext()
    # When invoked
    response = v1_function.lambda_handler(event, context)
    # Then 422, and the log line names the offending field, the correlation id and the Lambda request
    assert response["statusCode"] == 422
    logs = [line for line in json_lines(log_output.getvalue()) if line.get("message") == "request invalid"]
    assert len(logs) == 1
    assert logs[0]["correlation_id"] == "req-corr-42"
    assert logs[0]["function_request_id"] == context.aws_request_id
    assert logs[0]["fields"] == ["age"]
    assert header(response, "Deprecation") is not None


def test_v2_function_serves_v2_only(v2_function, capfd):
    # Given the v2 function
    batch = api_gateway_event("POST", "/v2/predict/batch", {"records": [v2_body(), {"bad": 1}]})
    v1 = api_gateway_event("POST", "/v1/predict", v1_body())
    # When called with a batch and with a v1 request
    batch_response = v2_function.lambda_handler(batch, LambdaContext(function_name="propensity-predict-v2"))
    v1_response = v2_function.lambda_handler(v1, LambdaContext(function_name="propensity-predict-v2"))
    # Then the batch is scored with its per-record error, and v1 is not served here
    assert batch_response["statusCode"] == 200
    assert json.loads(batch_response["body"])["failed"] == 1
    assert v1_response["statusCode"] == 404
    events = [line for line in json_lines(capfd.readouterr().out) if line.get("event") == "PredictionEvent"]
    assert len(events) == 1


def test_health_through_the_handler(v2_function, bundles):
    response = v2_function.lambda_handler(api_gateway_event("GET", "/health"), LambdaContext())
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["models"] == {"v2": bundles["v2"].version}


def test_a_function_whose_bundle_is_broken_answers_503_and_says_why(monkeypatch, tmp_path, log_output):
    # Given a function configured with a bundle folder that holds no bundle
    (tmp_path / "model").mkdir()
    handler = load_handler(
        monkeypatch,
        {"API_VERSIONS": "v2", "MODEL_DIR_V2": "model", "LAMBDA_TASK_ROOT": str(tmp_path), **DATES},
    )
    try:
        # When it is asked to predict, and for its health
        predict = handler.lambda_handler(api_gateway_event("POST", "/v2/predict", v2_body()), LambdaContext())
        health = handler.lambda_handler(api_gateway_event("GET", "/health"), LambdaContext())
    finally:
        sys.modules.pop("predict_handler", None)
        metrics.clear_metrics()
    # Then 503 both, and the reason names the missing manifest
    assert predict["statusCode"] == 503
    assert health["statusCode"] == 503
    assert "manifest.json is missing" in json.loads(health["body"])["reason"]
    # And the load failure was logged at init
    assert any(line.get("message") == "model load failed" for line in json_lines(log_output.getvalue()))


def test_malformed_and_oversized_bodies_through_api_gateway(v1_function):
    raw = api_gateway_event("POST", "/v1/predict", raw_body='{"age": 41,')
    big = api_gateway_event("POST", "/v1/predict", raw_body=json.dumps({"x": "y" * 20_000}))
    wrong_type = api_gateway_event("POST", "/v1/predict", v1_body(), headers={"content-type": "text/plain"})
    statuses = [v1_function.lambda_handler(e, LambdaContext())["statusCode"] for e in (raw, big, wrong_type)]
    assert statuses == [400, 413, 415]


# --- Bad events: whatever reaches the function is answered, never raised (issue 15) --------------

HUGE_INT = "9" * 5000  # beyond CPython's 4,300-digit conversion limit
# Text that would mean an exception's message leaked into a body.
LEAKS = (
    "Traceback",
    "sys.set_int_max_str_digits",
    "binascii",
    "Expecting",
    "Error:",
    "Exception",
)


def _event_without(*keys: str) -> dict[str, Any]:
    event = api_gateway_event("POST", "/v2/predict", v2_body())
    for key in keys:
        event.pop(key)
    return event


def _event_with(**changes: Any) -> dict[str, Any]:
    return {**api_gateway_event("POST", "/v2/predict", v2_body()), **changes}


def _context_with(**changes: Any) -> dict[str, Any]:
    event = api_gateway_event("POST", "/v2/predict", v2_body())
    return {**event, "requestContext": {**event["requestContext"], **changes}}


def _raw(body: str) -> dict[str, Any]:
    return api_gateway_event("POST", "/v2/predict", raw_body=body)


EVENTBRIDGE = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-12-01T09:00:00Z",
    "region": "eu-west-1",
    "resources": ["arn:aws:events:eu-west-1:123456789012:rule/probe"],
    "detail": {},
}

BAD_EVENTS: list[tuple[str, Any, int, str]] = [
    # (case, event, status, a phrase the detail must contain)
    ("empty event", {}, 400, "API Gateway REST proxy events"),
    ("EventBridge event", EVENTBRIDGE, 400, "API Gateway REST proxy events"),
    ("a list", [1, 2], 400, "API Gateway REST proxy events"),
    ("a string", "hello", 400, "API Gateway REST proxy events"),
    ("null", None, 400, "API Gateway REST proxy events"),
    ("httpMethod not a string", _event_with(httpMethod=5), 400, "API Gateway REST proxy events"),
    ("invalid base64", _event_with(body="not base64!!", isBase64Encoded=True), 400, "not valid base64"),
    ("base64 of bytes that are not UTF-8", _event_with(body="//79", isBase64Encoded=True), 400, "UTF-8"),
    ("body is an object, not text", _event_with(body={"customer": {}}), 400, "must be text"),
    ("body null", _event_with(body=None), 400, "empty"),
    (
        "headers null (no content type)",
        _event_with(headers=None, multiValueHeaders=None),
        415,
        "application/json",
    ),
    ("headers not a mapping", _event_with(headers=["x"], multiValueHeaders="y"), 415, "application/json"),
    ("duplicate key", _raw('{"customer": {}, "customer": {}}'), 400, "twice"),
    ("duplicate nested key", _raw('{"customer": {"age": 41, "age": 42}}'), 400, "twice"),
    ("integer of 5,000 digits", _raw('{"customer": {"age": ' + HUGE_INT + "}}"), 400, "too many digits"),
    ("NaN", _raw('{"customer": {"age": NaN}}'), 400, "finite numbers"),
    ("syntax error", _raw('{"customer": '), 400, "syntax error at line 1 column 14"),
    ("nested too deep", _raw("[" * 50 + "]" * 50), 400, "deeper than"),
    ("a JSON string body", _raw('"hello"'), 422, "JSON object"),
    ("unknown path", api_gateway_event("POST", "/v2/nothing", {}), 404, "no such endpoint"),
    ("wrong method", api_gateway_event("GET", "/v2/predict"), 405, "not allowed"),
    ("oversized body", _raw('{"x": "' + "y" * 20_000 + '"}'), 413, "limit"),
]


@pytest.mark.parametrize(("case", "event", "status", "phrase"), BAD_EVENTS, ids=[c[0] for c in BAD_EVENTS])
def test_bad_events_get_a_clean_answer(v2_function, case, event, status, phrase):
    # When the function is invoked with a malformed event
    response = v2_function.lambda_handler(event, LambdaContext())
    # Then it answers (never raises) with the status, a JSON detail in the service's own words
    assert response["statusCode"] == status, response["body"]
    detail = json.loads(response["body"])["detail"]
    text = json.dumps(detail)
    assert phrase in text
    assert not any(leak in text for leak in LEAKS), text


GOOD_ODD_EVENTS: list[tuple[str, Any, str | None]] = [
    # (case, event, consumer the PredictionEvent names: the key id's name, CONSUMER_KEY_IDS)
    ("no requestContext", _event_without("requestContext"), None),
    ("requestContext null", _event_with(requestContext=None), None),
    ("identity null", _context_with(identity=None), None),
    ("apiKeyId null", _context_with(identity={"apiKeyId": None}), None),
    ("requestId not a string", _context_with(requestId=12), "crm"),
    ("valid base64 body", _event_with(body=base64.b64encode(json.dumps(v2_body()).encode()).decode(),
                                      isBase64Encoded=True), "crm"),
    ("only multiValueHeaders", _event_with(headers=None), "crm"),
    ("lower-case method", _event_with(httpMethod="post"), "crm"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "event", "consumer"), GOOD_ODD_EVENTS, ids=[c[0] for c in GOOD_ODD_EVENTS])
def test_odd_but_valid_events_are_served(v2_function, capfd, case, event, consumer):
    response = v2_function.lambda_handler(event, LambdaContext())
    assert response["statusCode"] == 200, response["body"]
    (line,) = [line for line in json_lines(capfd.readouterr().out) if line.get("event") == "PredictionEvent"]
    prediction = PredictionEvent.model_validate(line)
    assert prediction.consumer == consumer
    assert prediction.request_id  # API Gateway's, or a fresh uuid


def test_synthetic_header_marks_the_event(v2_function, capfd):
    # Given a probe's request (the synthetic header) and a consumer's
    probe = api_gateway_event("POST", "/v2/predict", v2_body(), headers={SYNTHETIC_HEADER: "1"})
    consumer = api_gateway_event("POST", "/v2/predict", v2_body())
    for event in (probe, consumer):
        assert v2_function.lambda_handler(event, LambdaContext())["statusCode"] == 200
    # Then only the probe's PredictionEvent is synthetic
    lines = [line for line in json_lines(capfd.readouterr().out) if line.get("event") == "PredictionEvent"]
    assert [PredictionEvent.model_validate(line).synthetic for line in lines] == [True, False]


def test_docs_are_served_by_the_fastapi_app_on_first_use(v2_function):
    response = v2_function.lambda_handler(api_gateway_event("GET", "/openapi.json"), LambdaContext())
    assert response["statusCode"] == 200
    assert "/v2/predict/batch" in json.loads(response["body"])["paths"]
