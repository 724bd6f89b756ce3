"""Every event-driven entry point against the bad-input tables (tests/bad_inputs.py).

What the handler does with its event is tested here through the exact call the handler makes
(``parse_event(<parser>, event, function=...)``; a test below checks each handler makes it).
A malformed event must raise the one typed error, with its reason, so the invocation fails
into the retry and dead-letter path: never a ``KeyError``, ``TypeError`` or crash.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from propensity.alerting.alarm import AlarmMessageError, alarms_from_sns_event
from propensity.alerting.send_digest import window_end
from propensity.archive.store import LocalArchiveStore
from propensity.boundary import BadEventError, codedeploy_hook_ids, parse_event
from propensity.drift.runtime import DriftRequest
from propensity.evaluation.runtime import EvaluationRequest
from propensity.labels.runtime import IngestionFailedError, LabelSettings, ingest_keys, keys_from_s3_event
from propensity.shadow.runtime import archive_keys
from tests.bad_inputs import ACCEPTED, BUCKET, TABLES, ids

ROOT = Path(__file__).resolve().parents[2]
LABELS = LabelSettings(archive_location=f"s3://{BUCKET}")
PARSERS = {
    "labels": lambda e: keys_from_s3_event(e, LABELS),
    "shadow": archive_keys,
    "drift": DriftRequest.from_event,
    "evaluate": EvaluationRequest.from_event,
    "pretraffic": codedeploy_hook_ids,
    "posttraffic": codedeploy_hook_ids,
}
# The parser call each handler makes, as written in its source.
HANDLER_CALLS = {
    "labels": "parse_event(lambda e: keys_from_s3_event(e, SETTINGS), event",
    "shadow": "parse_event(archive_keys, event",
    "drift": "parse_event(DriftRequest.from_event, event",
    "evaluate": "parse_event(EvaluationRequest.from_event, event",
    "pretraffic": "parse_event(codedeploy_hook_ids, event",
    "posttraffic": "parse_event(codedeploy_hook_ids, event",
}
ROWS = [(function, name, event) for function in PARSERS for name, event in TABLES[function]]

# Shapes a lenient parser may accept rather than refuse: what it must then return.
LENIENT_EMPTY = {
    # shadow ignores records that are not ObjectCreated from S3 (another trigger's records)
    ("shadow", "empty object"),
    ("shadow", "oversized unknown object"),
    ("shadow", "Records empty"),
    ("shadow", "SNS event into an S3 function"),
    ("shadow", "EventBridge schedule into an S3 function"),
    ("shadow", "API Gateway request"),
    ("shadow", "CloudWatch Logs subscription"),
    ("shadow", "SQS batch"),
    ("shadow", "key over S3's 1024 bytes"),  # not under predictions/: ignored
}


@pytest.mark.parametrize(("function", "name", "event"), ROWS, ids=[f"{f}: {n}" for f, n, _ in ROWS])
def test_a_malformed_event_is_one_typed_error_with_its_reason(function, name, event, caplog):
    # When the handler's parser meets the event
    if (function, name) in LENIENT_EMPTY:
        # (shadow only) it is read as "nothing to do": no key, no crash
        assert parse_event(PARSERS[function], event, function=function) == []
        return
    with pytest.raises(BadEventError) as raised:
        parse_event(PARSERS[function], event, function=function)
    # Then it is refused with the function's name and a reason, logged as one line
    assert str(raised.value).startswith(f"{function}: unusable event: ") and raised.value.reason
    assert "unusable event" in caplog.text


@pytest.mark.parametrize("function", sorted(HANDLER_CALLS))
def test_each_handler_parses_its_event_at_the_boundary(function):
    source = (ROOT / "functions" / function / f"{function}_handler.py").read_text()
    assert HANDLER_CALLS[function] in source


@pytest.mark.parametrize(("name", "event"), TABLES["notify_pagerduty"], ids=ids(TABLES["notify_pagerduty"]))
def test_a_notifier_refuses_what_is_not_an_alarm_with_one_typed_error(name, event):
    # AlarmMessageError is what handle_alarm_event logs, counts and re-raises (-> the alert DLQ)
    with pytest.raises(AlarmMessageError):
        alarms_from_sns_event(event)


@pytest.mark.parametrize(("name", "event"), ACCEPTED["digest"], ids=ids(ACCEPTED["digest"]))
def test_the_digest_reads_any_event_as_a_window_ending_on_the_hour(name, event):
    # The digest summarises "the last 24 hours": an unreadable event time falls back to now
    end = window_end(event, now=datetime(2026, 11, 26, 8, 17, tzinfo=UTC))
    assert end.tzinfo is not None and (end.minute, end.second) == (0, 0)
    assert end.year in (2026, 2025)  # never year 99999 or 1970


@pytest.mark.parametrize(("name", "event"), ACCEPTED["labels"], ids=ids(ACCEPTED["labels"]))
def test_hostile_but_well_formed_notifications_touch_nothing_outside_labels(name, event, tmp_path):
    # Given an archive with nothing in it but a file outside the archive folder
    store = LocalArchiveStore(tmp_path / "archive")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd.csv").write_text("prediction_id,outcome,outcome_date\nroot,yes,2026-01-01\n")
    # When the notification is read and its keys ingested
    keys = parse_event(lambda e: keys_from_s3_event(e, LABELS), event, function="labels")
    if name == "path traversal key":
        # a key escaping the store fails that key only, loudly (-> retries, then the DLQ)
        with pytest.raises(IngestionFailedError, match="escapes the store"):
            ingest_keys(store, keys)
        results = []
    else:
        results = ingest_keys(store, keys)
    # Then nothing was ingested (no such file under labels/) and nothing outside was read
    assert results == []
    assert not (tmp_path / "archive" / "outcomes").exists()
