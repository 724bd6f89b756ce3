"""Powertools Logger, Metrics and Tracer, created once and imported everywhere.

Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE
when set (each function sets its own service name); these are the defaults.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer

from propensity.constants import METRIC_NAMESPACE, SERVICE_NAME

_service = os.environ.get("POWERTOOLS_SERVICE_NAME", SERVICE_NAME)
logger = Logger(service=_service)
_namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRIC_NAMESPACE)
metrics = Metrics(namespace=_namespace, service=_service)
# Patching botocore costs 80-120 ms of cold start (measured, docs/perf-notes.md) and the
# prediction functions never call AWS: they set TRACE_AWS_SDK=false. The jobs keep it.
tracer = Tracer(service=_service, auto_patch=False)
if os.environ.get("TRACE_AWS_SDK", "true").lower() != "false":
    tracer.patch(["botocore"])
