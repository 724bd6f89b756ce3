"""Publishing the monitoring jobs' figures as metrics: one interface, a local and a CloudWatch backend.

The jobs publish with the window's own timestamp (an hour caught up late lands where it
belongs), which is why this uses ``PutMetricData`` rather than EMF log lines stamped "now".

Every figure is a per-window gauge (a PSI, a rate, a window's event count): read them with
Maximum or Average, never Sum. Re-publishing a re-computed window then cannot double count.
"""

from __future__ import annotations

import json
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, TextIO

from propensity.constants import METRIC_NAMESPACE

Unit = Literal["None", "Count", "Percent", "Milliseconds"]
PUT_METRIC_DATA_BATCH = 20  # the historical per-call limit; works against every endpoint and moto


@dataclass(frozen=True)
class MetricPoint:
    """One value of one metric with its dimensions and time."""

    name: str
    value: float
    timestamp: datetime
    dimensions: dict[str, str] = field(default_factory=dict)
    unit: Unit = "None"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "unit": self.unit,
            "timestamp": self.timestamp.isoformat(),
            "dimensions": self.dimensions,
        }


class MetricsPublisher(ABC):
    """Where the jobs' metrics go."""

    @abstractmethod
    def publish(self, points: Sequence[MetricPoint]) -> None:
        """Publish ``points`` (an empty sequence is a no-op)."""


class LocalMetricsPublisher(MetricsPublisher):
    """JSON lines appended to a file and/or printed, for local runs and tests."""

    def __init__(self, path: Path | None = None, stream: TextIO | None = None) -> None:
        self.path = path
        self.stream = stream
        self.published: list[MetricPoint] = []

    def publish(self, points: Sequence[MetricPoint]) -> None:
        if not points:
            return
        self.published.extend(points)
        lines = "".join(json.dumps(point.as_json()) + "\n" for point in points)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as handle:
                handle.write(lines)
        if self.stream is not None:
            self.stream.write(lines)


class StdoutMetricsPublisher(LocalMetricsPublisher):
    """Metrics printed as JSON lines."""

    def __init__(self) -> None:
        super().__init__(stream=sys.stdout)


class CloudWatchMetricsPublisher(MetricsPublisher):
    """``PutMetricData`` in the project's namespace."""

    def __init__(self, client: Any = None, namespace: str = METRIC_NAMESPACE) -> None:
        if client is None:
            import boto3

            client = boto3.client("cloudwatch")
        self.client = client
        self.namespace = namespace

    def publish(self, points: Sequence[MetricPoint]) -> None:
        data = [
            {
                "MetricName": p.name,
                "Value": float(p.value),
                "Unit": p.unit,
                "Timestamp": p.timestamp,
                "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(p.dimensions.items())],
            }
            for p in points
        ]
        for start in range(0, len(data), PUT_METRIC_DATA_BATCH):
            self.client.put_metric_data(
                Namespace=self.namespace, MetricData=data[start : start + PUT_METRIC_DATA_BATCH]
            )
