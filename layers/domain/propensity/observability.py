"""Powertools Logger, Metrics and Tracer of the jobs, created once and imported everywhere.

Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE
when set (each function sets its own service name; ``lambda_log`` reads them). The prediction
path (service/, functions/predict) logs through ``propensity.lambda_log`` instead: the same
JSON lines without Powertools' import (docs/performance.md, cold start).

The Tracer is created on first use (``from propensity.observability import tracer``): the
X-Ray SDK and wrapt it imports cost 170 to 300 ms of a cold start (measured, docs/performance.md),
and the prediction function, which calls nothing downstream, does not use it.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from aws_lambda_powertools import Logger, Metrics

from propensity.lambda_log import NAMESPACE, SERVICE

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

_service = SERVICE
logger = Logger(service=_service)
metrics = Metrics(namespace=NAMESPACE, service=_service)
_tracer: Tracer | None = None


def _make_tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    # Patching botocore costs 80-120 ms of cold start (measured, docs/perf-notes.md) and the
    # prediction functions never call AWS: they set TRACE_AWS_SDK=false. The jobs keep it.
    made = Tracer(service=_service, auto_patch=False)
    if os.environ.get("TRACE_AWS_SDK", "true").lower() != "false":
        made.patch(["botocore"])
    return made


def __getattr__(name: str) -> Tracer:
    global _tracer
    if name == "tracer":
        if _tracer is None:
            _tracer = _make_tracer()
        return _tracer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
