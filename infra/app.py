"""The CDK app: `cdk synth -c stage=dev|prod`. Thin stacks, one construct per capability.

Stacks, in dependency order:
  RegistryStack         the stage's model registry: versioned KMS bucket, record-signing key
  ServiceStack          API Gateway, prediction functions (v1, v2) with `live` aliases,
                        CodeDeploy canaries with their hooks and rollback alarms
  MonitoringStack       SNS tiers, PagerDuty/Slack notifiers, digest, probe, operational alarms, dashboard
  ModelMonitoringStack  prediction archive (Firehose -> S3, Glue), drift, shadow, evaluation
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# cdk.json runs `python -m infra.app` from the repo root. Run as a script instead, Python would put
# infra/ first on sys.path, where infra/constructs would shadow the `constructs` library.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "infra"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aws_cdk as cdk  # noqa: E402

from infra.config import StageConfig, load_stage_config  # noqa: E402
from infra.constructs.nag import add_nag_checks  # noqa: E402
from infra.packaging import PackagingError  # noqa: E402
from infra.stacks.model_monitoring_stack import ModelMonitoringStack  # noqa: E402
from infra.stacks.monitoring_stack import MonitoringStack  # noqa: E402
from infra.stacks.registry_stack import RegistryStack  # noqa: E402
from infra.stacks.service_stack import ServiceStack  # noqa: E402


def build_app(app: cdk.App, config: StageConfig) -> dict[str, cdk.Stack]:
    """Add every stack of one stage to ``app`` (also used by the infrastructure tests)."""
    env = cdk.Environment(account=config.account, region=config.region)
    prefix = f"Propensity-{config.stage}"
    registry = (
        RegistryStack(app, f"{prefix}-Registry", config=config, env=env) if config.registry.deploy else None
    )
    service = ServiceStack(app, f"{prefix}-Service", config=config, registry_stack=registry, env=env)
    monitoring = MonitoringStack(app, f"{prefix}-Monitoring", config=config, service=service, env=env)
    model_monitoring = ModelMonitoringStack(
        app,
        f"{prefix}-ModelMonitoring",
        config=config,
        service=service,
        monitoring=monitoring,
        registry_stack=registry,
        env=env,
    )
    stacks: dict[str, cdk.Stack] = {
        "service": service,
        "monitoring": monitoring,
        "model_monitoring": model_monitoring,
    }
    if registry is not None:
        # Deployed first: the jobs read it, and the pinned models were promoted in it.
        service.add_stack_dependency(registry)
        stacks = {"registry": registry, **stacks}
    for stack in stacks.values():
        cdk.Tags.of(stack).add("project", "propensity")
        cdk.Tags.of(stack).add("stage", config.stage)
        add_nag_checks(stack)
    return stacks


def main() -> None:
    app = cdk.App()
    stage = app.node.try_get_context("stage") or "dev"
    config = load_stage_config({"stages": app.node.try_get_context("stages")}, stage)
    try:
        build_app(app, config)
    except PackagingError as error:  # a refused or missing model: say why, without a traceback
        sys.exit(f"synth refused: {error}")
    app.synth()


if __name__ == "__main__":
    main()
