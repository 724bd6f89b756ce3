"""Warm latency of the prediction Lambda handler, in process, next to two references.

The handler (``functions/predict/predict_handler.py``, Mangum + Powertools around the service
app) is imported once, as Lambda's init does, configured for both API versions; then each
case is called with real API Gateway REST proxy events (``tests/events.py``) over distinct
holdout customers. In the same run, on the same customers:

* the floor: a no-op FastAPI endpoint behind Mangum;
* the usual approach: a Pydantic model, a per-request pandas DataFrame and a scikit-learn
  Pipeline's ``predict_proba`` behind Mangum (``tests/perf/references.py``), with the v2
  model's hyperparameters;
* the served v2 model's tree evaluation alone on the batch's matrix.

Cases are interleaved in rounds (a slice of every case per round), so a noisy neighbour slows
all of them alike and the ratios within the run stay meaningful. Every response is checked
(status 200, and the service's bodies carry a probability); a failure stops the benchmark.

Run by ``run_benchmarks`` in a child process (``python -m tests.perf.handler_latency``)
whose standard output (Powertools' log and EMF lines) goes to /dev/null, which is closer to
Lambda, where stdout is a pipe to the log service, than a terminal would be.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from infra.packaging import PREDICTION_ENVIRONMENT
from tests.events import LambdaContext, api_gateway_event
from tests.perf.cold_start import lambda_runtime_env
from tests.perf.inputs import CACHE_DIR, ROOT, BenchBundles, Payloads, holdout_records, load_dataset, progress
from tests.perf.references import (
    USUAL_BATCH_PATH,
    USUAL_SINGLE_PATH,
    noop_handler,
    reference_pipeline,
    usual_handler,
)
from tests.perf.stats import Latency, ratio

HANDLER_FILE = ROOT / "functions" / "predict" / "predict_handler.py"
V1_PATH = "/v1/predict"
V2_PATH = "/v2/predict"
V2_BATCH_PATH = "/v2/predict/batch"
BATCH_SIZE = 1000
# The usual approach costs about twenty times the service per single call: a quarter of the
# calls still gives its p99 from hundreds of samples and keeps `make bench` short.
USUAL_SINGLE_SHARE = 4

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def handler_env(bundles: BenchBundles, apis: Sequence[str] = ("v1", "v2")) -> dict[str, str]:
    """The environment the prediction function is configured with (``ServiceSettings``)."""
    env = {
        "API_VERSIONS": ",".join(apis),
        "V1_DEPRECATION_DATE": "2026-01-15",
        "V1_SUNSET_DATE": "2027-06-30",
        "POWERTOOLS_SERVICE_NAME": "propensity-api",
        "POWERTOOLS_METRICS_NAMESPACE": "Propensity",
        **PREDICTION_ENVIRONMENT,  # as infra/constructs/prediction.py configures the function
    }
    for api in apis:
        env[f"MODEL_DIR_{api.upper()}"] = str(bundles.bundle_dirs[api])  # type: ignore[index]
    return env


def load_handler_module(name: str = "bench_predict_handler") -> ModuleType:
    """Import the handler file as Lambda does (its folder on ``sys.path``), under a private name."""
    sys.path.insert(0, str(HANDLER_FILE.parent))
    spec = importlib.util.spec_from_file_location(name, HANDLER_FILE)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot import {HANDLER_FILE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Case:
    """One timed series: a handler and the events it is called with (cycled)."""

    name: str
    group: str  # service, floor, usual (or lifespan: a floor variant outside the ratios)
    handler: Handler
    events: list[dict[str, Any]]
    iterations: int
    check: Callable[[dict[str, Any]], None] | None = None
    samples: list[int] | None = None  # wall-clock ns per call
    cpu_samples: list[int] | None = None  # this thread's CPU ns per call


def _expect_ok(case: Case, response: dict[str, Any]) -> None:
    if response.get("statusCode") != 200:
        raise RuntimeError(
            f"{case.name}: HTTP {response.get('statusCode')}: {str(response.get('body'))[:500]}"
        )


def check_single(response: dict[str, Any]) -> None:
    body = json.loads(response["body"])
    if not 0.0 <= float(body["probability"]) <= 1.0:
        raise RuntimeError(f"probability out of range: {body}")


def check_batch(size: int) -> Callable[[dict[str, Any]], None]:
    def check(response: dict[str, Any]) -> None:
        body = json.loads(response["body"])
        results = body.get("results") or body.get("predictions") or []
        if len(results) != size:
            raise RuntimeError(f"batch answered {len(results)} results for {size} records: {str(body)[:300]}")

    return check


def run_cases(cases: Sequence[Case], rounds: int, warmup: int) -> None:
    """Warm every case up, then time them interleaved in ``rounds``.

    Each call is timed twice: wall clock (what a caller waits) and this thread's CPU time
    (Mangum runs the app on this thread), which other processes on a shared machine cannot
    inflate, so its tail shows the code's own outliers (garbage collection, allocation).
    """
    contexts = [LambdaContext() for _ in range(8)]
    for case in cases:
        for i in range(warmup):
            response = case.handler(case.events[i % len(case.events)], contexts[0])
            _expect_ok(case, response)
            if case.check is not None:
                case.check(response)
        case.samples, case.cpu_samples = [], []
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for round_index in range(rounds):
        for case in cases:
            share = case.iterations // rounds + (1 if round_index < case.iterations % rounds else 0)
            events, handler, samples, cpu = case.events, case.handler, case.samples, case.cpu_samples
            assert samples is not None and cpu is not None
            start = len(samples)
            for i in range(start, start + share):
                event, context = events[i % len(events)], contexts[i % len(contexts)]
                began_cpu, began = cpu_clock(), clock()
                response = handler(event, context)
                samples.append(clock() - began)
                cpu.append(cpu_clock() - began_cpu)
                if response["statusCode"] != 200:
                    _expect_ok(case, response)


@dataclass(frozen=True)
class Events:
    """The API Gateway events every case is called with: the same customers for all of them."""

    v1: list[dict[str, Any]]
    v2: list[dict[str, Any]]
    v2_batch: list[dict[str, Any]]
    usual_single: list[dict[str, Any]]
    usual_batch: list[dict[str, Any]]
    batch_size: int

    @classmethod
    def build(cls, payloads: Payloads, batch: Payloads) -> Events:
        def events(path: str, bodies: Sequence[Any]) -> list[dict[str, Any]]:
            return [api_gateway_event("POST", path, body) for body in bodies]

        return cls(
            v1=events(V1_PATH, payloads.v1),
            v2=events(V2_PATH, payloads.v2),
            v2_batch=events(V2_BATCH_PATH, [{"records": batch.v2}]),
            usual_single=events(USUAL_SINGLE_PATH, payloads.v1),
            usual_batch=events(USUAL_BATCH_PATH, [{"records": batch.v1}]),
            batch_size=len(batch.v2),
        )


def reference_cases(
    events: Events, pipeline: Any, threshold: float, n_single: int, n_batch: int
) -> list[Case]:
    """The floor (with Mangum's lifespan off and on) and the usual approach, on the same customers."""
    floor, floor_auto = noop_handler(), noop_handler(lifespan="auto")
    usual = usual_handler(pipeline, threshold)
    size = events.batch_size
    return [
        Case("floor single (no-op, lifespan off)", "floor", floor, events.v1, n_single),
        # Shows what Mangum's default lifespan="auto" would add; not the floor the ratios use.
        Case("floor single (no-op, lifespan auto)", "lifespan", floor_auto, events.v1, n_single),
        Case(f"floor batch of {size} (no-op)", "floor", floor, events.v2_batch, n_batch),
        Case("usual single (pandas + Pipeline)", "usual", usual, events.usual_single,
             usual_single_iterations(n_single), check_single),
        Case(f"usual batch of {size} (pandas + Pipeline)", "usual", usual, events.usual_batch, n_batch,
             check_batch(size)),
    ]  # fmt: skip


def service_cases(handler: Handler, events: Events, n_single: int, n_batch: int) -> list[Case]:
    """The prediction handler: v1 single, v2 single, v2 batch."""
    size = events.batch_size
    return [
        Case("v1 single", "service", handler, events.v1, n_single, check_single),
        Case("v2 single", "service", handler, events.v2, n_single, check_single),
        Case(f"v2 batch of {size}", "service", handler, events.v2_batch, n_batch, check_batch(size)),
    ]


OK_RESPONSE: dict[str, Any] = {"statusCode": 200, "body": "{}"}


def trees_alone_case(module: ModuleType, batch: Payloads, iterations: int) -> Case:
    """The served v2 model's trees on the batch's model matrix: the batch's ``2x trees`` yardstick."""
    from propensity.service.v2.adapter import check_records

    served = module.HANDLER.service.runtime.require("v2")
    matrix = served.model.matrix(check_records(batch.v2).columns)
    ensemble = served.model.ensemble

    def trees(_event: dict[str, Any], _context: Any) -> dict[str, Any]:
        ensemble.raw_score(matrix)
        return OK_RESPONSE

    return Case(f"trees alone, batch of {len(batch.v2)} (served v2 model)", "trees", trees, [{}], iterations)


def usual_single_iterations(single_iterations: int) -> int:
    return max(single_iterations // USUAL_SINGLE_SHARE, 1)


def _ratios(latency: dict[str, Latency], cases: Sequence[Case]) -> dict[str, Any]:
    """For each service case: its p50 over the floor's, and the usual approach's p50 and p99 over its own."""
    reference = {
        (c.group, "batch" in c.name): latency[c.name] for c in cases if c.group in ("floor", "usual")
    }
    ratios: dict[str, Any] = {}
    for case in cases:
        if case.group != "service":
            continue
        own, batch = latency[case.name], "batch" in case.name
        floor, usual = reference[("floor", batch)], reference[("usual", batch)]
        ratios[case.name] = {
            "p50_over_floor_p50": ratio(own.p50_ms, floor.p50_ms),
            "usual_p50_over_p50": ratio(usual.p50_ms, own.p50_ms),
            "usual_p99_over_p99": ratio(usual.p99_ms, own.p99_ms),
        }
    return ratios


def summarise(cases: Sequence[Case]) -> dict[str, Any]:
    """Latency per case (wall clock and CPU) and the ratios against the references, for both."""
    wall = {c.name: Latency.from_ns(c.samples or []) for c in cases}
    cpu = {c.name: Latency.from_ns(c.cpu_samples or []) for c in cases}
    return {
        "latency": {k: v.as_dict() for k, v in wall.items()},
        "cpu": {k: v.as_dict() for k, v in cpu.items()},
        "ratios": _ratios(wall, cases),
        "cpu_ratios": _ratios(cpu, cases),
    }


def measure(
    bundles: BenchBundles,
    iterations_single: int = 2000,
    iterations_batch: int = 100,
    rounds: int = 10,
    warmup: int = 20,
    distinct_customers: int = 256,
    reference_max_iter: int | None = None,
) -> dict[str, Any]:
    """Import the handler (with this process's environment), then run the interleaved benchmark.

    Returns latencies (ms) per case and the ratios against the references.
    """
    dataset = load_dataset()
    payloads = Payloads.from_records(holdout_records(dataset, distinct_customers))
    batch = Payloads.from_records(holdout_records(dataset, BATCH_SIZE, seed=11))
    pipeline, fit_seconds = reference_pipeline(dataset, CACHE_DIR, reference_max_iter)
    if fit_seconds is not None:
        progress(f"reference Pipeline fitted in {fit_seconds:.1f}s (cached for later runs)")
    from propensity.bundle.io import read_manifest

    threshold = read_manifest(bundles.bundle_dirs["v1"]).threshold
    events = Events.build(payloads, batch)
    references = reference_cases(events, pipeline, threshold, iterations_single, iterations_batch)
    # What the harness itself loaded (the data set, pandas, scikit-learn, the references) is
    # moved out of the garbage collector's sight, so full collections during the cases cost
    # what they would in a Lambda process holding only the handler. The handler's own objects,
    # imported next, stay tracked, as they would be in Lambda.
    gc.collect()
    gc.freeze()
    os.environ.update(handler_env(bundles))
    # As Lambda sets it: the X-Ray SDK takes its Lambda path and Powertools' Tracer is active
    # (it records a subsegment per invocation and sends it over UDP to loopback).
    os.environ.update(lambda_runtime_env(HANDLER_FILE.parent, "propensity-predict"))
    started = time.perf_counter()
    handler = load_handler_module().lambda_handler
    init_seconds = time.perf_counter() - started
    cases = [
        *service_cases(handler, events, iterations_single, iterations_batch),
        *references,
        trees_alone_case(sys.modules["bench_predict_handler"], batch, iterations_batch),
    ]
    started = time.perf_counter()
    run_cases(cases, rounds, warmup)
    result = summarise(cases)
    result.update(
        {
            "seconds": round(time.perf_counter() - started, 1),
            "handler_init_in_warm_process_s": round(init_seconds, 3),
            "iterations": {"single": iterations_single, "batch": iterations_batch, "rounds": rounds},
            "distinct_customers": distinct_customers,
            "reference_boosting_rounds": pipeline[-1].max_iter,
            "notes": [
                "stdout (PredictionEvents, Powertools logs, EMF) to /dev/null",
                "Lambda's environment variables set: Powertools' Tracer active, subsegments sent to 127.0.0.1",
                "references are async endpoints (no thread-pool hop) with one OpenMP thread: their best case",
                "the harness's own objects are frozen out of the garbage collector before the handler import",
            ],
        }
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Child-process entry point: silence stdout at the file-descriptor level, write JSON results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundles", required=True, help="BenchBundles as JSON")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--reference-max-iter", type=int, default=None)
    args = parser.parse_args(argv)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # before Powertools binds sys.stdout: its lines cost the same, print nowhere
    bundles = BenchBundles.from_json(args.bundles)
    result = measure(
        bundles, args.single, args.batch, args.rounds, args.warmup, reference_max_iter=args.reference_max_iter
    )
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
