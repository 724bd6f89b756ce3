"""``make bench``: every performance figure of the service in one run, as a table and as JSON.

    python -m tests.perf.run_benchmarks            # everything (1.5 to 4 minutes on 2 cores)
    python -m tests.perf.run_benchmarks --quick    # fewer iterations, shorter load test
    python -m tests.perf.run_benchmarks --only handler cold_start

Sections: warm in-process handler latency with its two references (floor, usual approach),
cold start (this virtualenv, and Python 3.12 with the shipped layers), a bounded load test of
the local server on 127.0.0.1, the drift job's throughput, and the shipped size. Results go to
``bench-results/latest.json`` (git-ignored). This is a benchmark, never a test: nothing here
runs in ``make test`` except ``test_bench_smoke.py``, which proves the harness works.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.perf import cold_start, drift_job, shipped_size
from tests.perf.handler_latency import V1_PATH, V2_BATCH_PATH, V2_PATH, handler_env
from tests.perf.inputs import (
    ROOT,
    BenchBundles,
    Payloads,
    ensure_bundles,
    holdout_records,
    load_dataset,
    progress,
)
from tests.perf.machine import machine_facts
from tests.perf.report import ratios, render, targets

RESULTS = ROOT / "bench-results" / "latest.json"

PRIORITY_INCREMENT = -15


@dataclass(frozen=True)
class Plan:
    """How much of each benchmark to run."""

    single_iterations: int = 2000
    batch_iterations: int = 100
    rounds: int = 10
    cold_runs: int = 5
    load_clients: int = 32
    load_client_processes: int = 2  # the clients' processes (one per core here): not the bottleneck
    load_seconds: float = 30.0
    load_batch_records: int = 100
    drift_events: int = 1_000_000
    warmup: int = 20
    cold_warmups: int = 1
    cold_lambda: bool = True  # also Python 3.12 with the shipped layers (builds them once)
    reference_max_iter: int | None = None  # None: as many trees as the v1 model

    @classmethod
    def quick(cls) -> Plan:
        return cls(
            single_iterations=300,
            batch_iterations=30,
            rounds=3,
            cold_runs=2,
            load_clients=16,
            load_seconds=5.0,
            drift_events=100_000,
        )


# Sections --------------------------------------------------------------------------------------


def bench_handler(bundles: BenchBundles, plan: Plan) -> dict[str, Any]:
    """In a child process, so the handler's stdout can go to /dev/null and its env stays there."""
    with tempfile.TemporaryDirectory(prefix="bench-handler-") as scratch:
        out = Path(scratch) / "handler.json"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.perf.handler_latency",
                "--out",
                str(out),
                "--bundles",
                bundles.to_json(),
                "--single",
                str(plan.single_iterations),
                "--batch",
                str(plan.batch_iterations),
                "--rounds",
                str(plan.rounds),
                "--warmup",
                str(plan.warmup),
                *(["--reference-max-iter", str(plan.reference_max_iter)] if plan.reference_max_iter else []),
            ],
            cwd=ROOT,
            # One OpenMP thread: scikit-learn's trees use OpenMP, whose threads spin against each
            # other on a busy 2-core machine (a single-row predict_proba measured 62 ms with the
            # default and 12 ms with one thread under the same load). The reference's best case.
            env={**os.environ, "OMP_NUM_THREADS": "1"},
            check=True,
        )
        result: dict[str, Any] = json.loads(out.read_text())
    return result


def _first_request(api: str) -> dict[str, Any]:
    from tests.events import api_gateway_event

    body = Payloads.from_records(holdout_records(load_dataset(), 1))
    return api_gateway_event(
        "POST", V1_PATH if api == "v1" else V2_PATH, body.v1[0] if api == "v1" else body.v2[0]
    )


