"""Cold start: a fresh Python process, from interpreter start to the first answered request.

Each run spawns a new interpreter that imports the prediction handler (which loads the model
bundle and builds the app at import, as Lambda's init phase does) and answers one real API
Gateway event. Wall time is taken from just before the spawn to the answer, with the
wall clock both processes share, so interpreter start-up is included.

Two environments:

* ``venv``: this interpreter with the development virtualenv (``.pyc`` cached in a private
  prefix after one discarded warm-up run, so the figure is not a first-compile one);
* ``lambda-3.12``: Python 3.12 (the Lambda runtime's version) with only what the function
  ships on its path: the runtime layer and the domain layer built by ``infra/packaging.py``
  (``.pyc`` compiled by 3.12) and the function's code with its model, with
  ``PYTHONDONTWRITEBYTECODE`` set because Lambda's code folder is read-only.

``python -X importtime`` gives the import breakdown of the same start-up.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.events import LambdaContext

# What the child runs: the only code between interpreter start and the handler import is
# reading the event file and the clock. Its stdout (Powertools' log lines) goes to /dev/null;
# the figures go to the result file.
CHILD = r"""
import time
wall_started_ns = time.time_ns()
started = time.perf_counter()
import json, sys, types
event_file, result_file = sys.argv[1], sys.argv[2]
import predict_handler
imported = time.perf_counter()
with open(event_file) as f:
    spec = json.load(f)
context = types.SimpleNamespace(**spec["context"], get_remaining_time_in_millis=lambda: 10_000)
response = predict_handler.lambda_handler(spec["event"], context)
answered = time.perf_counter()
wall_answered_ns = time.time_ns()
heavy = sorted(m for m in ("sklearn", "scipy", "pandas", "matplotlib", "boto3") if m in sys.modules)
with open(result_file, "w") as f:
    json.dump({"wall_started_ns": wall_started_ns, "wall_answered_ns": wall_answered_ns,
               "import_s": imported - started, "first_request_s": answered - imported,
               "status": response["statusCode"], "body": response["body"][:300], "heavy_modules": heavy}, f)
"""

FORBIDDEN_AT_SERVING = ("sklearn", "scipy", "pandas", "matplotlib")

# The cold-start floor (issue 14): a function that imports only numpy and pydantic and answers
# a no-op. Measured in the same environment (interpreter, layers, variables) as the service.
FLOOR_HANDLER = """
import numpy
import pydantic


def lambda_handler(event, context):
    return {"statusCode": 200, "headers": {}, "body": "{}", "isBase64Encoded": False}
