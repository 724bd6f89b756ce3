"""The monitoring jobs on generated archives: time against the decompression floor, memory, bytes.

``run_jobs_benchmark(n_events)`` (what ``make bench`` calls):

1. generates (or reuses, cached under ``.cache/jobs-bench/<n>/``) an archive of ``n_events``
   PredictionEvents over one week, in the local layout (``predictions/YYYY/MM/DD/HH/*.gz``),
   shaped exactly like the service's (``PredictionEvent.model_dump_json`` templates from the
   synthetic data set), with accepted outcomes for half of them;
2. measures the floor in the same run: ``gzip -dc <the same objects> | wc -l``;
3. runs each job in a child process (the drift job over every hour, the evaluation job over the
   week) and reads the child's peak RSS from ``wait4``, so the generator's memory is not counted;
4. reports bytes scanned per query (what Athena bills: the compressed objects read) and
   extrapolates to 100M predictions a day: bytes per hour and week, monthly cost, what breaks first.

Generation is vectorised over templates (no pydantic per event) and written with gzip level 1,
so 10M events take minutes, once; sizes are arguments.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "jobs-bench"
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday: one evaluation window
HOURS = 7 * 24
EVENTS_PER_OBJECT = 50_000  # about what a 5-minute Firehose buffer holds at 100M a day
TEMPLATES = 2_000
ATHENA_USD_PER_TB = 5.0
# Issue 13's targets (at 10M events): the job's time as a multiple of the floor.
TARGET_X_FLOOR = {"drift": 2.0, "evaluation": 3.0}
FLAT_MEMORY_SLACK = 1.25  # "flat": peak RSS at the larger size within 25% of the smaller's
PER_DAY = 100_000_000
GENERATOR_VERSION = "1"  # bump when the generated shape changes (invalidates the cache)


def _templates(api: str, seed: int) -> list[str]:
    """Event lines with %-placeholders for what varies per event (id, time, score, decision)."""
    from propensity.data.loader import parse_csv
    from propensity.data.synthetic import synthetic_csv
    from propensity.events import PhaseLatency, PredictionEvent
    from propensity.features.schemas import SPECS
    from propensity.features.translate import v1_columns_to_v2_flat

    columns, _ = parse_csv(synthetic_csv(TEMPLATES, seed), "synthetic")
    flat = columns if api == "v1" else v1_columns_to_v2_flat(columns)
    names = SPECS[api].names  # type: ignore[index]
    lines = []
    for i in range(TEMPLATES):
        event = PredictionEvent(
            prediction_id="PID",
            request_id="RID",
            timestamp=START,
            api_version=api,  # type: ignore[arg-type]
            model_version=f"{api}-bench",
            consumer="key-crm",
            features={n: flat[n][i] for n in names},
            probability=0.123456,
            decision="no",
            threshold=0.3,
            confidence="low",
            latency=PhaseLatency(
                validation_ms=0.1, preprocessing_ms=0.2, inference_ms=0.3, serialization_ms=0.1
            ),
        )
        text = event.model_dump_json().replace("%", "%%")
        text = text.replace('"PID"', '"%(pid)s"').replace('"RID"', '"%(rid)s"')
        text = text.replace(json.dumps(START.isoformat().replace("+00:00", "Z")), '"%(ts)s"')
        text = text.replace("0.123456", "%(p)s").replace('"decision":"no"', '"decision":"%(d)s"')
        text = text.replace('"confidence":"low"', '"confidence":"%(c)s"')
        lines.append(text + "\n")
    return lines


def generate(root: Path, n_events: int, seed: int = 7) -> dict[str, Any]:
    """Write the archive and the outcomes; returns what was written."""
    rng = np.random.default_rng(seed)
    templates = {api: _templates(api, seed + k) for k, api in enumerate(("v1", "v2"))}
    per_hour = np.bincount(rng.integers(0, HOURS, size=n_events), minlength=HOURS)
    outcomes: list[str] = []
    objects = 0
    written = 0
    for hour, count in enumerate(per_hour.tolist()):
        start = START + timedelta(hours=hour)
        folder = root / "predictions" / f"{start:%Y/%m/%d/%H}"
        folder.mkdir(parents=True, exist_ok=True)
        p = rng.beta(1.3, 5.0, size=count)
        api = rng.random(count) < 0.5
        which = rng.integers(0, TEMPLATES, size=count)
        seconds = np.sort(rng.integers(0, 3600, size=count))
        labelled = rng.random(count) < 0.5
        subscribed = rng.random(count) < p
        for first in range(0, count, EVENTS_PER_OBJECT):
            chunk = []
            for i in range(first, min(first + EVENTS_PER_OBJECT, count)):
                pid = f"{hour:03d}-{written + i:09d}"
                margin = (p[i] - 0.3) / 0.7 if p[i] >= 0.3 else (0.3 - p[i]) / 0.3
                chunk.append(
                    templates["v1" if api[i] else "v2"][which[i]]
                    % {
                        "pid": pid,
                        "rid": pid,
                        "ts": f"{start + timedelta(seconds=int(seconds[i])):%Y-%m-%dT%H:%M:%S}Z",
                        "p": repr(float(p[i])),
                        "d": "yes" if p[i] >= 0.3 else "no",
                        "c": "high" if margin >= 0.5 else "medium" if margin >= 0.2 else "low",
                    }
                )
                if labelled[i]:
                    outcomes.append(pid if subscribed[i] else "-" + pid)
            (folder / f"bench-{objects:05d}.gz").write_bytes(gzip.compress("".join(chunk).encode(), 1))
            objects += 1
        written += count
    _write_outcomes(root, outcomes)
    return {"events": written, "objects": objects, "outcomes": len(outcomes)}


def _write_outcomes(root: Path, outcomes: list[str]) -> None:
    folder = root / "outcomes" / "accepted"
    folder.mkdir(parents=True, exist_ok=True)
    sha = uuid.uuid4().hex * 2
    ingested = datetime(2026, 3, 20, tzinfo=UTC).isoformat().replace("+00:00", "Z")
    with (folder / f"{sha}.jsonl").open("w") as handle:
        for row, value in enumerate(outcomes):
            pid, answer = (value[1:], "no") if value.startswith("-") else (value, "yes")
            handle.write(
                json.dumps(
                    {
                        "prediction_id": pid,
                        "customer_ref": None,
                        "outcome": answer,
                        "outcome_date": "2026-03-12",
                        "file_sha256": sha,
                        "source_key": "labels/bench.csv",
                        "source_row": row + 2,
                        "ingested_at": ingested,
                    }
                )
                + "\n"
            )


def archive(n_events: int) -> Path:
    """The cached archive of ``n_events`` (generated on first use)."""
    folder = CACHE / f"{n_events}-v{GENERATOR_VERSION}"
    done = folder / "generated.json"
    if not done.exists():
        scratch = Path(tempfile.mkdtemp(prefix="gen-", dir=CACHE.mkdir(parents=True, exist_ok=True) or CACHE))
        started = time.perf_counter()
        facts = generate(scratch, n_events)
        facts["generate_s"] = round(time.perf_counter() - started, 1)
        (scratch / "generated.json").write_text(json.dumps(facts))
        scratch.rename(folder)
    return folder


def floor_seconds(root: Path) -> tuple[float, int]:
    """``gzip -dc | wc -l`` over every archive object: the time to just decompress and count."""
    files = sorted(str(p) for p in (root / "predictions").rglob("*.gz"))
    started = time.perf_counter()
    out = subprocess.run(
        ["sh", "-c", 'gzip -dc "$@" | wc -l', "floor", *files], check=True, capture_output=True, text=True
    )
    return time.perf_counter() - started, int(out.stdout.strip())


CHILD = r"""
import json, sys, time
from datetime import timedelta
from pathlib import Path
root, which, out = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
from propensity.archive.store import LocalArchiveStore
from propensity.query.duckdb_engine import DuckDBEngine
from tests.perf.jobs_bench import START, HOURS, bench_references, bench_baselines
engine = DuckDBEngine(root)
store = LocalArchiveStore(root)
started = time.perf_counter()
if which == "drift":
    from propensity.drift.job import DriftJob
    from propensity.drift.publish import LocalMetricsPublisher
    job = DriftJob(store, engine, bench_references(), LocalMetricsPublisher(), clock=lambda: START + timedelta(days=30))
    summary = job.run_hours([START + timedelta(hours=h) for h in range(HOURS)], force=True)
    facts = {"hours": len(summary.computed), "events": sum(o.result.events for o in summary.computed),
             "failed": len(summary.failed)}
