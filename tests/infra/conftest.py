"""Infrastructure fixtures: the CDK app synthesized once per session, on models trained once.

The session's trained bundles (``trained``) are registered into a temporary registry, approved
(prod requires it) and made champion; the stage configurations from cdk.json are pointed at that
registry. Nothing new is trained, and the real ``.local/registry`` is never touched.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from infra.app import build_app
from infra.config import ModelPin, StageConfig, load_stage_config
from infra.constructs.nag import add_nag_checks
from infra.stacks.service_stack import ServiceStack
from propensity.constants import API_VERSIONS
from propensity.promotion.pinning import pin_for_stage
from propensity.promotion.workflow import approve
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = json.loads((ROOT / "cdk.json").read_text())
# The feature flags of cdk.json, so tests synthesize what `cdk synth` does.
FEATURE_FLAGS = {k: v for k, v in CDK_JSON["context"].items() if k.startswith("@")}


def stage_config(stage: str, registry: Path, **updates: Any) -> StageConfig:
    """The stage's cdk.json configuration (its s3:// registry) with synth reading ``registry`` as
    that registry's mirror and the lock file next to it."""
    config = load_stage_config(CDK_JSON["context"], stage)
    defaults = {"synth_mirror": str(registry), "lock_file": str(registry / "models.lock.json")}
    return config.model_copy(update={**defaults, **updates})


def folder_pins(config: StageConfig, registry: Path) -> dict[str, ModelPin]:
    """The stage's pins, read from a folder registry instead (no S3 registry: no shadow scorer)."""
    return {api: ModelPin(version=pin.version, registry=str(registry)) for api, pin in config.models.items()}


@dataclass
class SynthesizedApp:
    """A synthesized app: its stacks, cloud assembly and (lazily) their templates."""

    config: StageConfig
    stacks: dict[str, cdk.Stack]
    assembly: Any
    _templates: dict[str, Template] = field(default_factory=dict)

    def artifact(self, key: str) -> Any:
        return self.assembly.get_stack_artifact(self.stacks[key].artifact_id)

    def template(self, key: str) -> Template:
        if key not in self._templates:
            self._templates[key] = Template.from_json(self.artifact(key).template)
        return self._templates[key]

    def template_file(self, key: str) -> Path:
        return Path(self.artifact(key).template_full_path)

    def errors(self, key: str) -> list[str]:
        """Error annotations (cdk-nag findings included) of one stack: ``"<path>: <message>"``."""
        return [
            f"{message.id}: {message.entry.data}"
            for message in self.artifact(key).messages
            if str(message.level.value).lower() == "error"
        ]


@pytest.fixture(scope="session")
def infra_registry(trained, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding the session's v1 and v2 bundles, champion, approved and pinned for prod
    in its ``models.lock.json``, as the documented steps leave it."""
    root = tmp_path_factory.mktemp("infra-registry")
    registry = Registry(LocalBlobStore(root / "registry"))
    for api in API_VERSIONS:
        manifest = registry.register(trained[api].bundle_path)
        registry.set_alias(
            api, "champion", manifest.model_version, reason="infrastructure tests", actor="pytest"
        )
        approve(registry, api, manifest.model_version, approver="pytest", note="infrastructure tests")
        pin_for_stage(
            registry,
            root / "registry" / "models.lock.json",
            ROOT / "cdk.json",
            "prod",
            api,
            manifest.model_version,
            reason="infrastructure tests",
        )
    return root / "registry"


def _synth(app: cdk.App, config: StageConfig, stacks: dict[str, cdk.Stack]) -> SynthesizedApp:
    return SynthesizedApp(config=config, stacks=stacks, assembly=app.synth())


@pytest.fixture(scope="session")
def prod_app(infra_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """Every stack of the prod stage (canary deployments, approval required), synthesized once."""
    config = stage_config("prod", infra_registry)
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk-prod")), context=FEATURE_FLAGS)
    return _synth(app, config, dict(build_app(app, config)))


@pytest.fixture(scope="session")
def dev_service(infra_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedApp:
    """The dev stage's ServiceStack alone (all-at-once deployments, no approval needed)."""
    config = stage_config("dev", infra_registry)
    app = cdk.App(outdir=str(tmp_path_factory.mktemp("cdk-dev")), context=FEATURE_FLAGS)
    env = cdk.Environment(account=config.account, region=config.region)
    service = ServiceStack(app, "Propensity-dev-Service", config=config, env=env)
    add_nag_checks(service)
    return _synth(app, config, {"service": service})