"""


def floor_environment(environment: Environment, floor_dir: Path) -> Environment:
    """``environment`` with the floor handler in place of the function code (same layers after it)."""
    floor_dir.mkdir(parents=True, exist_ok=True)
    (floor_dir / "predict_handler.py").write_text(FLOOR_HANDLER)
    return dataclasses.replace(
        environment,
        name=f"floor: numpy + pydantic, no-op ({environment.name})",
        path=[floor_dir, *environment.path[1:]],
    )


@dataclass(frozen=True)
class Environment:
    """How to start the child: interpreter command, extra environment, and what goes on its path."""

    name: str
    command: list[str]
    path: list[Path]
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ColdStartRun:
    total_s: float  # spawn to answer
    interpreter_s: float  # spawn to the child's first statement
    import_s: float  # handler import: settings, bundle load, app creation
    first_request_s: float
    status: int


def _child_env(environment: Environment, handler_env: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "POWERTOOLS", "AWS_"))}
    env.update(handler_env)
    env.update(environment.env)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in environment.path)
    env["PYTHONNOUSERSITE"] = "1"
    return env


def write_event_file(directory: Path, event: dict[str, Any]) -> Path:
    """The event and a Lambda context, serialised for the child."""
    path = directory / "event.json"
    path.write_text(json.dumps({"event": event, "context": dataclasses.asdict(LambdaContext())}))
    return path


def run_once(
    environment: Environment, handler_env: Mapping[str, str], event_file: Path, timeout_s: float = 120
) -> ColdStartRun:
    """Spawn one fresh interpreter and time it to its first answer."""
    with tempfile.TemporaryDirectory(prefix="cold-start-") as scratch:
        result_file = Path(scratch) / "result.json"
        env = _child_env(environment, handler_env)
        before_ns = time.time_ns()
        completed = subprocess.run(
            [*environment.command, "-c", CHILD, str(event_file), str(result_file)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            timeout=timeout_s,
            check=False,
            cwd=scratch,
        )
        if completed.returncode != 0 or not result_file.exists():
            raise RuntimeError(
                f"cold start child ({environment.name}) failed with exit code {completed.returncode}:\n"
                f"{completed.stderr[-3000:]}"
            )
        result = json.loads(result_file.read_text())
    if result["status"] != 200:
        raise RuntimeError(f"cold start ({environment.name}) answered {result['status']}: {result['body']}")
    leaked = [m for m in result["heavy_modules"] if m in FORBIDDEN_AT_SERVING]
    if leaked:
        raise RuntimeError(f"the serving path imported {leaked}: they must stay out of the handler's imports")
    return ColdStartRun(
        total_s=(result["wall_answered_ns"] - before_ns) / 1e9,
        interpreter_s=(result["wall_started_ns"] - before_ns) / 1e9,
        import_s=result["import_s"],
        first_request_s=result["first_request_s"],
        status=result["status"],
    )


def import_breakdown(
    environment: Environment, handler_env: Mapping[str, str], top: int = 12, timeout_s: float = 120
) -> dict[str, Any]:
    """``python -X importtime -c 'import predict_handler'``: the top-level imports by cumulative time."""
    completed = subprocess.run(
        [*environment.command, "-X", "importtime", "-c", "import predict_handler"],
        env=_child_env(environment, handler_env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"importtime child failed:\n{completed.stderr[-3000:]}")
    return summarise_importtime(completed.stderr, top)


@dataclass
class _Import:
    name: str
    self_us: int
    cumulative_us: int
    children: list[_Import] = field(default_factory=list)

    @property
    def package(self) -> str:
        return self.name.split(".")[0]


def _import_tree(stderr: str) -> list[_Import]:
    """Rebuild the import tree from ``-X importtime`` lines (children are printed before parents)."""
    pending: dict[int, list[_Import]] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        try:
            self_us, cumulative_us, raw_name = line.removeprefix("import time:").split("|", 2)
            node = _Import(raw_name.strip(), int(self_us), int(cumulative_us))
        except ValueError:
            continue
        level = (len(raw_name) - len(raw_name.lstrip(" ")) - 1) // 2
        node.children = pending.pop(level + 1, [])
        pending.setdefault(level, []).append(node)
    return pending.get(0, [])


def summarise_importtime(stderr: str, top: int) -> dict[str, Any]:
    """Parse ``-X importtime`` output into the packages that cost the most.

    ``top_packages_cumulative_ms``: time from a package's first import from outside it to its
    end, including what it imports (so the figures overlap); ``top_packages_self_ms``: the
    package's own module bodies only (they add up to the total).
    """
    roots = _import_tree(stderr)
    self_ms: dict[str, int] = {}
    cumulative: dict[str, int] = {}
    count = 0
    stack: list[tuple[_Import, str | None]] = [(root, None) for root in roots]
    while stack:
        node, parent_package = stack.pop()
        count += 1
        self_ms[node.package] = self_ms.get(node.package, 0) + node.self_us
        if node.package != parent_package:
            cumulative[node.package] = cumulative.get(node.package, 0) + node.cumulative_us
        stack.extend((child, node.package) for child in node.children)

    def ranked(values: dict[str, int]) -> list[dict[str, Any]]:
        best = sorted(values.items(), key=lambda kv: kv[1], reverse=True)[:top]
        return [{"package": name, "ms": round(us / 1000, 1)} for name, us in best]

    return {
        "total_ms": round(sum(r.cumulative_us for r in roots) / 1000, 1),
        "modules": count,
        "top_packages_cumulative_ms": ranked(cumulative),
        "top_packages_self_ms": ranked(self_ms),
    }


def summarise_runs(runs: Sequence[ColdStartRun]) -> dict[str, Any]:
    """Median (and spread) of several cold starts."""

    def median(values: list[float]) -> float:
        return round(statistics.median(values) * 1000, 1)

    totals = [r.total_s for r in runs]
    return {
        "runs": len(runs),
        "median_ms": median(totals),
        "min_ms": round(min(totals) * 1000, 1),
        "max_ms": round(max(totals) * 1000, 1),
        "median_interpreter_start_ms": median([r.interpreter_s for r in runs]),
        "median_handler_import_ms": median([r.import_s for r in runs]),
        "median_first_request_ms": median([r.first_request_s for r in runs]),
        "all_ms": [round(t * 1000, 1) for t in totals],
    }


def measure(
    environment: Environment,
    handler_env: Mapping[str, str],
    event: dict[str, Any],
    runs: int,
    warmups: int = 1,
    breakdown: bool = True,
) -> dict[str, Any]:
    """Median cold start over ``runs`` fresh processes (after ``warmups`` discarded ones)."""
    with tempfile.TemporaryDirectory(prefix="cold-start-event-") as scratch:
        event_file = write_event_file(Path(scratch), event)
        for _ in range(warmups):
            run_once(environment, handler_env, event_file)
        measured = [run_once(environment, handler_env, event_file) for _ in range(runs)]
    result: dict[str, Any] = {"environment": environment.name, "python": _python_version(environment)}
    result.update(summarise_runs(measured))
    if breakdown:
        result["imports"] = import_breakdown(environment, handler_env)
    return result


def measure_with_floor(
    environment: Environment,
    floor: Environment,
    handler_env: Mapping[str, str],
    event: dict[str, Any],
    runs: int,
    warmups: int = 1,
    breakdown: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The service and its floor, runs alternating (service, floor, service, ...), each summarised.

    On a shared machine the load moves within seconds; alternating gives both the same moments,
    so their ratio describes the code rather than when each was measured.
    """
    with tempfile.TemporaryDirectory(prefix="cold-start-event-") as scratch:
        event_file = write_event_file(Path(scratch), event)
        for _ in range(warmups):
            run_once(environment, handler_env, event_file)
            run_once(floor, handler_env, event_file)
        service_runs: list[ColdStartRun] = []
        floor_runs: list[ColdStartRun] = []
        for _ in range(runs):
            service_runs.append(run_once(environment, handler_env, event_file))
            floor_runs.append(run_once(floor, handler_env, event_file))
    results = []
    for env, measured in ((environment, service_runs), (floor, floor_runs)):
        result: dict[str, Any] = {"environment": env.name, "python": _python_version(env)}
        result.update(summarise_runs(measured))
        results.append(result)
    if breakdown:
        results[0]["imports"] = import_breakdown(environment, handler_env)
    return results[0], results[1]


