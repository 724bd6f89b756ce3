"""Real AWS event and context shapes, built in one place for every test suite.

Shapes follow the AWS documentation samples: API Gateway REST proxy (v1 payload format),
EventBridge scheduled event, S3 notification, CloudWatch Logs subscription (gzip + base64),
SNS notification carrying a CloudWatch alarm, CodeDeploy lifecycle hook.
"""

from __future__ import annotations

import base64
import gzip
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"
REGION = "eu-west-1"


@dataclass
class LambdaContext:
    """The attributes Powertools and Mangum read from a Lambda context."""

    function_name: str = "propensity-predict-v1"
    function_version: str = "7"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:propensity-predict-v1:live"
    log_group_name: str = "/aws/lambda/propensity-predict-v1"
    log_stream_name: str = "2026/11/26/[7]abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def api_gateway_event(
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    api_key_id: str | None = "key-crm-123",
    request_id: str | None = None,
    raw_body: str | None = None,
    stage: str = "prod",
) -> dict[str, Any]:
    """An API Gateway REST API proxy event (payload format 1.0)."""
    request_id = request_id or str(uuid.uuid4())
    all_headers = {
        "content-type": "application/json",
        "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
        "X-Forwarded-Proto": "https",
        "User-Agent": "pytest",
    }
    all_headers.update(headers or {})
    if raw_body is None and body is not None:
        raw_body = json.dumps(body)
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourceId": "abc123",
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "extendedRequestId": "Xyz=",
            "requestTime": "26/Nov/2026:07:00:00 +0000",
            "path": f"/{stage}{path}",
            "accountId": ACCOUNT,
            "protocol": "HTTP/1.1",
            "stage": stage,
            "domainPrefix": "abc123",
            "requestTimeEpoch": 1795676400000,
            "requestId": request_id,
            "identity": {
                "sourceIp": "10.0.0.1",
                "userAgent": "pytest",
                "apiKey": "redacted",
                "apiKeyId": api_key_id,
                "caller": None,
                "user": None,
                "accessKey": None,
            },
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "apiId": "abc123",
        },
        "body": raw_body,
        "isBase64Encoded": False,
    }


def scheduled_event(time: datetime | None = None, rule: str = "propensity-hourly") -> dict[str, Any]:
    """An EventBridge scheduled event."""
    moment = (time or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": moment,
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


def s3_event(bucket: str, keys: list[str], size: int = 1024) -> dict[str, Any]:
    """An S3 ObjectCreated notification for ``keys``."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-11-26T07:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:FIREHOSE"},
                "requestParameters": {"sourceIPAddress": "10.0.0.1"},
                "responseElements": {"x-amz-request-id": "C3D13FE58DE4C810", "x-amz-id-2": "FMyUVURIY8"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "archive-created",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": key,
                        "size": size,
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "sequencer": "0055AED6DCD90281E5",
                    },
                },
            }
            for key in keys
        ]
    }


def cloudwatch_logs_event(
    messages: list[str],
    log_group: str = "/aws/lambda/propensity-predict-v1",
    message_type: str = "DATA_MESSAGE",
) -> dict[str, Any]:
    """A CloudWatch Logs subscription event: gzip-compressed, base64-encoded JSON."""
    payload = {
        "messageType": message_type,
        "owner": ACCOUNT,
        "logGroup": log_group,
        "logStream": "2026/11/26/[7]abcdef",
        "subscriptionFilters": ["prediction-events"],
        "logEvents": [
            {"id": str(i), "timestamp": 1795676400000 + i, "message": m} for i, m in enumerate(messages)
        ],
    }
    data = base64.b64encode(gzip.compress(json.dumps(payload).encode())).decode()
    return {"awslogs": {"data": data}}


def alarm_state_change(
    name: str,
    new_state: str = "ALARM",
    old_state: str = "OK",
    *,
    reason: str = "Threshold Crossed: 1 datapoint [7.5] was greater than the threshold (5.0).",
    metric: str = "5XXError",
    namespace: str = "AWS/ApiGateway",
    threshold: float = 5.0,
    description: str = "critical: 5xx rate over 5% for 5 minutes. Runbook: RUNBOOK.md#api-5xx-critical",
) -> dict[str, Any]:
    """The JSON CloudWatch publishes to SNS when an alarm changes state."""
    return {
        "AlarmName": name,
        "AlarmDescription": description,
        "AWSAccountId": ACCOUNT,
        "AlarmConfigurationUpdatedTimestamp": "2026-11-26T06:00:00.000+0000",
        "NewStateValue": new_state,
        "NewStateReason": reason,
        "StateChangeTime": "2026-11-26T07:00:00.000+0000",
        "Region": "EU (Ireland)",
        "AlarmArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}",
        "OldStateValue": old_state,
        "OKActions": [],
        "AlarmActions": [],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": metric,
            "Namespace": namespace,
            "StatisticType": "Statistic",
            "Statistic": "AVERAGE",
            "Unit": None,
            "Dimensions": [{"name": "ApiName", "value": "propensity"}],
            "Period": 60,
            "EvaluationPeriods": 5,
            "DatapointsToAlarm": 5,
            "ComparisonOperator": "GreaterThanThreshold",
            "Threshold": threshold,
            "TreatMissingData": "notBreaching",
            "EvaluateLowSampleCountPercentile": "",
        },
    }


def sns_event(message: Any, topic: str = "propensity-critical") -> dict[str, Any]:
    """An SNS notification event as Lambda receives it."""
    body = message if isinstance(message, str) else json.dumps(message)
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
                "Sns": {
                    "Type": "Notification",
                    "MessageId": str(uuid.uuid4()),
                    "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}",
                    "Subject": "ALARM",
                    "Message": body,
                    "Timestamp": "2026-11-26T07:00:00.000Z",
                    "SignatureVersion": "1",
                    "Signature": "EXAMPLE",
                    "SigningCertUrl": "https://sns.example/cert.pem",
                    "UnsubscribeUrl": "https://sns.example/unsubscribe",
                    "MessageAttributes": {},
                },
            }
        ]
    }


def codedeploy_hook_event(
    deployment_id: str = "d-ABCDEF123", execution_id: str = "eyJkZXBsb3ltZW50SWQiOiJkLUFCQ0RFRjEyMyJ9"
) -> dict[str, Any]:
    """A CodeDeploy lifecycle hook invocation (BeforeAllowTraffic / AfterAllowTraffic)."""
    return {"DeploymentId": deployment_id, "LifecycleEventHookExecutionId": execution_id}
