"""The bad-input tables: every shape of wrong event each entry point may receive.

One source for the tests (tests/unit/test_bad_events.py, tests/integration/test_bad_events_handlers.py)
and for the counts in docs/reliability.md (``python -m tests.bad_inputs`` prints them).
Each row is (name, event); the tests say what must happen to it.
"""

from __future__ import annotations

import json
from typing import Any

from tests.events import (
    api_gateway_event,
    cloudwatch_logs_event,
    codedeploy_hook_event,
    s3_event,
    scheduled_event,
    sns_event,
)

BUCKET = "propensity-test-archive"
HUGE = "x" * 300_000

# Events that are not a JSON object, or are objects of no known shape: every function refuses them.
COMMON: list[tuple[str, Any]] = [
    ("empty object", {}),
    ("null", None),
    ("a list", [1, 2, 3]),
    ("a string", "hello"),
    ("a number", 42),
    ("API Gateway request", api_gateway_event("POST", "/v1/predict", {"age": 40})),
    ("CloudWatch Logs subscription", cloudwatch_logs_event(["{}"])),
    ("SQS batch", {"Records": [{"eventSource": "aws:sqs", "body": "{}", "messageId": "m-1"}]}),
    ("oversized unknown object", {"junk": HUGE, **{f"k{i}": i for i in range(1000)}}),
]

# Wrong shapes of the S3 notification (labels, shadow).
S3_SHAPES: list[tuple[str, Any]] = [
    ("Records not a list", {"Records": "s3"}),
    ("Records empty", {"Records": []}),
    ("record is null", {"Records": [None]}),
    ("record without s3", {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put"}]}),
    (
        "s3 without object",
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": BUCKET}},
                }
            ]
        },
    ),
    (
        "key is a number",
        {
            "Records": [
                {
                    "eventSource": "aws:s3",
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": BUCKET}, "object": {"key": 7}},
                }
            ]
        },
    ),
    ("SNS event into an S3 function", sns_event({"AlarmName": "x"})),
    ("EventBridge schedule into an S3 function", scheduled_event()),
    ("key over S3's 1024 bytes", s3_event(BUCKET, ["labels/" + "a" * 4000 + ".csv"])),
]
# S3 notifications that are well formed but must not lead anywhere harmful (accepted, ignored or per-key failures).
S3_HOSTILE: list[tuple[str, Any]] = [
    ("another bucket", s3_event("someone-elses-bucket", ["labels/a.csv"])),
    ("path traversal key", s3_event(BUCKET, ["labels/..%2F..%2Fetc%2Fpasswd.csv"])),
    ("10,000 records", s3_event(BUCKET, [f"labels/f{i}.csv" for i in range(10_000)])),
    ("not a label file", s3_event(BUCKET, ["labels/readme.txt", "predictions/2026/11/26/07/x.gz"])),
    ("s3:TestEvent", {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}),
]

# Wrong shapes for the scheduled jobs (drift, evaluate).
SCHEDULED_SHAPES: list[tuple[str, Any]] = [
    ("scheduled event without time", {k: v for k, v in scheduled_event().items() if k != "time"}),
    ("scheduled event with garbage time", {**scheduled_event(), "time": "yesterday-ish"}),
    ("scheduled event with time null", {**scheduled_event(), "time": None}),
    ("scheduled event with year 99999", {**scheduled_event(), "time": "99999-01-01T00:00:00Z"}),
    ("S3 notification into a scheduled job", s3_event(BUCKET, ["labels/a.csv"])),
    ("SNS event into a scheduled job", sns_event({"AlarmName": "x"})),
]
DRIFT_SHAPES: list[tuple[str, Any]] = [
    ("hours not a list", {"hours": "2026-11-26T10"}),
    ("hours empty", {"hours": []}),
    ("hours garbage", {"hours": ["not-an-hour"]}),
    ("hours a float", {"hours": [1e309]}),
    ("hours nested lists", {"hours": [[["2026-11-26T10"]]]}),
]
EVALUATE_SHAPES: list[tuple[str, Any]] = [
    ("start without end", {"start": "2026-11-02"}),
    ("start garbage", {"start": "soon", "end": "later"}),
    ("start null", {"start": None, "end": "2026-11-30"}),
    ("start a dict", {"start": {"$gt": ""}, "end": "2026-11-30"}),
]

