"""Cold start in instructions: the v2 function and its floor under ``valgrind --tool=callgrind``.

Wall-clock cold starts on a shared machine move by 3x with the load; instruction counts of the
same code agree within 0.1%, so they are the figure to compare a change against. They do not
see file-system or page-fault time (which grows with the number of modules imported): the
bench's wall ratio stays the target, this is the profiler.

    python -m tests.perf.cold_start_instructions             # Python 3.12 + shipped layers
    python -m tests.perf.cold_start_instructions --modules   # also the modules only v2 imports
    python -m tests.perf.cold_start_instructions --keep DIR  # keep callgrind.out.* for callgrind_annotate

Same environment, event and variables as ``make bench``'s cold-start section.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tests.perf import cold_start

# The child of cold_start.CHILD, plus the module list for --modules.
MODULES_TAIL = r"""
with open(result_file + ".modules", "w") as f:
    json.dump(sorted(sys.modules), f)
"""


def callgrind_instructions(
    environment: cold_start.Environment, handler_env: dict[str, str], event_file: Path, keep: Path | None
) -> tuple[int, list[str]]:
    """Instructions from spawn to first answer (``Ir`` of the whole process) and the modules loaded."""
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="cold-callgrind-") as scratch:
        out = Path(scratch) / "callgrind.out"
        result = Path(scratch) / "result.json"
        completed = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                *environment.command,
                "-c",
                cold_start.CHILD + MODULES_TAIL,
                str(event_file),
                str(result),
            ],
            env=cold_start._child_env(environment, handler_env),
            capture_output=True,
            text=True,
            check=False,
            cwd=scratch,
        )
        if completed.returncode != 0 or not result.exists():
            raise RuntimeError(f"callgrind child failed:\n{completed.stderr[-3000:]}")
        answer = json.loads(result.read_text())
        if answer["status"] != 200:
            raise RuntimeError(f"the child answered {answer['status']}: {answer['body']}")
        found = re.search(r"Collected\s*:\s*(\d+)", completed.stderr)
        if found is None:
            raise RuntimeError(f"no instruction count in valgrind's output:\n{completed.stderr[-2000:]}")
        modules: list[str] = json.loads(Path(str(result) + ".modules").read_text())
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(out, keep / f"callgrind.out.{environment.name.split(':')[0].split(' ')[0]}")
        return int(found.group(1)), modules


def main(argv: list[str] | None = None) -> dict[str, Any]:
    from tests.perf import lambda_env
    from tests.perf.handler_latency import handler_env
    from tests.perf.inputs import ensure_bundles
    from tests.perf.run_benchmarks import _first_request

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--modules", action="store_true", help="list the modules v2 imports and the floor does not"
    )
    parser.add_argument("--keep", type=Path, help="copy the callgrind.out files here")
    args = parser.parse_args(argv)

    bundles = ensure_bundles()
    layout = lambda_env.lambda_layout()
    if isinstance(layout, str):
        raise SystemExit(layout)
    asset = lambda_env.function_asset("v2", bundles.bundle_dirs["v2"])
    env = handler_env(bundles, ["v2"])
    env["MODEL_DIR_V2"] = str(asset / "model")
    service = cold_start.lambda_environment(
        layout.python,
        asset,
        layout.domain_layer,
        layout.runtime_layer,
        layout.provided,
        "propensity-predict-v2",
    )
    with tempfile.TemporaryDirectory(prefix="cold-callgrind-floor-") as floor_dir:
        floor = cold_start.floor_environment(service, Path(floor_dir))
        event_file = cold_start.write_event_file(Path(floor_dir), _first_request("v2"))
        service_ir, service_modules = callgrind_instructions(service, env, event_file, args.keep)
        floor_ir, floor_modules = callgrind_instructions(floor, env, event_file, args.keep)
    result = {
        "service_instructions_m": round(service_ir / 1e6, 1),
        "floor_instructions_m": round(floor_ir / 1e6, 1),
        "ratio": round(service_ir / floor_ir, 3),
        "service_modules": len(service_modules),
        "floor_modules": len(floor_modules),
    }
    print(
        f"v2 {result['service_instructions_m']} M / floor {result['floor_instructions_m']} M instructions "
        f"= {result['ratio']}x; modules {len(service_modules)} / {len(floor_modules)}"
    )
    if args.modules:
        extra = sorted(set(service_modules) - set(floor_modules))
        print("only v2:", " ".join(extra))
    return result


if __name__ == "__main__":
    main()
