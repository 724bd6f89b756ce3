"""The hourly drift job's throughput, for ``run_benchmarks``' drift section.

The monitoring jobs' benchmark lives in ``tests.perf.jobs_bench`` (generated archives, the
``gzip -dc | wc -l`` floor, both jobs in child processes); this keeps the drift section's
call and result shape: it runs the drift job alone over a generated archive of ``n_events``.
"""

from __future__ import annotations

from typing import Any

from tests.perf import jobs_bench


def available() -> bool:
    """The drift job's benchmark needs DuckDB (the local engine)."""
    try:
        import duckdb  # noqa: F401
    except ImportError:
        return False
    return True


def run_drift_benchmark(n_events: int, timeout_s: float = 1800) -> dict[str, Any]:
    """The drift job over every hour of a generated week of ``n_events``; time against the floor."""
    root = jobs_bench.archive(n_events)
    floor_s, lines = jobs_bench.floor_seconds(root)
    drift = jobs_bench.run_job(root, "drift", timeout_s)
    return {
        "n_events": n_events,
        "process_wall_s": drift["process_wall_s"],
        "process_peak_rss_mib": drift["peak_rss_mib"],
        "figures": drift
        | {"lines": lines, "floor_s": round(floor_s, 2), "x_floor": round(drift["seconds"] / floor_s, 2)},
    }
