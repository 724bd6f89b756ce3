"""The hourly drift job's throughput: ``propensity.drift.bench.run_drift_benchmark``.

The drift capability owns the benchmark itself (it generates events shaped like the archive
and runs the job over them); this runs it in a fresh process so its peak memory (max RSS, from
``wait4``) is the job's alone, and reports its figures next to the targets.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHILD = r"""
import json, sys
from propensity.drift.bench import run_drift_benchmark

def plain(value):
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    import dataclasses
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)
    return value

result = run_drift_benchmark(n_events=int(sys.argv[1]))
with open(sys.argv[2], "w") as f:
    json.dump(plain(result), f, default=str)
"""


def available() -> bool:
    """Whether the drift capability's benchmark exists yet."""
    try:
        return importlib.util.find_spec("propensity.drift.bench") is not None
    except ModuleNotFoundError:
        return False


def run_drift_benchmark(n_events: int, timeout_s: float = 600) -> dict[str, Any]:
    """Run the drift benchmark in a child process; its figures plus wall time and peak RSS."""
    with tempfile.TemporaryDirectory(prefix="drift-bench-") as scratch:
        result_file = Path(scratch) / "result.json"
        stderr_file = Path(scratch) / "stderr.txt"
        started = time.perf_counter()
        with stderr_file.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(n_events), str(result_file)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=scratch,
            )
            deadline = time.monotonic() + timeout_s
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    process.kill()
                    pid, status, usage = os.wait4(process.pid, 0)
                    raise RuntimeError(f"the drift benchmark did not finish within {timeout_s:.0f}s")
                time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        wall_s = time.perf_counter() - started
        if process.returncode != 0 or not result_file.exists():
            raise RuntimeError(
                f"the drift benchmark failed (exit {process.returncode}):\n{stderr_file.read_text()[-3000:]}"
            )
        figures = json.loads(result_file.read_text())
    # ru_maxrss is in KiB on Linux.
    return {
        "n_events": n_events,
        "process_wall_s": round(wall_s, 2),
        "process_peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "figures": figures if isinstance(figures, dict) else {"result": figures},
    }
