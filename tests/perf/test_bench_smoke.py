"""The benchmark harness works: every section runs end to end with tiny counts.

No timing is asserted (this machine is shared and noisy; ``make bench`` measures, tests do
not). What is asserted is what a reader of ``make bench`` relies on: every case was measured
the number of times it says, responses were real answers (the harness raises otherwise), the
serving path imports no training libraries, the load test's server answered every request
and archived one PredictionEvent per scored record, and the report shows every section.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from propensity.constants import API_VERSIONS
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore
from tests.perf.cold_start import summarise_importtime
from tests.perf.handler_latency import usual_single_iterations
from tests.perf.inputs import BenchBundles
from tests.perf.report import RATIOS, render, targets
from tests.perf.run_benchmarks import SECTIONS, Plan, main, run

TINY = Plan(
    single_iterations=6,
    batch_iterations=2,
    rounds=2,
    cold_runs=1,
    load_clients=2,
    load_seconds=1.0,
    load_batch_records=10,
    drift_events=2_000,
    warmup=1,
    cold_warmups=0,
    cold_lambda=False,  # the Python 3.12 variant needs the package index the first time
    reference_max_iter=3,
)


@pytest.fixture(scope="module")
def bench_bundles(trained, tmp_path_factory) -> BenchBundles:
    """The session's trained bundles in a registry of their own, as the benchmark expects."""
    location = tmp_path_factory.mktemp("bench-registry")
    registry = Registry(LocalBlobStore(location))
    versions = {}
    for api in API_VERSIONS:
        manifest = registry.register(trained[api].bundle_path)
        registry.set_alias(api, "champion", manifest.model_version, reason="bench smoke", actor="pytest")
        versions[api] = manifest.model_version
    return BenchBundles(location, {api: trained[api].bundle_path for api in API_VERSIONS}, versions, "test")


@pytest.fixture(scope="module")
def results(bench_bundles) -> dict:
    """One tiny run of every section (about half a minute)."""
    return run(SECTIONS, TINY, bundles=bench_bundles)


def test_every_section_runs(results):
    # Given a tiny plan / When every section runs / Then none failed
    assert results["failed_sections"] == [], {s: results[s] for s in results["failed_sections"]}


def test_handler_cases_are_measured_against_both_references(results):
    # Given the in-process section
    handler = results["handler"]

    # Then every case was timed as often as planned, and every service case has its ratios
    for name, latency in handler["latency"].items():
        expected = TINY.batch_iterations if "batch" in name else TINY.single_iterations
        if name.startswith("usual single"):
            expected = usual_single_iterations(TINY.single_iterations)
        assert latency["n"] == handler["cpu"][name]["n"] == expected, name
        assert 0 < latency["p50_ms"] <= latency["max_ms"]
    assert set(handler["ratios"]) == {"v1 single", "v2 single", "v2 batch of 1000"}
    for ratios in (handler["ratios"], handler["cpu_ratios"]):
        assert all(r["p50_over_floor_p50"] > 0 and r["usual_p50_over_p50"] > 0 for r in ratios.values())


def test_cold_start_answers_from_a_fresh_process_without_training_libraries(results):
    # Given the cold start section (it raises if the child imported sklearn, scipy or pandas)
    cold = results["cold_start"]

    # Then each function answered in a fresh process, and the import breakdown is there
    for name in ("venv v1", "venv v2", "venv v2, no .pyc"):
        assert cold[name]["runs"] == 1
        assert cold[name]["median_ms"] >= cold[name]["median_handler_import_ms"] > 0
    top = [i["package"] for i in cold["venv v2"]["imports"]["top_packages_cumulative_ms"]]
    assert top
    assert not {"sklearn", "scipy", "pandas"} & set(top)


def test_load_test_has_no_errors_and_archives_every_event(results):
    # Given the load test against the local server
    load = results["load_test"]

    # Then every request succeeded and every scored record left one PredictionEvent
    assert load["completed"] > 0
    assert load["errors"] == 0, load["error_kinds"]
    assert load["events_archived"] == load["events_expected"] > 0
    assert load["server_tracebacks"] == 0


def test_jobs_section_times_both_jobs_against_the_floor(results):
    # Given the jobs section over a tiny generated archive
    jobs = results["jobs"]
    (only,) = jobs["sizes"].values()
    assert only["n_events"] == TINY.drift_events

    # Then both jobs ran in processes of their own, each timed against the same floor
    assert {row["name"].split()[0] for row in jobs["rows"]} == {"drift", "evaluation"}
    for row in jobs["rows"]:
        assert row["x_floor"] > 0 and row["peak_rss_mib"] > 0
        assert row["met"] in (True, False)


def test_shipped_size_adds_up(results):
    # Given the size section (layers built by infra/packaging.py, cached by content hash)
    size = results["size"]

    # Then each function's total is its layers plus its code and model
    assert size["architecture"] == "arm64"
    for figures in size["functions"].values():
        parts = size["runtime_layer_mib"] + size["domain_layer_mib"] + figures["code_and_model_mib"]
        assert figures["total_mib"] == pytest.approx(parts, abs=0.2)


def test_report_shows_every_section_and_target(results):
    # When the run is rendered
    text = render(results)

    # Then each section and every target line appears
    for title in ("Warm latency", "Cold start", "Load test", "Monitoring jobs", "Shipped size", "Targets"):
        assert title.lower() in text.lower()
    assert text.count("limit") == len(targets(results))
    # And issue 14's ratios, each beside its target
    assert "Ratios (issues 13 and 14)" in text
    assert text.count("x (target <=") == len(RATIOS)


def test_importtime_summary_attributes_time_to_packages():
    # Given -X importtime output: the handler imports fastapi, which imports pydantic; then json
    stderr = "\n".join(
        [
            "import time: self [us] | cumulative | imported package",
            "import time:       100 |        100 |       pydantic.main",
            "import time:       400 |        500 |     pydantic",
            "import time:      3000 |       3500 |   fastapi",
            "import time:       100 |        100 |   json",
            "import time:       200 |       3800 | predict_handler",
            "import time:        50 |         50 | encodings",
        ]
    )

    # When summarised
    summary = summarise_importtime(stderr, top=3)

    # Then packages are ranked by the time from their first import (including what they import)
    assert summary["top_packages_cumulative_ms"] == [
        {"package": "predict_handler", "ms": 3.8},
        {"package": "fastapi", "ms": 3.5},
        {"package": "pydantic", "ms": 0.5},
    ]
    # And by their own modules' time, which adds up to the total
    assert summary["top_packages_self_ms"][0] == {"package": "fastapi", "ms": 3.0}
    assert summary["total_ms"] == 3.9
    assert summary["modules"] == 6


def test_main_writes_json_and_fails_on_a_broken_section(tmp_path: Path, monkeypatch, bench_bundles):
    # Given a section that breaks
    from tests.perf import run_benchmarks

    def broken(bundles, plan):
        raise RuntimeError("boom")

    monkeypatch.setitem(run_benchmarks.BENCHMARKS, "size", broken)
    monkeypatch.setattr(run_benchmarks, "ensure_bundles", lambda: bench_bundles)
    out = tmp_path / "latest.json"

    # When make bench's entry point runs only that section
    code = main(["--only", "size", "--out", str(out), "--normal-priority"])

    # Then it exits non-zero and the JSON says which section failed and why
    written = json.loads(out.read_text())
    assert code == 1
    assert written["failed_sections"] == ["size"]
    assert written["size"]["error"] == "RuntimeError: boom"
