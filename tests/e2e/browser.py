"""Headless Chromium (Debian's package) for page checks: a screenshot and the rendered DOM.

No driver, no download: Chromium's own ``--screenshot`` and ``--dump-dom``. The flags keep it
off the network (this machine's closed network refuses Chromium's background connections)
and give every run a fresh profile. A missing Chromium fails the test: .ci/run installs it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed: `apt-get install -y chromium` (.ci/run installs it)")


def _run(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        )


def screenshot(page: Path, out: Path, width: int, height: int) -> Path:
    _run(f"--screenshot={out}", f"--window-size={width},{height}", page.resolve().as_uri())
    return out


def dump_dom(page: Path) -> str:
    return _run("--dump-dom", page.resolve().as_uri()).stdout
