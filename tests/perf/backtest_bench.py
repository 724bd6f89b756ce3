"""Benchmark: a rolling-origin backtest of the committed v1 config (issue: under 5 minutes).

Called by ``tests/perf/run_benchmarks.py`` as a section::

    from tests.perf import backtest_bench
    backtest_bench.run_backtest_benchmark(months=10, jobs=2)

It trains ``months`` models (each on every month before its test month, with the production
protocol) in a child process with one OpenMP thread per process, and returns the wall time,
the per-month training times, the table's mean figures and the machine's load, so the figure
can be read against how busy the machine was. A benchmark, not a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.perf.machine import machine_facts

ROOT = Path(__file__).resolve().parents[2]
TARGET_SECONDS = 300.0


def run_backtest_benchmark(
    months: int = 10, jobs: int = 2, api: str = "v1", timeout_s: float = 1800
) -> dict[str, Any]:
    """``propensity backtest`` in a child process; wall time and the table's summary."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with tempfile.TemporaryDirectory(prefix="backtest-bench-") as scratch:
        table = Path(scratch) / "backtest.json"
        before = os.getloadavg()
        started = time.perf_counter()
        completed = subprocess.run(
            [
                sys.executable,
                "-c",  # not `-m propensity.cli`: as __main__ it would not see the commands' registrations
                "import sys; from propensity.cli import main; sys.exit(main())",
                "backtest",
                "--api",
                api,
                "--months",
                str(months),
                "--jobs",
                str(jobs),
                "--json",
                str(table),
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT,
            timeout=timeout_s,
            check=False,
        )
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            raise RuntimeError(f"backtest failed (exit {completed.returncode}):\n{completed.stderr[-3000:]}")
        result = json.loads(table.read_text())
    rows = result["months"]
    aucs = [m["roc_auc"] for m in rows if m["roc_auc"] is not None]
    return {
        "api": api,
        "months": months,
        "jobs": jobs,
        "wall_s": round(wall, 1),
        "target_s": TARGET_SECONDS,
        "within_target": wall <= TARGET_SECONDS,
        "per_month_training_s": [m["seconds"] for m in rows],
        "mean_roc_auc": round(sum(aucs) / len(aucs), 4) if aucs else None,
        "mean_bias": round(sum(m["bias"] for m in rows) / len(rows), 4),
        "config": result["config_name"],
        "load_average_before": [round(v, 2) for v in before],
        "load_average_after": [round(v, 2) for v in os.getloadavg()],
        "machine": machine_facts(),
    }


if __name__ == "__main__":
    print(json.dumps(run_backtest_benchmark(int(sys.argv[1]) if len(sys.argv) > 1 else 10), indent=2))
