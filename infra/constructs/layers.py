"""The two layers every Python function here uses: third-party runtime dependencies and the domain library.

Both are built without Docker by ``infra.packaging`` (cached by content hash). Layers belong to
one stack, so another stack calls ``shared_layers(self)`` to get its own two LayerVersions from
the same asset folders (same asset hash, so they are uploaded once).
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.constructs.lambda_function import RUNTIME
from infra.packaging import COMPLETE_MARKER, domain_layer_dir, runtime_layer_dir

ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


def lambda_architecture(name: str) -> lambda_.Architecture:
    """The CDK architecture for a config value (``arm64`` or ``x86_64``)."""
    return ARCHITECTURES[name]


class SharedLayers(Construct):
    """``runtime`` (requirements/runtime.txt) and ``domain`` (the propensity library) LayerVersions."""

    def __init__(self, scope: Construct, construct_id: str, *, architecture: str = "arm64") -> None:
        super().__init__(scope, construct_id)
        arch = lambda_architecture(architecture)
        self.runtime = lambda_.LayerVersion(
            self,
            "Runtime",
            code=lambda_.Code.from_asset(str(runtime_layer_dir(architecture)), exclude=[COMPLETE_MARKER]),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[arch],
            description=f"Third-party runtime dependencies (requirements/runtime.txt), {RUNTIME.name} "
            f"{architecture}",
        )
        self.domain = lambda_.LayerVersion(
            self,
            "Domain",
            code=lambda_.Code.from_asset(str(domain_layer_dir()), exclude=[COMPLETE_MARKER]),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[arch],
            description="The propensity domain library (layers/domain/propensity)",
        )

    @property
    def layers(self) -> list[lambda_.ILayerVersion]:
        return [self.runtime, self.domain]


def shared_layers(
    scope: Construct, *, architecture: str = "arm64", construct_id: str = "SharedLayers"
) -> list[lambda_.ILayerVersion]:
    """The runtime and domain layers, built inside ``scope``'s stack: ``[runtime, domain]``."""
    return SharedLayers(scope, construct_id, architecture=architecture).layers
