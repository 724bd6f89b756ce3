"""The lock file installs what requirements/*.txt pin: a pin edited without `make lock` fails here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
REQUIREMENTS = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def pins(path: Path) -> dict[str, str]:
    """Exact pins of a requirements file and the files it includes with ``-r``."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
        elif match := PIN.match(line):
            found[_name(match.group(1))] = match.group(3)
    return found


def locked(path: Path) -> dict[str, tuple[str, int]]:
    """Package -> (version, number of hashes) from a ``--generate-hashes`` lock."""
    entries: dict[str, tuple[str, int]] = {}
    current = None
    for line in path.read_text().splitlines():
        if match := PIN.match(line):
            current = _name(match.group(1))
            entries[current] = (match.group(3), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
    return entries


def test_every_pin_is_locked_at_its_version_with_hashes():
    lock = locked(REQUIREMENTS / "lock.txt")
    wanted = {**pins(REQUIREMENTS / "dev.txt"), **pins(REQUIREMENTS / "bootstrap.txt")}
    stale = {
        name: (v, lock.get(name, ("missing", 0))[0])
        for name, v in wanted.items()
        if lock.get(name, ("",))[0] != v
    }
    assert not stale, f"requirements changed without `make lock` (pin, locked): {stale}"
    assert all(hashes > 0 for _, hashes in lock.values())


def test_the_bootstrap_lock_matches_its_pins():
    lock = locked(REQUIREMENTS / "bootstrap.lock")
    assert {n: v for n, (v, _) in lock.items()} == pins(REQUIREMENTS / "bootstrap.txt")
    assert all(hashes > 0 for _, hashes in lock.values())


def test_the_lambda_layer_is_still_built_from_runtime_txt():
    # The lock is for developers and CI; the layer's source of truth stays requirements/runtime.txt.
    from infra.packaging import RUNTIME_REQUIREMENTS

    assert RUNTIME_REQUIREMENTS == REQUIREMENTS / "runtime.txt"
