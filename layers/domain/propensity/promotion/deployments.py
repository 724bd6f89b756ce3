"""Stop a CodeDeploy rollout that is still shifting ``live``, so it cannot undo a manual rollback.

During a canary CodeDeploy moves the alias again when the canary interval ends; a rollback
made meanwhile would be overwritten minutes later. The rollback therefore stops in-flight
deployments of the function's deployment group (without CodeDeploy's own rollback: the
rollback command sets the alias itself).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

# CodeDeploy statuses of a deployment that may still move the alias.
IN_FLIGHT = ("Created", "Queued", "InProgress", "Baking", "Ready")
# How infra names them (infra/constructs/prediction.py): application = function name,
# deployment group = "<function>-<alias>".
DEPLOYMENT_GROUP_NAME = "{function}-{alias}"


class Deployments(ABC):
    """The CodeDeploy calls a rollback needs."""

    @abstractmethod
    def stop_in_flight(self, function: str, alias: str) -> list[str]:
        """Stop every in-flight deployment of the function's alias; returns their ids."""


class Boto3Deployments(Deployments):
    """CodeDeploy through a boto3 client."""

    def __init__(self, client: Any | None = None, region: str | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("codedeploy", region_name=region)
        self.client = client

    def stop_in_flight(self, function: str, alias: str) -> list[str]:
        group = DEPLOYMENT_GROUP_NAME.format(function=function, alias=alias)
        stopped = []
        paginator = self.client.get_paginator("list_deployments")
        pages = paginator.paginate(
            applicationName=function, deploymentGroupName=group, includeOnlyStatuses=list(IN_FLIGHT)
        )
        for page in pages:
            for deployment_id in page.get("deployments", []):
                self.client.stop_deployment(deploymentId=deployment_id, autoRollbackEnabled=False)
                stopped.append(str(deployment_id))
        return stopped
