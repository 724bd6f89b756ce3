"""The prediction path's logger writes what Powertools' Logger writes, call for call.

Logs Insights queries, the init-failure alarm's log filter ("model load failed") and the
handler tests read these keys: each case logs the same call through both loggers (from the
same source line, so even ``location`` agrees) and compares the decoded lines; only the
timestamp is compared by format and by value within a second, as the two calls are
microseconds apart.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from aws_lambda_powertools import Logger as PowertoolsLogger
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.logging import logger as powertools_logger_module

from propensity import lambda_log
from tests.events import LambdaContext, api_gateway_event

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}[+-]\d{4}$")
TRACE = "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1"


class Pair:
    """A Powertools Logger and a ``lambda_log.Logger`` of the same service, each on its own buffer."""

    def __init__(self) -> None:
        service = f"parity-{uuid.uuid4().hex[:8]}"  # Powertools keeps one stdlib logger per name
        self.powertools_out, self.ours_out = io.StringIO(), io.StringIO()
        self.powertools = PowertoolsLogger(service=service, stream=self.powertools_out)
        self.ours = lambda_log.Logger(service=service, stream=self.ours_out)
        self.both = (self.powertools, self.ours)

    def lines(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return _decoded(self.powertools_out), _decoded(self.ours_out)


def _decoded(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def assert_same_lines(pair: Pair) -> list[dict[str, Any]]:
    theirs, ours = pair.lines()
    assert len(theirs) == len(ours) and ours
    for expected, got in zip(theirs, ours, strict=True):
        assert TIMESTAMP.match(got["timestamp"]), got["timestamp"]
        assert abs(_epoch(got["timestamp"]) - _epoch(expected["timestamp"])) < 1.5
        expected.pop("timestamp"), got.pop("timestamp")
        assert list(got) == list(expected)  # key order too: people read these lines
        assert got == expected
    return ours


def _epoch(stamp: str) -> float:
    seconds, millis = stamp[:19], stamp[20:23]
    return time.mktime(time.strptime(seconds, "%Y-%m-%d %H:%M:%S")) + int(millis) / 1000


@pytest.fixture
def pair(monkeypatch: pytest.MonkeyPatch) -> Pair:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    for name in (
        "AWS_LAMBDA_LOG_LEVEL",
        "POWERTOOLS_LOG_LEVEL",
        "LOG_LEVEL",
        "POWERTOOLS_LOGGER_SAMPLE_RATE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(powertools_logger_module, "is_cold_start", True)
    lambda_log.reset_cold_start()
    return Pair()


def handlers(pair: Pair, body: Callable[[Any], None]) -> list[Callable[[Any, Any], None]]:
    """The same handler body under each logger's ``inject_lambda_context`` (API Gateway REST id)."""

    @pair.powertools.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    def powertools_handler(event: Any, context: Any) -> None:
        body(pair.powertools)

    @pair.ours.inject_lambda_context()
    def our_handler(event: Any, context: Any) -> None:
        body(pair.ours)

    return [powertools_handler, our_handler]


def test_init_lines_outside_an_invocation(pair):
    # Given no invocation yet (the bundle load logs at init)
    # When both log a line with extra keys, a dict message, a JSON-text message and %-arguments
    for log in pair.both:
        log.info("model loaded", extra={"api_version": "v2", "model_version": "v2-x", "load_ms": 12.5})
        log.warning({"a": 1, "b": [1, 2]})
        log.info('{"already": "json"}')
        log.error("bundle %s failed: %d", "v2-x", 3, extra={"path": "/var/task/model"})
    # Then the lines are the same: service, X-Ray trace id, no Lambda keys
    lines = assert_same_lines(pair)
    assert lines[0]["xray_trace_id"] == "1-67a1b2c3-0123456789abcdef01234567"
    assert "correlation_id" not in lines[0]


def test_invocation_lines_carry_the_context_and_the_api_gateway_request_id(pair):
    # Given two invocations of a handler with each logger's Lambda context injection
    def body(log: Any) -> None:
        log.info("request invalid", extra={"status": 422, "api_version": "v1", "fields": ["age"]})
        log.warning("not an HTTP event", extra={"event_type": "list", "keys": []})

    context, later = LambdaContext(aws_request_id="aws-req-1"), LambdaContext(aws_request_id="aws-req-2")
    first = api_gateway_event("POST", "/v1/predict", {"age": 7}, request_id="req-corr-1")
    second = api_gateway_event("POST", "/v1/predict", {"age": 7}, request_id="req-corr-2")
    # When each is invoked twice (a cold start, then a warm one)
    for handler in handlers(pair, body):
        handler(first, context)
        handler(second, later)
    # Then the lines agree, with the correlation id of each request and cold_start true then false
    lines = assert_same_lines(pair)
    assert [line["correlation_id"] for line in lines] == ["req-corr-1"] * 2 + ["req-corr-2"] * 2
    assert [line["cold_start"] for line in lines] == [True, True, False, False]
    assert lines[0]["function_request_id"] == "aws-req-1"


