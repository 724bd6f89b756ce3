"""A registry with the session's v2 model as champion and a second registered v2 version."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from propensity.bundle.manifest import ValidationRecord
from propensity.registry.registry import Registry


def register_copy(registry: Registry, workdir: Path, suffix: str) -> str:
    """Register a copy of the v2 champion under a new version name (same trees: outputs are equal)."""
    champion = registry.alias("v2", "champion")
    assert champion is not None
    path = registry.fetch("v2", champion, workdir / f"copy-{suffix}")
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["model_version"] = f"{manifest['model_version']}-{suffix}"
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return registry.register(path).model_version


def record_passing_gate(registry: Registry, version: str) -> None:
    """The verdict the gate would append (``gate.record.record_verdict``) for a passing challenger."""
    manifest = registry.manifest("v2", version)
    verdict = ValidationRecord(
        passed=True, champion_version=registry.alias("v2", "champion"), at=datetime.now(UTC), report={}
    )
    registry.update_manifest(manifest.model_copy(update={"validation": [*manifest.validation, verdict]}))


@pytest.fixture
def ab_registry(registry: Registry, tmp_path: Path) -> tuple[Registry, str, str]:
    """(registry, champion version, gated challenger version) for v2."""
    challenger = register_copy(registry, tmp_path, "ab")
    record_passing_gate(registry, challenger)
    champion = registry.alias("v2", "champion")
    assert champion is not None
    return registry, champion, challenger