def bench_cold_start(bundles: BenchBundles, plan: Plan) -> dict[str, Any]:
    """Median cold start per environment and per function (each function serves one API version)."""
    function_dir = ROOT / "functions" / "predict"
    cache = ROOT / ".cache" / "bench-pycache"
    results: dict[str, Any] = {}
    for api in ("v1", "v2"):
        env = handler_env(bundles, [api])
        event = _first_request(api)
        venv = cold_start.venv_environment(
            function_dir, cache / f"py{sys.version_info.major}{sys.version_info.minor}"
        )
        if api == "v2":  # the floor alternating with the v2 function, in the same environment
            with tempfile.TemporaryDirectory(prefix="cold-floor-") as floor_dir:
                floor = cold_start.floor_environment(venv, Path(floor_dir))
                results["venv v2"], results["venv floor"] = cold_start.measure_with_floor(
                    venv, floor, env, event, plan.cold_runs, plan.cold_warmups
                )
        else:
            results[f"venv {api}"] = cold_start.measure(
                venv, env, event, plan.cold_runs, plan.cold_warmups, breakdown=False
            )
        progress(f"cold start venv {api}: median {results[f'venv {api}']['median_ms']} ms")
    with tempfile.TemporaryDirectory(prefix="no-pyc-") as empty:
        no_pyc = cold_start.venv_without_pyc_environment(function_dir, Path(empty))
        env = handler_env(bundles, ["v2"])
        results["venv v2, no .pyc"] = cold_start.measure(no_pyc, env, _first_request("v2"), 1, 0, False)
    if plan.cold_lambda:
        results.update(_cold_start_lambda(bundles, plan))
    return results


def _cold_start_lambda(bundles: BenchBundles, plan: Plan) -> dict[str, Any]:
    from tests.perf import lambda_env

    try:
        layout = lambda_env.lambda_layout()
    except Exception as error:  # a missing interpreter or index must not hide the other figures
        layout = f"{type(error).__name__}: {error}"
    if isinstance(layout, str):
        return {"lambda 3.12": {"skipped": layout}}
    results: dict[str, Any] = {}
    for api in ("v1", "v2"):
        asset = lambda_env.function_asset(api, bundles.bundle_dirs[api])  # type: ignore[arg-type]
        env = handler_env(bundles, [api])
        env[f"MODEL_DIR_{api.upper()}"] = str(asset / "model")
        environment = cold_start.lambda_environment(
            layout.python,
            asset,
            layout.domain_layer,
            layout.runtime_layer,
            layout.provided,
            f"propensity-predict-{api}",
        )
        if api == "v2":  # the floor alternating with the v2 function, in the same environment
            with tempfile.TemporaryDirectory(prefix="cold-floor-") as floor_dir:
                floor = cold_start.floor_environment(environment, Path(floor_dir))
                results["lambda 3.12 v2"], results["lambda 3.12 floor"] = cold_start.measure_with_floor(
                    environment, floor, env, _first_request(api), plan.cold_runs, plan.cold_warmups
                )
            progress(f"cold start floor: median {results['lambda 3.12 floor']['median_ms']} ms")
        else:
            results[f"lambda 3.12 {api}"] = cold_start.measure(
                environment, env, _first_request(api), plan.cold_runs, plan.cold_warmups, breakdown=False
            )
        progress(f"cold start Python 3.12 {api}: median {results[f'lambda 3.12 {api}']['median_ms']} ms")
    return results


def bench_load(bundles: BenchBundles, plan: Plan) -> dict[str, Any]:
    from tests.perf.load_test import request_plan, run_load_test

    dataset = load_dataset()
    singles = Payloads.from_records(holdout_records(dataset, 200, seed=3))
    batch = Payloads.from_records(holdout_records(dataset, plan.load_batch_records, seed=5))
    requests = request_plan(
        singles.v1,
        singles.v2,
        V1_PATH,
        V2_PATH,
        V2_BATCH_PATH,
        {"records": batch.v2},
        plan.load_batch_records,
    )
    progress(
        f"load test: {plan.load_clients} clients in {plan.load_client_processes} processes for "
        f"{plan.load_seconds:.0f}s on 127.0.0.1"
    )
    return run_load_test(
        bundles.registry_location,
        requests,
        plan.load_clients,
        plan.load_seconds,
        client_processes=plan.load_client_processes,
    )


def bench_jobs(bundles: BenchBundles, plan: Plan) -> dict[str, Any]:
    """Issue 13: the drift and evaluation jobs (DuckDB) over generated archives with outcomes, each
    as a multiple of the `gzip -dc | wc -l` floor over the same objects, and their peak RSS; at
    1M and 10M events in a full run, so memory can be judged flat across sizes."""
    from tests.perf import jobs_bench

    if not drift_job.available():
        return {"skipped": "DuckDB (the local engine) is not installed"}
    sizes = (
        (plan.drift_events, 10 * plan.drift_events)
        if plan.drift_events >= 1_000_000
        else (plan.drift_events,)
    )
    results: dict[int, dict[str, Any]] = {}
    for n in sizes:
        progress(f"monitoring jobs over {n:,} events (generated once, cached under .cache/jobs-bench/)")
        results[n] = jobs_bench.run_jobs_benchmark(n)
    largest = results[max(results)]
    return {
        "sizes": {str(n): r for n, r in results.items()},
        "rows": largest["rows"],
        "memory": jobs_bench.memory_rows(results),
    }


