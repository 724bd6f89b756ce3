"""Model behaviour monitoring (issues 6 and 7). Placeholder until the archive constructs land."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from infra.config import StageConfig


class ModelMonitoringStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: StageConfig, service: Any,
                 monitoring: Any, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.config = config
