"""Identities of the operational metrics: where each figure the digest reports comes from.

The digest reads these; the alarm catalogue and the dashboard (infra) build their CloudWatch
metrics from the same names, so a renamed metric cannot leave one of them watching nothing.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import BaseModel, ConfigDict, Field

from propensity.alerting.tiers import Tier
from propensity.constants import METRIC_NAMESPACE, ApiVersion

API_GATEWAY: Final[str] = "AWS/ApiGateway"
LAMBDA: Final[str] = "AWS/Lambda"
SQS: Final[str] = "AWS/SQS"

# API Gateway REST metrics (per API and stage)
API_REQUESTS: Final[str] = "Count"
API_4XX: Final[str] = "4XXError"
API_5XX: Final[str] = "5XXError"
API_LATENCY: Final[str] = "Latency"
API_INTEGRATION_LATENCY: Final[str] = "IntegrationLatency"
# Lambda metrics (per function)
LAMBDA_INVOCATIONS: Final[str] = "Invocations"
LAMBDA_ERRORS: Final[str] = "Errors"
LAMBDA_THROTTLES: Final[str] = "Throttles"
LAMBDA_CONCURRENCY: Final[str] = "ConcurrentExecutions"
LAMBDA_DURATION: Final[str] = "Duration"
# Metrics extracted from the prediction functions' own log lines by metric filters (infra).
# Metric filters cannot set a fixed dimension, so the function's name is part of the metric name.
INIT_FAILURES: Final[str] = "InitFailures"
MAX_MEMORY_USED: Final[str] = "MaxMemoryUsedMB"
# HTTP 422 answers counted from the API access log (per API, name suffixed likewise).
API_422: Final[str] = "Http422"
SQS_VISIBLE: Final[str] = "ApproximateNumberOfMessagesVisible"


class MetricId(BaseModel):
    """One CloudWatch metric and the statistic a figure reads from it."""

    model_config = ConfigDict(frozen=True)

    namespace: str
    name: str
    dimensions: dict[str, str] = Field(default_factory=dict)
    stat: str = "Sum"


class Deployment(BaseModel):
    """What one stage deployed, by the names CloudWatch knows it by."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    stage: Annotated[str, Field(min_length=1)]
    api_name: Annotated[str, Field(min_length=1)]
    api_stage: Annotated[str, Field(min_length=1)]
    functions: dict[ApiVersion, str]
    model_versions: dict[ApiVersion, str] = Field(default_factory=dict)
    probe_service: str | None = None
    tier_topics: dict[Tier, str] = Field(default_factory=dict)
    namespace: str = METRIC_NAMESPACE

    def api(self, name: str, stat: str = "Sum") -> MetricId:
        return MetricId(
            namespace=API_GATEWAY,
            name=name,
            stat=stat,
            dimensions={"ApiName": self.api_name, "Stage": self.api_stage},
        )

    def function(self, api: ApiVersion, name: str, stat: str = "Sum") -> MetricId:
        return MetricId(
            namespace=LAMBDA, name=name, stat=stat, dimensions={"FunctionName": self.functions[api]}
        )

    def custom(self, name: str, dimensions: dict[str, str], stat: str = "Sum") -> MetricId:
        return MetricId(namespace=self.namespace, name=name, stat=stat, dimensions=dimensions)

    def log_metric(self, name: str, source: str, stat: str = "Sum") -> MetricId:
        """A metric extracted from ``source``'s log lines by a metric filter (no dimensions)."""
        return MetricId(namespace=self.namespace, name=f"{name}-{source}", stat=stat)

    def queue(self, queue_name: str, name: str = SQS_VISIBLE, stat: str = "Maximum") -> MetricId:
        return MetricId(namespace=SQS, name=name, stat=stat, dimensions={"QueueName": queue_name})
