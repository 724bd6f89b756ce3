"""A registry with the session's v2 model as champion and a second registered v2 version."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from propensity.registry.registry import Registry
from tests.evidence import record_gate


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
    """The gate record ``gate.record.record_verdict`` would write for a passing challenger."""
    record_gate(registry, "v2", version, passed=True, against=registry.alias("v2", "champion"))


@pytest.fixture
def ab_registry(registry: Registry, tmp_path: Path) -> tuple[Registry, str, str]:
    """(registry, champion version, gated challenger version) for v2."""
    challenger = register_copy(registry, tmp_path, "ab")
    record_passing_gate(registry, challenger)
    champion = registry.alias("v2", "champion")
    assert champion is not None
    return registry, champion, challenger
