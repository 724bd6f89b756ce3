"""A Lambda-like Python 3.12 environment on this machine, from what the function ships.

The runtime and domain layers come from ``infra/packaging.py`` (built for x86_64 here, the
architecture this machine can execute; the arm64 build is what ships and is what the size
figure measures). What the Lambda Python runtime itself provides and the layer therefore
leaves out (botocore, which aws-xray-sdk imports when the Tracer is created) is installed once
for Python 3.12 into ``.cache/bench-lambda/`` with ``.pyc``, as the runtime image has it.
"""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from propensity.constants import ApiVersion
from tests.perf.inputs import ROOT, progress

CACHE = ROOT / ".cache" / "bench-lambda"
SNAPSHOTS = CACHE / "snapshots"


@dataclass(frozen=True)
class LambdaLayout:
    python: list[str]  # the real 3.12 executable (no pyenv shim in the timed path)
    runtime_layer: Path
    domain_layer: Path
    provided: Path


def python312_executable() -> list[str] | None:
    """The Python 3.12 executable itself, or ``None`` when this machine has none."""
    from infra.packaging import python312

    command = python312()
    if command is None:
        return None
    completed = subprocess.run(
        [*command, "-c", "import sys; print(sys.executable)"], capture_output=True, text=True, check=False
    )
    executable = completed.stdout.strip()
    return [executable] if completed.returncode == 0 and executable else None


def runtime_provided_dir(python: list[str]) -> Path:
    """botocore (the version the dev set pins) for Python 3.12, with ``.pyc``, installed once."""
    version = importlib.metadata.version("botocore")
    target = CACHE / f"runtime-provided-botocore-{version}"
    if (target / ".complete").exists():
        return target
    progress(f"installing botocore {version} for Python 3.12 (what the Lambda runtime provides)")
    subprocess.run(
        [
            *python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(target),
            f"botocore=={version}",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    subprocess.run(
        [*python, "-m", "compileall", "-q", "-j", "0", str(target)],
        check=True,
        capture_output=True,
        text=True,
    )
    (target / ".complete").write_text(version)
    return target


def lambda_layout() -> LambdaLayout | str:
    """The built layers and a 3.12 interpreter, or the reason they cannot be had here."""
    from infra.packaging import domain_layer_dir, runtime_layer_dir
    from tests.perf.cold_start import snapshot

    python = python312_executable()
    if python is None:
        return "no Python 3.12 interpreter on this machine (set $LAMBDA_PYTHON)"
    try:
        runtime = runtime_layer_dir("x86_64")
        domain = domain_layer_dir()
    except Exception as error:  # the packaging module says what failed and what to do
        return f"the layers could not be built: {error}"
    layout = LambdaLayout(
        python=python,
        runtime_layer=snapshot(runtime, SNAPSHOTS / runtime.name),
        domain_layer=snapshot(domain, SNAPSHOTS / domain.name),
        provided=runtime_provided_dir(python),
    )
    prune_snapshots(keep={layout.runtime_layer.name, layout.domain_layer.name})
    return layout


def function_asset(api: ApiVersion, bundle_dir: Path) -> Path:
    """The prediction function's shipped asset (handler folder + ``model/``), snapshotted."""
    from infra.packaging import prediction_code_dir
    from tests.perf.cold_start import snapshot

    asset = prediction_code_dir(api, bundle_dir)
    return snapshot(asset, SNAPSHOTS / "assets" / asset.name)


def prune_snapshots(keep: set[str]) -> None:
    """Remove layer snapshots of older builds (hard links: only the names are freed)."""
    for old in SNAPSHOTS.glob("*"):
        if old.is_dir() and old.name != "assets" and old.name not in keep:
            shutil.rmtree(old, ignore_errors=True)