# Wrong shapes of a CodeDeploy lifecycle hook (pretraffic, posttraffic).
HOOK_SHAPES: list[tuple[str, Any]] = [
    ("no execution id", {"DeploymentId": "d-ABCDEF123"}),
    ("no deployment id", {"LifecycleEventHookExecutionId": "abc"}),
    ("ids null", {"DeploymentId": None, "LifecycleEventHookExecutionId": None}),
    ("ids empty", codedeploy_hook_event("", "")),
    ("ids numbers", {"DeploymentId": 1, "LifecycleEventHookExecutionId": 2}),
    ("id 300 KB long", codedeploy_hook_event(HUGE, "abc")),
    ("EventBridge schedule into a hook", scheduled_event()),
]

# Wrong shapes of the SNS alarm notification (notify-pagerduty, notify-slack).
SNS_SHAPES: list[tuple[str, Any]] = [
    ("Records not a list", {"Records": {"Sns": {}}}),
    ("Records empty", {"Records": []}),
    ("record without Sns", {"Records": [{"EventSource": "aws:sns"}]}),
    ("Sns without Message", {"Records": [{"Sns": {"TopicArn": "arn:aws:sns:eu-west-1:1:t"}}]}),
    ("message not JSON", sns_event("ALARM!!")),
    ("message a JSON list", sns_event([1, 2])),
    ("message without state", sns_event({"AlarmName": "x", "AlarmArn": "arn"})),
    (
        "message with an unknown state",
        sns_event(
            {
                "AlarmName": "x",
                "AlarmArn": "arn",
                "NewStateValue": "ON_FIRE",
                "StateChangeTime": "2026-11-26T07:00:00.000+0000",
            }
        ),
    ),
    (
        "message with a garbage time",
        sns_event({"AlarmName": "x", "AlarmArn": "arn", "NewStateValue": "ALARM", "StateChangeTime": "noon"}),
    ),
    ("message nested 100,000 deep", sns_event("[" * 100_000 + "]" * 100_000)),
    ("message with a 5000-digit number", sns_event('{"AlarmName": ' + "9" * 5000 + "}")),
    ("EventBridge schedule into a notifier", scheduled_event()),
]

TABLES: dict[str, list[tuple[str, Any]]] = {
    "labels": COMMON + S3_SHAPES,
    "shadow": COMMON + S3_SHAPES,
    "drift": COMMON + SCHEDULED_SHAPES + DRIFT_SHAPES,
    "evaluate": COMMON + SCHEDULED_SHAPES + EVALUATE_SHAPES,
    "pretraffic": COMMON + HOOK_SHAPES,
    "posttraffic": COMMON + HOOK_SHAPES,
    "notify_pagerduty": [c for c in COMMON if c[0] != "null"] + SNS_SHAPES,
    "notify_slack": [c for c in COMMON if c[0] != "null"] + SNS_SHAPES,
}
# Events that are accepted on purpose, with what they lead to (probe and digest ignore their event).
ACCEPTED: dict[str, list[tuple[str, Any]]] = {
    "labels": S3_HOSTILE,
    "digest": COMMON + SCHEDULED_SHAPES,
    "probe": COMMON + SCHEDULED_SHAPES,
}


def ids(table: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in table]


def counts() -> dict[str, tuple[int, int]]:
    """Per entry point: (malformed events refused, odd events accepted on purpose)."""
    names = sorted(set(TABLES) | set(ACCEPTED))
    return {n: (len(TABLES.get(n, [])), len(ACCEPTED.get(n, []))) for n in names}


if __name__ == "__main__":
    print(json.dumps(counts(), indent=2))
