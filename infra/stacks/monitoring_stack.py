"""Operational monitoring (issue 5). Placeholder until the alerting constructs land."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from infra.config import StageConfig


class MonitoringStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, service: Any,
                 **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
        self.service = service
        self.topics: dict[str, Any] = {}