else:
    from propensity.evaluation.job import run_evaluation
    from propensity.evaluation.publish import LocalMetricsPublisher
    from propensity.evaluation.models import Window
    from propensity.policy.evaluation import EvaluationThresholds
    import shutil
    shutil.rmtree(root / "evaluation", ignore_errors=True)  # measure a full re-join
    window = Window(start=START, end=START + timedelta(days=7))
    summary = run_evaluation(store, engine, bench_baselines(), LocalMetricsPublisher(), EvaluationThresholds(),
                             now=START + timedelta(days=8), windows=[window], with_plots=False)
    facts = {"events": summary.events_read, "labelled": sum(r.coverage.labelled for r in summary.results),
             "results": len(summary.results)}
facts["seconds"] = time.perf_counter() - started
facts["queries"] = [{"name": q.name, "seconds": round(q.seconds, 2), "bytes_scanned": q.bytes_scanned,
                     "rows": q.rows} for q in engine.log.queries]
Path(out).write_text(json.dumps(facts))
"""


def bench_references() -> Any:
    """The references the generated traffic is judged against (built from the same synthetic data)."""
    from propensity.data.loader import parse_csv
    from propensity.data.synthetic import synthetic_csv
    from propensity.drift.window import StaticReferences
    from propensity.features.schemas import SPECS
    from propensity.features.translate import v1_columns_to_v2_flat
    from propensity.monitoring.reference import build_reference

    columns, target = parse_csv(synthetic_csv(5_000, 1), "synthetic")
    p = np.random.default_rng(1).beta(1.3, 5.0, size=len(target))
    refs = {}
    for api in ("v1", "v2"):
        flat = columns if api == "v1" else v1_columns_to_v2_flat(columns)
        refs[(api, f"{api}-bench")] = build_reference(SPECS[api], flat, target, p, 0.3)  # type: ignore[index]
    return StaticReferences(refs)


def bench_baselines() -> Any:
    from propensity.evaluation.baselines import Baseline

    class Fixed:
        def baseline(self, api_version: str, model_version: str) -> Baseline:
            return Baseline(f1=0.5, precision=0.4, ece=0.02, threshold=0.3)

    return Fixed()


def run_job(root: Path, which: str, timeout_s: float = 3600) -> dict[str, Any]:
    """One job in a child process: its own figures, wall time and peak RSS (``wait4``)."""
    with tempfile.TemporaryDirectory(prefix="job-bench-") as scratch:
        out = Path(scratch) / "out.json"
        err = Path(scratch) / "err.txt"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        started = time.perf_counter()
        with err.open("w") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-c", CHILD, str(root), which, str(out)],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                cwd=ROOT,
                env=env,
            )
            deadline = time.monotonic() + timeout_s
            while True:
                pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    process.kill()
                    raise RuntimeError(f"the {which} job did not finish within {timeout_s:.0f}s")
                time.sleep(0.05)
        wall = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0 or not out.exists():
            raise RuntimeError(f"the {which} job failed:\n{err.read_text()[-3000:]}")
        facts = json.loads(out.read_text())
    facts["process_wall_s"] = round(wall, 2)
    facts["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)
    return facts


def extrapolate(
    archive_bytes: int, events: int, drift: dict[str, Any], evaluation: dict[str, Any]
) -> dict[str, Any]:
    """Athena figures at 100M predictions a day, from the bytes each query scanned here."""
    per_event = archive_bytes / events
    hour = per_event * PER_DAY / 24
    week = per_event * PER_DAY * 7
    drift_scans = len({q["name"] for q in drift["queries"]})  # each query reads the hour once
    # evaluation_cube reads the window once (one pipeline: scan, number copies, join, count);
    # with customer-reference outcomes in the store its numbered events feed two steps, and
    # Trino, which inlines CTEs, would scan (and bill) the window twice: not the case here.
    eval_prediction_scans = sum(1 for q in evaluation["queries"] if q["name"] == "evaluation_cube")
    drift_month = drift_scans * hour * 24 * 30
    # The weekly run re-joins at most the lookback's 8 windows (all of them when labels arrive for all).
    eval_run_worst = eval_prediction_scans * week * 8
    eval_month_worst = eval_run_worst * 30 / 7
    tb = 1e12
    return {
        "gzip_bytes_per_event": round(per_event, 1),
        "bytes_per_hour_gb": round(hour / 1e9, 2),
        "bytes_per_week_gb": round(week / 1e9, 1),
        "drift_bytes_per_run_gb": round(drift_scans * hour / 1e9, 2),
        "drift_usd_per_month": round(drift_month / tb * ATHENA_USD_PER_TB, 1),
        "evaluation_bytes_per_window_gb": round(eval_prediction_scans * week / 1e9, 1),
        "evaluation_usd_per_run_worst": round(eval_run_worst / tb * ATHENA_USD_PER_TB, 1),
        "evaluation_usd_per_month_worst": round(eval_month_worst / tb * ATHENA_USD_PER_TB, 1),
    }


def run_jobs_benchmark(n_events: int = 1_000_000) -> dict[str, Any]:
    """Both jobs over a generated archive of ``n_events``; figures for docs/performance.md."""
    root = archive(n_events)
    generated = json.loads((root / "generated.json").read_text())
    archive_bytes = sum(p.stat().st_size for p in (root / "predictions").rglob("*.gz"))
    floor_s, lines = floor_seconds(root)
    drift = run_job(root, "drift")
    evaluation = run_job(root, "evaluation")
    floor_again_s, _ = floor_seconds(root)  # the floor after the jobs too: the machine is shared
    floor = min(floor_s, floor_again_s)
    result: dict[str, Any] = {
        "n_events": n_events,
        "lines": lines,
        "objects": generated["objects"],
        "outcomes": generated["outcomes"],
        "generate_s": generated.get("generate_s"),
        "archive_gzip_mib": round(archive_bytes / 2**20, 1),
        "floor_s": round(floor, 2),
        "load_average": os.getloadavg(),
        "drift": drift | {"x_floor": round(drift["seconds"] / floor, 2)},
        "evaluation": evaluation | {"x_floor": round(evaluation["seconds"] / floor, 2)},
        "athena_at_100m_per_day": extrapolate(archive_bytes, lines, drift, evaluation),
    }
    result["rows"] = target_rows(result)
    return result


def target_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per job: its time as a multiple of the floor, the target and whether it is met."""
    return [
        {
            "name": f"{job} job, {result['n_events']:,} events",
            "seconds": round(result[job]["seconds"], 2),
            "x_floor": result[job]["x_floor"],
            "peak_rss_mib": result[job]["peak_rss_mib"],
            "target": f"<= {TARGET_X_FLOOR[job]:g}x floor",
            "met": result[job]["x_floor"] <= TARGET_X_FLOOR[job],
        }
        for job in ("drift", "evaluation")
    ]


def memory_rows(results: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Peak RSS between the smallest and the largest size: flat when within the slack."""
    if len(results) < 2:
        return []
    small, large = results[min(results)], results[max(results)]
    rows = []
    for job in ("drift", "evaluation"):
        ratio = large[job]["peak_rss_mib"] / small[job]["peak_rss_mib"]
        rows.append(
            {
                "name": f"{job} job peak RSS, {large['n_events']:,} vs {small['n_events']:,} events",
                "ratio": round(ratio, 2),
                "target": f"<= {FLAT_MEMORY_SLACK:g}x (flat in the number of events)",
                "met": ratio <= FLAT_MEMORY_SLACK,
            }
        )
    return rows


if __name__ == "__main__":
    sizes = [int(s) for s in sys.argv[1:]] or [1_000_000]
    results = {n: run_jobs_benchmark(n) for n in sizes}
    print(json.dumps({"results": results, "memory": memory_rows(results)}, indent=1))