def bench_size(bundles: BenchBundles, plan: Plan) -> dict[str, Any]:
    if not shipped_size.available():
        return {"skipped": "infra/packaging.py has no runtime_layer_dir/domain_layer_dir yet"}
    return shipped_size.measure_shipped_size(bundles.bundle_dirs)


def bench_trees(bundles: BenchBundles, plan: Plan) -> dict[str, Any]:
    """Tree evaluation alone: the service's numpy trees, onnxruntime and scikit-learn, one model."""
    from tests.perf import trees_peer

    missing = trees_peer.available()
    if missing is not None:
        return {"skipped": missing}
    return trees_peer.measure(plan.rounds, max(plan.single_iterations // 20, 10), plan.reference_max_iter)


def bench_backtest(bundles: BenchBundles, plan: Plan) -> dict[str, Any]:
    """Issue 12: a 10-month rolling-origin backtest of the committed v1 config (target < 5 min)."""
    from tests.perf import backtest_bench

    months = 10 if plan.rounds >= 10 else 1  # --quick and the smoke test: one month
    progress(f"backtest: {months} months (trains {months} models)")
    return backtest_bench.run_backtest_benchmark(months=months, jobs=2)


# Every section: name -> function(bundles, plan) -> results. Adding a section is one line here
# (and, for its ratios, one entry in report.RATIOS).
BENCHMARKS: dict[str, Callable[[BenchBundles, Plan], dict[str, Any]]] = {
    "handler": bench_handler,
    "trees": bench_trees,
    "cold_start": bench_cold_start,
    "load_test": bench_load,
    "jobs": bench_jobs,
    "size": bench_size,
    "backtest": bench_backtest,
}
SECTIONS = tuple(BENCHMARKS)


# Entry point -----------------------------------------------------------------------------------


def raise_priority(increment: int = PRIORITY_INCREMENT) -> int:
    """Lower this process's niceness when allowed (root); children inherit it. Returns the niceness.

    On a shared machine other processes preempt the benchmark in the middle of a call, which
    turns a 0.6 ms request into a 10 ms p99 and doubles cold starts (measured here under a load
    average of 6 to 8). A higher priority makes the figures describe the code rather than the
    neighbours; the niceness is recorded with the results.
    """
    try:
        return os.nice(increment)
    except OSError:  # not permitted: measure at the normal priority
        return os.nice(0)


def run(
    sections: Sequence[str], plan: Plan, bundles: BenchBundles | None = None, priority: bool = False
) -> dict[str, Any]:
    """Run the chosen sections; a failing section is recorded and the others still run."""
    started = time.perf_counter()
    niceness = raise_priority() if priority else os.nice(0)
    results: dict[str, Any] = {"machine": {**machine_facts(), "niceness": niceness}, "plan": asdict(plan)}
    bundles = bundles or ensure_bundles()
    results["bundles"] = {
        "source": bundles.source,
        "registry": str(bundles.registry_location),
        "model_versions": bundles.model_versions,
    }
    failures = []
    for name in sections:
        progress(f"--- {name}")
        section_started = time.perf_counter()
        try:
            results[name] = BENCHMARKS[name](bundles, plan)
        except Exception as error:
            traceback.print_exc()
            results[name] = {"error": f"{type(error).__name__}: {error}"}
            failures.append(name)
        progress(f"{name} took {time.perf_counter() - section_started:.0f}s")
    results["targets"] = targets(results)
    results["ratios"] = ratios(results)
    results["failed_sections"] = failures
    results["seconds"] = round(time.perf_counter() - started, 1)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="fewer iterations and a 5 s load test")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    parser.add_argument(
        "--normal-priority",
        action="store_true",
        help=f"do not raise the scheduling priority (by default nice {PRIORITY_INCREMENT} when permitted)",
    )
    args = parser.parse_args(argv)
    plan = Plan.quick() if args.quick else Plan()
    results = run(args.only, plan, priority=not args.normal_priority)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(render(results))
    print(f"\nJSON: {args.out}")
    return 1 if results["failed_sections"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
