"""Per-request metrics, collected while serving and published once, as one EMF document.

Collecting into a plain object and publishing at the end keeps requests apart (the local
server interleaves requests of both versions). Namespace and service name are the ones the
jobs' Powertools ``metrics`` use (``lambda_log.NAMESPACE``, ``SERVICE``), so every EMF document agrees.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from propensity.constants import ApiVersion
from propensity.lambda_log import NAMESPACE, SERVICE
from propensity.service import metric_names as names
from propensity.service.settings import MetricsFlush

UNLOADED_MODEL = "none"


@dataclass
class RequestMetrics:
    """Everything one request contributes to the metrics."""

    api_version: ApiVersion
    model_version: str = UNLOADED_MODEL
    phases_ms: dict[str, float] = field(default_factory=dict)
    predictions: int = 0
    probability_sum: float = 0.0
    decisions: Counter[str] = field(default_factory=Counter)
    invalid_fields: Counter[str] = field(default_factory=Counter)
    unknown_categories: Counter[str] = field(default_factory=Counter)
    invalid_records: int = 0
    batch_size: int | None = None
    rejected: str | None = None
    server_error: bool = False
    consumer: str = "unknown"  # v1 only: the V1Calls metric's Consumer dimension (bounded)

    def scored(self, probabilities: Sequence[float], decisions: Iterable[str]) -> None:
        """Record the scored records of this request."""
        self.predictions += len(probabilities)
        self.probability_sum += float(math.fsum(probabilities))
        self.decisions.update(decisions)

    def invalid(self, fields: Iterable[str]) -> None:
        """Record offending fields (already mapped to ``metric_names.VALIDATION_FIELDS``)."""
        self.invalid_fields.update(fields)


class Telemetry:
    """Writes each request's ``RequestMetrics`` as one EMF document on stdout.

    The document is written here rather than through Powertools' ``Metrics``: the same JSON
    in a fraction of the time (Powertools validates each ``add_metric``; 12 of them cost
    0.8 ms of a 1.35 ms request, docs/performance.md). Only what the alarms and the
    dashboard read is published on the success path: the four phase latencies,
    ``Predictions``, the decision that was counted (a zero is not written: ``SUM`` over a
    period treats it alike) and ``ProbabilitySum``.
    Errors add their counts. The first document of an environment carries ``ColdStart``.
    A v1 call also writes a small document of its own, ``V1Calls`` by ``Consumer``.

    ``invocation`` and ``request`` both write at the end of the request (a Lambda invocation
    is one request); ``off`` records nothing (local runs with no CloudWatch to read it).
    """

    def __init__(self, flush: MetricsFlush, stream: TextIO | None = None) -> None:
        self.flush = flush
        self._stream = stream
        self._cold = True

    def publish(self, request: RequestMetrics) -> None:
        if self.flush == "off":
            return
        if request.api_version == "v1":
            self._write_v1_call(request.consumer)
        values: dict[str, float] = {names.PHASE_LATENCY[p]: round(v, 3) for p, v in request.phases_ms.items()}
        units = dict.fromkeys(values, _MS)
        counts: dict[str, float] = {}
        if self._cold:
            counts[names.COLD_START] = 1
            self._cold = False
        if request.rejected is not None:
            counts[names.REJECTED_REQUESTS] = 1
            counts[names.rejected_metric(request.rejected)] = 1
        if request.server_error:
            counts[names.SERVER_ERRORS] = 1
        if request.invalid_fields:
            counts[names.VALIDATION_ERRORS] = sum(request.invalid_fields.values())
            for name, n in request.invalid_fields.items():
                counts[names.validation_error_metric(name)] = n
        if request.invalid_records:
            counts[names.INVALID_RECORDS] = request.invalid_records
        if request.unknown_categories:
            counts[names.UNKNOWN_CATEGORIES] = sum(request.unknown_categories.values())
            for name, n in request.unknown_categories.items():
                counts[names.unknown_category_metric(name)] = n
        if request.batch_size is not None:
            counts[names.BATCH_SIZE] = request.batch_size
        if request.predictions:
            counts[names.PREDICTIONS] = request.predictions
            for decision, n in request.decisions.items():
                if n:
                    counts[names.DECISION_COUNT[decision]] = n
        values.update(counts)
        units.update(dict.fromkeys(counts, _COUNT))
        if request.predictions:
            values[names.PROBABILITY_SUM] = request.probability_sum
            units[names.PROBABILITY_SUM] = _NONE
        self._write(request, values, units)

    def _write(self, request: RequestMetrics, values: dict[str, float], units: dict[str, str]) -> None:
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": _DIMENSIONS,
                        "Metrics": [{"Name": name, "Unit": unit} for name, unit in units.items()],
                    }
                ],
            },
            "service": SERVICE,
            names.DIMENSION_API: request.api_version,
            names.DIMENSION_MODEL: request.model_version,
            **values,
        }
        stream = self._stream or sys.stdout  # looked up late: tests and runners swap stdout
        stream.write(_encode(document) + "\n")

    def _write_v1_call(self, consumer: str) -> None:
        # A document of its own: Consumer must not become a dimension of every other metric.
        document = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": NAMESPACE,
                        "Dimensions": [[names.DIMENSION_CONSUMER]],
                        "Metrics": [{"Name": names.V1_CALLS, "Unit": _COUNT}],
                    }
                ],
            },
            names.DIMENSION_CONSUMER: consumer,
            names.V1_CALLS: 1,
        }
        stream = self._stream or sys.stdout
        stream.write(_encode(document) + "\n")


_MS: Final = "Milliseconds"
_COUNT: Final = "Count"
_NONE: Final = "None"
_DIMENSIONS: Final = [["service"], [names.DIMENSION_API], [names.DIMENSION_API, names.DIMENSION_MODEL]]
_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
