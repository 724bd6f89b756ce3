"""What a prediction function ships, unzipped: runtime layer + domain layer + code + model.

Built by ``infra/packaging.py`` exactly as ``cdk synth`` builds it (arm64, Python 3.12 wheels,
slimmed, ``.pyc`` compiled by 3.12). Lambda counts function and layers together against 250 MB
unzipped; the issue's target is 150 MiB, aiming at 120.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from propensity.constants import ApiVersion

MIB = 1024 * 1024


def available() -> bool:
    """Whether the packaging module exists (the infrastructure capability owns it)."""
    try:
        spec = importlib.util.find_spec("infra.packaging")
    except ModuleNotFoundError:
        return False
    if spec is None:
        return False
    from infra import packaging

    return all(hasattr(packaging, n) for n in ("runtime_layer_dir", "domain_layer_dir", "unzipped_size"))


def _largest(site: Path, top: int) -> list[dict[str, Any]]:
    from infra.packaging import unzipped_size

    sizes = [(unzipped_size(p) if p.is_dir() else p.stat().st_size, p.name) for p in site.iterdir()]
    return [{"name": name, "mib": round(size / MIB, 1)} for size, name in sorted(sizes, reverse=True)[:top]]


def measure_shipped_size(bundle_dirs: dict[ApiVersion, Path], architecture: str = "arm64") -> dict[str, Any]:
    """Unzipped MiB per component and per prediction function."""
    from infra import packaging

    runtime = packaging.runtime_layer_dir(architecture)
    domain = packaging.domain_layer_dir()
    runtime_mib = packaging.unzipped_size(runtime) / MIB
    domain_mib = packaging.unzipped_size(domain) / MIB
    functions: dict[str, Any] = {}
    for api, bundle in bundle_dirs.items():
        model_mib = packaging.unzipped_size(bundle) / MIB
        if hasattr(packaging, "prediction_code_dir"):
            asset_mib = packaging.unzipped_size(packaging.prediction_code_dir(api, bundle)) / MIB
        else:
            asset_mib = model_mib + packaging.unzipped_size(packaging.ROOT / "functions" / "predict") / MIB
        functions[api] = {
            "code_and_model_mib": round(asset_mib, 2),
            "model_mib": round(model_mib, 2),
            "total_mib": round(runtime_mib + domain_mib + asset_mib, 1),
        }
    return {
        "architecture": architecture,
        "runtime_layer_mib": round(runtime_mib, 1),
        "domain_layer_mib": round(domain_mib, 2),
        "functions": functions,
        "largest_total_mib": max(f["total_mib"] for f in functions.values()),
        "runtime_layer_largest": _largest(runtime / "python", 8),
        "runtime_layer_pyc": bool(packaging.build_details(runtime).get("pyc"))
        if hasattr(packaging, "build_details")
        else None,
    }
