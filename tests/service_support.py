"""Helpers for the prediction service's tests (unit, integration, e2e): bodies, captured output."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from propensity.bundle.io import Bundle
from propensity.events import PredictionEvent
from propensity.service.settings import ServiceSettings
from propensity.service.v1.models import EXAMPLE_REQUEST as V1_EXAMPLE
from propensity.service.v2.models import EXAMPLE_REQUEST as V2_EXAMPLE

DEPRECATED_ON = date(2026, 9, 1)
SUNSET_ON = date(2027, 6, 30)


def make_settings(bundles: dict[str, Bundle] | None, **overrides: Any) -> ServiceSettings:
    """Settings serving both versions from the session's bundles, with ``overrides``."""
    values: dict[str, Any] = {
        "api_versions": ("v1", "v2"),
        "model_dir_v1": bundles["v1"].path if bundles else None,
        "model_dir_v2": bundles["v2"].path if bundles else None,
        "v1_deprecation_date": DEPRECATED_ON,
        "v1_sunset_date": SUNSET_ON,
        **overrides,
    }
    return ServiceSettings(**values)


def emitted_events(text: str) -> list[PredictionEvent]:
    """PredictionEvents among captured stdout lines, each validated against the schema."""
    events = []
    for line in text.splitlines():
        if line.startswith("{") and json.loads(line).get("event") == "PredictionEvent":
            events.append(PredictionEvent.model_validate_json(line))
    return events


def emf_blobs(text: str) -> list[dict[str, Any]]:
    """EMF documents among captured stdout lines."""
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def post_raw(client: Any, path: str, body: bytes, content_type: str | None = "application/json") -> Any:
    headers = {"content-type": content_type} if content_type else {}
    return client.post(path, content=body, headers=headers)


def v1_body(**changes: Any) -> dict[str, Any]:
    """The contract's example body with some fields changed."""
    return {**V1_EXAMPLE, **changes}


def v2_body(**groups: Any) -> dict[str, Any]:
    """The v2 example with fields of some groups changed: ``v2_body(customer={"job": "x"})``."""
    body = json.loads(json.dumps(V2_EXAMPLE))
    for group, fields in groups.items():
        if group == "customer_ref":
            body["customer_ref"] = fields
        else:
            body[group].update(fields)
    return body


def clone_bundle(source: Any, destination: Any, model_version: str) -> Any:
    """A copy of a bundle folder registered under another model version (same model, new name).

    Stands in for a retrained bundle in reload tests without a second training run.
    """
    import shutil

    shutil.copytree(source, destination)
    manifest_path = destination / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model_version"] = model_version
    manifest_path.write_text(json.dumps(manifest))
    return destination


class _RecordingAlerter:
    """Collects the alerts a break-glass move raises (nobody to page in a test)."""

    def __init__(self) -> None:
        self.alerts: list[tuple[Any, ...]] = []

    def alert(self, *args: Any, **kwargs: Any) -> None:
        self.alerts.append(args)


def move_champion(registry: Any, api: str, version: str, reason: str = "test") -> Any:
    """Point ``api``'s champion at ``version`` whatever its gate record, as an incident would.

    Reload tests move the champion to bundles that were never gated; where the registry's
    alias moves are policy-checked (``promotion.policy.move_alias``), they take its recorded
    break-glass path, else a plain ``set_alias``.
    """
    import inspect

    try:
        from propensity.promotion.policy import move_alias
    except ImportError:
        move_alias = None  # type: ignore[assignment]
    if move_alias is not None and "break_glass" in inspect.signature(move_alias).parameters:
        return move_alias(
            registry,
            api,
            "champion",
            version,
            reason=reason,
            actor="pytest",
            break_glass=True,
            alerter=_RecordingAlerter(),
        )
    return registry.set_alias(api, "champion", version, reason=reason, actor="pytest")
