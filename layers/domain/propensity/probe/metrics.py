"""The probe's metric names and dimensions: published here, alarmed on and charted in infra."""

from __future__ import annotations

from typing import Final

# Per run (dimension: service = the probe function's name, added by Powertools).
PROBE_SUCCESS: Final[str] = "ProbeSuccess"  # 1 when every check of the run passed, else 0
PROBE_REQUESTS: Final[str] = "ProbeRequests"  # requests sent to the API (subtracted from traffic)
# Per check (dimensions: service and CHECK_DIMENSION = "health" | "v1" | "v2").
PROBE_CHECK_SUCCESS: Final[str] = "ProbeCheckSuccess"
PROBE_LATENCY: Final[str] = "ProbeLatency"  # milliseconds, the slowest request of the check
CHECK_DIMENSION: Final[str] = "check"
