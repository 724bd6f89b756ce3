"""The few Lambda calls a rollback needs, behind a small interface (boto3 in one implementation)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AliasState:
    """Where an alias points: its main version and any weighted extra version (a canary)."""

    version: str
    extra_weights: dict[str, float] = field(default_factory=dict)


class LambdaVersions(ABC):
    """Read a function's published versions and aliases; move an alias."""

    @abstractmethod
    def alias(self, function: str, alias: str) -> AliasState:
        """The alias's current routing."""

    @abstractmethod
    def versions(self, function: str) -> dict[str, str]:
        """Published versions (not ``$LATEST``) and their descriptions."""

    @abstractmethod
    def point_alias(self, function: str, alias: str, version: str, description: str) -> AliasState:
        """Send all of the alias's traffic to ``version`` at once (removing any weighted routing)."""


class Boto3LambdaVersions(LambdaVersions):
    """The Lambda API through a boto3 client."""

    def __init__(self, client: Any | None = None, region: str | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("lambda", region_name=region)
        self.client = client

    def alias(self, function: str, alias: str) -> AliasState:
        response = self.client.get_alias(FunctionName=function, Name=alias)
        return _state(response)

    def versions(self, function: str) -> dict[str, str]:
        result: dict[str, str] = {}
        paginator = self.client.get_paginator("list_versions_by_function")
        for page in paginator.paginate(FunctionName=function):
            for item in page.get("Versions", []):
                if item["Version"] != "$LATEST":
                    result[item["Version"]] = item.get("Description", "")
        return result

    def point_alias(self, function: str, alias: str, version: str, description: str) -> AliasState:
        response = self.client.update_alias(
            FunctionName=function,
            Name=alias,
            FunctionVersion=version,
            Description=description[:256],  # the API's limit
            RoutingConfig={"AdditionalVersionWeights": {}},
        )
        return _state(response)


def _state(response: dict[str, Any]) -> AliasState:
    weights = (response.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return AliasState(
        version=str(response["FunctionVersion"]), extra_weights={k: float(v) for k, v in weights.items()}
    )
