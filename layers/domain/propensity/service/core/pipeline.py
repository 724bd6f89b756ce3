"""The serving steps every prediction route shares, timed per phase.

validation (content type, size, JSON, schema) -> preprocessing (flat records to the model
matrix) -> inference (trees, calibration, decision, band) -> serialization (response body).
A batch runs each step once for all its records: one matrix, one vectorised scoring call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from propensity.constants import ApiVersion
from propensity.lambda_log import logger
from propensity.model.scoring import Scores
from propensity.service.core.consumers import ConsumerDirectory, metric_label
from propensity.service.core.errors import RequestInvalidError, ServiceError
from propensity.service.core.events import EventSink
from propensity.service.core.http import Incoming, RequestInfo, request_info, utc_now
from propensity.service.core.limits import json_bytes, json_document
from propensity.service.core.rejections import RejectedRequest, RejectionSink
from propensity.service.core.runtime import ModelRuntime, ServingModel
from propensity.service.core.telemetry import RequestMetrics, Telemetry


def elapsed_ms(since: float) -> float:
    return (time.perf_counter() - since) * 1000


@dataclass(frozen=True)
class ScoredBatch:
    """Scores of flat records, with the time spent preprocessing and inferring."""

    scores: Scores
    preprocessing_ms: float
    inference_ms: float

    def probabilities(self) -> list[float]:
        result: list[float] = self.scores.probability.tolist()
        return result

    def decisions(self) -> list[str]:
        return [_DECISIONS[d] for d in self.scores.decision.tolist()]

    def bands(self) -> list[str]:
        result: list[str] = self.scores.confidence.tolist()
        return result


_DECISIONS = {True: "yes", False: "no"}


class Pipeline:
    """Runtime, telemetry and event sink, shared by the routes of every API version."""

    def __init__(
        self,
        runtime: ModelRuntime,
        telemetry: Telemetry,
        events: EventSink,
        rejections: RejectionSink | None = None,
        consumers: ConsumerDirectory | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.runtime = runtime
        self.clock = clock
        self.telemetry = telemetry
        self.events = events
        self.rejections = rejections
        self.consumers = consumers

    def request_info(self, incoming: Incoming) -> RequestInfo:
        """Request id, consumer name (through this deployment's directory) and synthetic flag."""
        return request_info(incoming, self.consumers, self.clock)

    def _reject(self, api_version: ApiVersion, info: RequestInfo | None, error: ServiceError) -> None:
        """A refused v1 call leaves a RejectedRequest (usage by consumer counts it)."""
        if (
            api_version == "v1"
            and info is not None
            and self.rejections is not None
            and error.status_code < 500
        ):
            fields = error.fields if isinstance(error, RequestInvalidError) else []
            self.rejections.emit(
                RejectedRequest(
                    request_id=info.request_id,
                    timestamp=info.received_at,
                    api_version=api_version,
                    consumer=info.consumer,
                    status=error.status_code,
                    reason=error.reason,
                    fields=fields,
                )
            )

    @contextmanager
    def observe(
        self, api_version: ApiVersion, scoring: bool = True, info: RequestInfo | None = None
    ) -> Iterator[RequestMetrics]:
        """Metrics of one request: errors are recorded on the way out, then everything is published.

        Routes that do not score (validate, translate) are logged like the others but publish
        no metrics: consumers testing their migration must not move the serving figures.
        ``info`` names the consumer (v1's ``V1Calls``) and lets a refused v1 call be recorded.
        """
        metrics = RequestMetrics(api_version, self.runtime.model_version(api_version) or "none")
        metrics.consumer = metric_label(info.consumer if info is not None else None)
        try:
            yield metrics
        except RequestInvalidError as error:
            metrics.invalid(error.fields)
            # Field names only (bounded, no values: bodies may carry personal data).
            logger.info(
                "request invalid", extra={"status": 422, "api_version": api_version, "fields": error.fields}
            )
            self._reject(api_version, info, error)
            raise
        except ServiceError as error:
            metrics.rejected = error.reason
            metrics.server_error = error.status_code >= 500
            logger.info(
                "request rejected",
                extra={"status": error.status_code, "api_version": api_version, "reason": error.reason},
            )
            self._reject(api_version, info, error)
            raise
        except Exception:
            # Unexpected: the catch-all answers 500; count it so the canary can roll back.
            metrics.server_error = True
            raise
        finally:
            if scoring:
                self.telemetry.publish(metrics)

    def model(self, api_version: ApiVersion) -> ServingModel:
        return self.runtime.require(api_version)

    @staticmethod
    def json_body(incoming: Incoming, limit: int) -> Any:
        """The parsed JSON body, after the content type, size, syntax, depth and key checks."""
        return json_document(incoming, limit)

    @staticmethod
    def json_bytes(incoming: Incoming, limit: int) -> bytes:
        """The body, after the content type and size checks; ``limits.parse_json`` parses it."""
        return json_bytes(incoming, limit)

    @staticmethod
    def score(
        served: ServingModel, names: Sequence[str], records: Sequence[Mapping[str, Any]]
    ) -> ScoredBatch:
        """Score flat records in one vectorised pass (``ScoringModel.score``, timed in two halves)."""
        return Pipeline.score_columns(served, {name: [record[name] for record in records] for name in names})

    @staticmethod
    def score_columns(served: ServingModel, columns: Mapping[str, Sequence[Any]]) -> ScoredBatch:
        """Score flat records given as columns (flat name -> values) in one vectorised pass."""
        started = time.perf_counter()
        matrix = served.model.matrix(columns)  # type: ignore[arg-type]
        preprocessed = time.perf_counter()
        scores = served.model.decide(served.model.probability(matrix))
        done = time.perf_counter()
        return ScoredBatch(scores, (preprocessed - started) * 1000, (done - preprocessed) * 1000)
