"""Decision records for tests: gate verdicts written as ``record_verdict`` writes them.

The gate itself is tested in tests/unit/gate on real challengers; tests of the promotion
policy need verdicts of a chosen outcome without running it (seconds instead of minutes).
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from propensity.bundle.golden import GoldenSet
from propensity.bundle.io import write_bundle
from propensity.bundle.manifest import ARTEFACT_FILE, GOLDEN_FILE, MANIFEST_FILE, Manifest
from propensity.gate.record import GATE_KIND, GateVerdict
from propensity.registry.registry import Registry


def record_gate(
    registry: Registry, api, version: str, *, passed: bool, against: str | None, failures=()
) -> None:
    """A gate record of ``version`` judged against ``against``."""
    verdict = GateVerdict(
        passed=passed,
        api_version=api,
        challenger_version=version,
        champion_version=against,
        at=datetime.now(UTC),
        summary={"failures": [{"name": name} for name in failures]},
    )
    registry.put_record(GATE_KIND, api, version, verdict.model_dump(mode="json", exclude={"record_name"}))


def renamed_bundle(source: Path, destination: Path, version: str) -> Path:
    """A copy of a real bundle under another model version (same artefact, new manifest hash)."""
    manifest = Manifest.model_validate_json((source / MANIFEST_FILE).read_bytes())
    golden = GoldenSet.model_validate_json((source / GOLDEN_FILE).read_bytes())
    extra = {
        name: (source / name).read_bytes()
        for name in manifest.files
        if name not in (ARTEFACT_FILE, GOLDEN_FILE)
    }
    if destination.exists():
        shutil.rmtree(destination)
    return write_bundle(
        destination,
        manifest.model_copy(update={"model_version": version, "created_at": datetime.now(UTC)}),
        (source / ARTEFACT_FILE).read_bytes(),
        golden.model_copy(update={"model_version": version}),
        extra,
    )
