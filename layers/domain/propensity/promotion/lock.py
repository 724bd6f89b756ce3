"""``models.lock.json``: the model each stage ships, committed to git and read by ``cdk synth``.

``promote --stage <stage>`` writes the pin itself; nobody copies a version by hand. A pin names
the model version and the SHA-256 of its registered manifest (which holds every file's hash),
so what ``cdk deploy`` ships is reproducible from the repository: synth packages that exact
manifest from the registry (or a mirror of it) and refuses anything else. The file's review in
a pull request is the human check before a stage changes model.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from propensity.constants import ApiVersion

LOCK_FILE = Path("models.lock.json")
LOCK_FORMAT = 1


class Pin(BaseModel):
    """One stage's model for one API version."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model_version: str
    manifest_sha256: str
    approvals: list[str] = Field(default_factory=list)  # approvers at pin time (prod needs one)
    pinned_by: str
    pinned_at: datetime
    reason: str


class ModelLock(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: int = LOCK_FORMAT
    stages: dict[str, dict[ApiVersion, Pin]] = Field(default_factory=dict)

    def pin(self, stage: str, api: ApiVersion) -> Pin | None:
        return self.stages.get(stage, {}).get(api)


def read_lock(path: Path = LOCK_FILE) -> ModelLock:
    """The lock file, or an empty lock when there is none yet."""
    if not path.is_file():
        return ModelLock()
    try:
        return ModelLock.model_validate_json(path.read_bytes())
    except ValueError as error:
        raise ValueError(f"{path} is not a valid model lock file: {error}") from error


def write_pin(path: Path, stage: str, api: ApiVersion, pin: Pin) -> ModelLock:
    """Set one pin, keeping the others: read-modify-write under a lock, replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a+b") as guard:
        fcntl.flock(guard.fileno(), fcntl.LOCK_EX)
        lock = read_lock(path)
        stages = {name: dict(pins) for name, pins in lock.stages.items()}
        stages.setdefault(stage, {})[api] = pin
        updated = ModelLock(stages={name: dict(sorted(p.items())) for name, p in sorted(stages.items())})
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps(updated.model_dump(mode="json"), indent=2) + "\n")
        os.replace(temporary, path)
        return updated
