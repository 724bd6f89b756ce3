"""The two things a lifecycle hook needs from AWS, as small interfaces.

``aws`` implements them with boto3; tests use those implementations over a botocore Stubber,
or in-process fakes. The hook logic never imports boto3.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Literal

HookStatus = Literal["Succeeded", "Failed"]


@dataclass(frozen=True)
class DeploymentTarget:
    """What a Lambda deployment moves: ``alias`` of ``function_name``, between two versions."""

    function_name: str
    alias: str
    current_version: str
    target_version: str


@dataclass(frozen=True)
class Invocation:
    """A synchronous invocation's outcome: the payload, and Lambda's error marker when the function failed."""

    status_code: int
    payload: Any
    function_error: str | None = None


class FunctionInvoker(ABC):
    """Invokes a function version or alias synchronously with a JSON event."""

    @abstractmethod
    def invoke(self, function_name: str, qualifier: str, event: dict[str, Any]) -> Invocation:
        """The invocation's outcome (raises only when the call itself could not be made)."""


class DeploymentService(ABC):
    """Reads a deployment and records a hook's verdict."""

    @abstractmethod
    def target(self, deployment_id: str) -> DeploymentTarget:
        """What the deployment moves (from its AppSpec)."""

    @abstractmethod
    def report(self, deployment_id: str, execution_id: str, status: HookStatus) -> None:
        """Tell CodeDeploy whether the lifecycle hook passed."""