@pytest.mark.parametrize(
    "event", [[1, 2], {"requestContext": None}, {"requestContext": {"requestId": None}}, {}, "text"]
)
def test_an_event_without_a_request_id_has_no_correlation_id(pair, event):
    def body(log: Any) -> None:
        log.info("not an HTTP event")

    context = LambdaContext()
    for handler in handlers(pair, body):
        handler(event, context)
    (line,) = assert_same_lines(pair)
    assert "correlation_id" not in line


def test_exception_lines_carry_the_traceback_and_frames(pair):
    # Given an exception being handled (with a note)
    try:
        try:
            {}["missing"]
        except KeyError as inner:
            raise ValueError("route failed") from inner
    except ValueError as error:
        error.add_note("while answering /v2/predict")
        # When both log it
        for log in pair.both:
            log.exception("unhandled error", extra={"path": "/v2/predict"})
    # Then the same exception text, name, notes and stack frames
    (line,) = assert_same_lines(pair)
    assert line["exception_name"] == "ValueError" and line["level"] == "ERROR"
    assert "KeyError" in line["exception"] and line["stack_trace"]["frames"]


def test_reserved_keys_in_extra_are_dropped_and_values_are_stringified(pair):
    for log in pair.both:
        log.info(
            "odd extras", extra={"location": "x", "timestamp": "y", "level": "z", "when": uuid.UUID(int=5)}
        )
    (line,) = assert_same_lines(pair)
    assert line["when"] == str(uuid.UUID(int=5)) and line["level"] == "INFO"


@pytest.mark.parametrize("key", ["module", "message", "name", "lineno"])
def test_an_extra_naming_a_record_attribute_raises_as_in_logging(pair, key):
    for log in pair.both:
        with pytest.raises(KeyError, match=key):
            log.info("clash", extra={key: 1})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, lambda_log.INFO),
        ({"LOG_LEVEL": "WARNING"}, lambda_log.WARNING),
        ({"LOG_LEVEL": "debug"}, lambda_log.DEBUG),
        ({"POWERTOOLS_LOG_LEVEL": "ERROR", "LOG_LEVEL": "DEBUG"}, lambda_log.ERROR),
        ({"AWS_LAMBDA_LOG_LEVEL": "WARN", "POWERTOOLS_LOG_LEVEL": "WARNING"}, lambda_log.WARNING),
        ({"AWS_LAMBDA_LOG_LEVEL": "DEBUG", "LOG_LEVEL": "INFO"}, lambda_log.DEBUG),
    ],
)
def test_the_level_follows_powertools_precedence(monkeypatch, env, expected):
    for name in ("AWS_LAMBDA_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    powertools = PowertoolsLogger(service=f"level-{uuid.uuid4().hex[:8]}", stream=io.StringIO())
    assert lambda_log.level_from_env() == expected == powertools.log_level


def test_lines_below_the_level_are_not_written(pair):
    quiet = lambda_log.Logger(service="quiet", level=lambda_log.WARNING, stream=io.StringIO())
    quiet.info("dropped")
    quiet.debug("dropped")
    quiet.warning("kept")
    assert [json.loads(line)["message"] for line in quiet.stream.getvalue().splitlines()] == ["kept"]  # type: ignore[union-attr]


def test_an_unknown_level_is_refused(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    monkeypatch.delenv("POWERTOOLS_LOG_LEVEL", raising=False)
    monkeypatch.delenv("AWS_LAMBDA_LOG_LEVEL", raising=False)
    with pytest.raises(ValueError, match="LOUD"):
        lambda_log.level_from_env()
    with pytest.raises(ValueError):
        PowertoolsLogger(service=f"loud-{uuid.uuid4().hex[:8]}", stream=io.StringIO())


def test_provisioned_concurrency_is_never_a_cold_start(pair, monkeypatch):
    monkeypatch.setenv("AWS_LAMBDA_INITIALIZATION_TYPE", "provisioned-concurrency")

    def body(log: Any) -> None:
        log.info("served")

    context, event = LambdaContext(), api_gateway_event("GET", "/health")
    for handler in handlers(pair, body):
        handler(event, context)
    (line,) = assert_same_lines(pair)
    assert line["cold_start"] is False


def test_sampling_rate_is_written_as_powertools_writes_it(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_LOGGER_SAMPLE_RATE", "0.5")
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    sampled = Pair()
    for log in sampled.both:
        log.warning("sampled")
    (line,) = assert_same_lines(sampled)
    assert line["sampling_rate"] == "0.5"


def test_the_prediction_path_does_not_import_powertools():
    # A fresh interpreter importing the service's Lambda front end and the handler's logger.
    import subprocess
    import sys

    code = (
        "import sys, propensity.lambda_log, propensity.service.lambda_api; "
        "print(sorted(m for m in sys.modules if m.startswith(('aws_lambda_powertools', 'logging', 'jmespath'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