def _python_version(environment: Environment) -> str:
    completed = subprocess.run(
        [*environment.command, "-c", "import sys; print(sys.version.split()[0])"],
        env=_child_env(environment, {}),
        capture_output=True,
        text=True,
        check=False,
    )
    return completed.stdout.strip() or "unknown"


# Environments --------------------------------------------------------------------------------------


def venv_environment(function_dir: Path, pycache: Path) -> Environment:
    """This interpreter and virtualenv, with Lambda's environment variables; ``.pyc`` kept under
    ``pycache`` (written by the warm-up run)."""
    pycache.mkdir(parents=True, exist_ok=True)
    return Environment(
        name=f"venv (Python {sys.version_info.major}.{sys.version_info.minor}, .pyc cached)",
        command=[sys.executable],
        path=[function_dir],
        env={"PYTHONPYCACHEPREFIX": str(pycache), **lambda_runtime_env(function_dir, "propensity-predict")},
    )


def venv_without_pyc_environment(function_dir: Path, empty_prefix: Path) -> Environment:
    """This interpreter with no usable ``.pyc`` at all: every module compiled at start-up."""
    empty_prefix.mkdir(parents=True, exist_ok=True)
    return Environment(
        name=f"venv (Python {sys.version_info.major}.{sys.version_info.minor}, no .pyc)",
        command=[sys.executable],
        path=[function_dir],
        env={
            "PYTHONPYCACHEPREFIX": str(empty_prefix),
            "PYTHONDONTWRITEBYTECODE": "1",
            **lambda_runtime_env(function_dir, "propensity-predict"),
        },
    )


def snapshot(source: Path, destination: Path) -> Path:
    """A hard-linked copy of a build folder, so a concurrent rebuild cannot delete it mid-run."""
    if not destination.exists():
        staging = destination.with_name(f".{destination.name}.partial")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(source, staging, copy_function=os.link)
        staging.rename(destination)
    return destination


def lambda_runtime_env(task_root: Path, function_name: str) -> dict[str, str]:
    """What the Lambda runtime sets in a function's environment (the parts the libraries read).

    ``LAMBDA_TASK_ROOT`` matters most: with it the X-Ray SDK uses its local sampler (without it,
    it builds a botocore client at import, about half a second here that Lambda never pays), and
    Powertools' Tracer is active and patches the supported libraries, as it does in Lambda.
    """
    return {
        "LAMBDA_TASK_ROOT": str(task_root),
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "7",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        # Subsegments go to the daemon address over UDP: loopback, where nothing listens.
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "_X_AMZN_TRACE_ID": "Root=1-67a1b2c3-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1",
        "TZ": ":UTC",
    }


def lambda_environment(
    python312: list[str],
    code_dir: Path,
    domain_dir: Path,
    runtime_dir: Path,
    provided_dir: Path | None,
    function_name: str = "propensity-predict",
) -> Environment:
    """Python 3.12 with Lambda's search order and environment: function code, then layers, then
    the runtime's own packages (botocore, which Lambda provides and the layer leaves out)."""
    path = [code_dir, domain_dir / "python", runtime_dir / "python"]
    if provided_dir is not None:
        path.append(provided_dir)
    return Environment(
        name="lambda-like (Python 3.12, shipped layers, .pyc by 3.12, read-only, tracer on)",
        command=[*python312, "-s"],
        path=path,
        env={"PYTHONDONTWRITEBYTECODE": "1", **lambda_runtime_env(code_dir, function_name)},
    )
