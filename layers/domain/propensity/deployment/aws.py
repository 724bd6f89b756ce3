"""boto3 implementations of the hook ports (Lambda invoke, CodeDeploy get/put)."""

from __future__ import annotations

import json
from typing import Any

from propensity.deployment.ports import (
    DeploymentService,
    DeploymentTarget,
    FunctionInvoker,
    HookStatus,
    Invocation,
)


class LambdaInvoker(FunctionInvoker):
    """``lambda:InvokeFunction`` (RequestResponse) over a boto3 Lambda client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def invoke(self, function_name: str, qualifier: str, event: dict[str, Any]) -> Invocation:
        response = self.client.invoke(
            FunctionName=function_name,
            Qualifier=qualifier,
            InvocationType="RequestResponse",
            Payload=json.dumps(event).encode(),
        )
        raw = response["Payload"].read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = raw.decode(errors="replace")
        return Invocation(
            status_code=int(response.get("StatusCode", 0)),
            payload=payload,
            function_error=response.get("FunctionError"),
        )


class CodeDeployService(DeploymentService):
    """``codedeploy:GetDeployment`` and ``PutLifecycleEventHookExecutionStatus`` over a boto3 client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def target(self, deployment_id: str) -> DeploymentTarget:
        deployment = self.client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
        revision = deployment.get("revision") or {}
        content = (revision.get("appSpecContent") or {}).get("content") or (revision.get("string") or {}).get(
            "content"
        )
        if not content:
            raise ValueError(f"deployment {deployment_id} carries no AppSpec content")
        return parse_app_spec(content)

    def report(self, deployment_id: str, execution_id: str, status: HookStatus) -> None:
        self.client.put_lifecycle_event_hook_execution_status(
            deploymentId=deployment_id, lifecycleEventHookExecutionId=execution_id, status=status
        )


def parse_app_spec(content: str) -> DeploymentTarget:
    """The Lambda alias move an AppSpec describes (CloudFormation-driven deployments write JSON)."""
    try:
        spec = json.loads(content)
        resources = spec["Resources"]
        properties = next(iter(next(iter(resources)).values()))["Properties"]
        return DeploymentTarget(
            function_name=str(properties["Name"]),
            alias=str(properties["Alias"]),
            current_version=str(properties["CurrentVersion"]),
            target_version=str(properties["TargetVersion"]),
        )
    except (ValueError, KeyError, TypeError, StopIteration, AttributeError) as error:
        raise ValueError(f"not a Lambda AppSpec: {error!r}") from error


def aws_ports() -> tuple[DeploymentService, FunctionInvoker]:
    """The boto3-backed ports, created once per execution environment."""
    import boto3

    return CodeDeployService(boto3.client("codedeploy")), LambdaInvoker(boto3.client("lambda"))
