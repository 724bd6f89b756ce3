"""The issue's targets checked against a run's results, and the run as a readable table."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The targets (issue 3, "Targets"), in the units the results use.
WARM_P50_MS = 1.0
WARM_P99_MS = 5.0
BATCH_MS = 50.0
COLD_START_MS = 1000.0
SHIPPED_MIB = 150.0
SHIPPED_AIM_MIB = 120.0
DRIFT_SECONDS = 60.0
DRIFT_PEAK_MIB = 1024.0  # 1 GB, read as 1 GiB as the drift capability's benchmark states it


def _get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _target(name: str, limit: float, measured: Any, unit: str) -> dict[str, Any]:
    value = None if measured is None else float(measured)
    return {
        "target": name,
        "limit": limit,
        "measured": None if value is None else round(value, 3),
        "unit": unit,
        "met": None if value is None else value <= limit,
    }


def _drift_seconds(drift: dict[str, Any]) -> Any:
    figures = drift.get("figures") or {}
    for key in ("seconds", "elapsed_s", "wall_s", "job_seconds", "total_seconds"):
        if isinstance(figures.get(key), int | float):
            return figures[key]
    return drift.get("process_wall_s")


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue that this run measured (``met`` is None when not measured)."""
    latency = _get(results, "handler", "latency") or {}
    batch_name = next((k for k in latency if k.startswith("v2 batch")), "v2 batch")
    found = [
        _target("warm p50, v1 single", WARM_P50_MS, _get(latency, "v1 single", "p50_ms"), "ms"),
        _target("warm p99, v1 single", WARM_P99_MS, _get(latency, "v1 single", "p99_ms"), "ms"),
        _target("warm p50, v2 single", WARM_P50_MS, _get(latency, "v2 single", "p50_ms"), "ms"),
        _target("warm p99, v2 single", WARM_P99_MS, _get(latency, "v2 single", "p99_ms"), "ms"),
        _target("warm p50, v2 batch of 1,000", BATCH_MS, _get(latency, batch_name, "p50_ms"), "ms"),
    ]
    cold = results.get("cold_start") or {}
    lambda_medians = [v["median_ms"] for k, v in cold.items() if k.startswith("lambda") and "median_ms" in v]
    venv_medians = [
        v["median_ms"] for k, v in cold.items() if k in ("venv v1", "venv v2") and "median_ms" in v
    ]
    found.append(
        _target(
            "cold start, Python 3.12 + shipped layers (worst function, median)",
            COLD_START_MS,
            max(lambda_medians) if lambda_medians else None,
            "ms",
        )
    )
    found.append(
        _target(
            "cold start, dev virtualenv (worst function, median)",
            COLD_START_MS,
            max(venv_medians) if venv_medians else None,
            "ms",
        )
    )
    load = results.get("load_test") or {}
    found.append(_target("load test errors", 0, load.get("errors"), "requests"))
    drift = results.get("drift") or {}
    if "figures" in drift:
        figures = drift["figures"]
        n = f"{drift['n_events']:,} events"
        seconds_limit = float(figures.get("target_seconds", DRIFT_SECONDS))
        found.append(_target(f"drift job over {n}", seconds_limit, _drift_seconds(drift), "s"))
        rss_limit = float(figures.get("target_rss_mib", DRIFT_PEAK_MIB))
        found.append(
            _target(f"drift job peak RSS over {n}", rss_limit, drift.get("process_peak_rss_mib"), "MiB")
        )
    backtest = results.get("backtest") or {}
    if "wall_s" in backtest:
        found.append(
            _target(
                f"backtest, {backtest['months']} months ({backtest['jobs']} jobs)",
                float(backtest["target_s"]),
                backtest["wall_s"],
                "s",
            )
        )
    size = results.get("size") or {}
    found.append(_target("shipped size, arm64, unzipped", SHIPPED_MIB, size.get("largest_total_mib"), "MiB"))
    return found


# Issue 14's ratios, each within one run (CPU time of the calling thread, p50) ----------------
# One entry per ratio: (what, target, the figure from a run's results or None). A section a
# helper adds registers its ratios by appending here.


def _cpu_p50(results: dict[str, Any], prefix: str) -> float | None:
    cpu = _get(results, "handler", "cpu") or {}
    name = next((k for k in cpu if k.startswith(prefix)), None)
    return None if name is None else float(cpu[name]["p50_ms"])


def _over(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def _cold_median(results: dict[str, Any], name: str) -> float | None:
    value = _get(results, "cold_start", name, "median_ms")
    return None if value is None else float(value)


RatioFigure = Callable[[dict[str, Any]], float | None]
RATIOS: list[tuple[str, float, RatioFigure]] = [
    (
        "v2 batch of 1,000 / usual pandas + Pipeline batch (v2 hyperparameters)",
        0.5,
        lambda r: _over(_cpu_p50(r, "v2 batch"), _cpu_p50(r, "usual batch")),
    ),
    (
        "v2 batch of 1,000 / tree evaluation alone (served v2 model)",
        2.0,
        lambda r: _over(_cpu_p50(r, "v2 batch"), _cpu_p50(r, "trees alone")),
    ),
    (
        "trees, 1 row / onnxruntime",
        1.0,
        lambda r: _get(r, "trees", "ratios", "service over onnxruntime, 1 row"),
    ),
    (
        "trees, 1,000 rows / onnxruntime",
        1.0,
        lambda r: _get(r, "trees", "ratios", "service over onnxruntime, 1000 rows"),
    ),
    (
        "v2 single / no-op FastAPI + Mangum floor",
        3.0,
        lambda r: _over(_cpu_p50(r, "v2 single"), _cpu_p50(r, "floor single (no-op, lifespan off)")),
    ),
    (
        "cold start, Python 3.12 + layers, v2 / numpy + pydantic no-op floor",
        2.0,
        lambda r: _over(_cold_median(r, "lambda 3.12 v2"), _cold_median(r, "lambda 3.12 floor")),
    ),
    (
        "cold start, dev venv, v2 / numpy + pydantic no-op floor",
        2.0,
        lambda r: _over(_cold_median(r, "venv v2"), _cold_median(r, "venv floor")),
    ),
]


def _job_x_floor(results: dict[str, Any], job: str) -> float | None:
    rows = _get(results, "jobs", "rows") or []
    return next((float(r["x_floor"]) for r in rows if r["name"].startswith(job)), None)


def _job_memory(results: dict[str, Any], job: str) -> float | None:
    rows = _get(results, "jobs", "memory") or []
    return next((float(r["ratio"]) for r in rows if r["name"].startswith(job)), None)


# Issue 13's job targets (at the largest size the run measured), printed with the ratios.
RATIOS += [
    ("drift job / gzip -dc | wc -l floor (largest archive)", 2.0, lambda r: _job_x_floor(r, "drift")),
    ("evaluation job / floor (largest archive)", 3.0, lambda r: _job_x_floor(r, "evaluation")),
    ("drift job peak RSS, 10M / 1M events (flat)", 1.25, lambda r: _job_memory(r, "drift")),
    ("evaluation job peak RSS, 10M / 1M events (flat)", 1.25, lambda r: _job_memory(r, "evaluation")),
]


def ratios(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every issue-14 ratio this run measured, beside its target (``met`` None: not measured)."""
    found = []
    for name, limit, figure in RATIOS:
        try:
            value = figure(results)
        except (KeyError, TypeError, ValueError):
            value = None
        found.append(_target(name, limit, value, "x"))
    return found


# Rendering -------------------------------------------------------------------------------------


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _latency_rows(title: str, rows: dict[str, dict[str, Any]], digits: int = 3) -> list[str]:
    width = max([len(title), *(len(k) for k in rows)]) + 2
    header = f"{title:<{width}}{'n':>8}{'mean':>10}{'p50':>10}{'p90':>10}{'p99':>10}{'max':>10}"
    lines = [header, "-" * len(header)]
    for name, s in rows.items():
        lines.append(
            f"{name:<{width}}{s['n']:>8,}"
            + "".join(
                f"{_num(s[k], digits):>10}" for k in ("mean_ms", "p50_ms", "p90_ms", "p99_ms", "max_ms")
            )
        )
    return lines


def _section_error(name: str, section: Any) -> list[str] | None:
    if not isinstance(section, dict):
        return None
    if "error" in section:
        return [f"{name}: FAILED: {section['error']}"]
    if "skipped" in section:
        return [f"{name}: skipped: {section['skipped']}"]
    return None


def _handler_lines(handler: dict[str, Any]) -> list[str]:
    lines = _latency_rows("Warm latency, handler in process (ms)", handler["latency"])
    lines.append("")
    if "cpu" in handler:
        lines += _latency_rows("Same calls, CPU time of the calling thread (ms)", handler["cpu"])
        lines.append("")
    lines.append("Ratios within this run, wall clock (CPU time in brackets):")
    for name, wall in handler["ratios"].items():
        cpu = handler.get("cpu_ratios", {}).get(name, {})

        def both(key: str, wall: dict[str, Any] = wall, cpu: dict[str, Any] = cpu) -> str:
            return f"{_num(wall[key], 1)}x ({_num(cpu.get(key), 1)}x)"

        lines.append(
            f"  {name}: p50 = {both('p50_over_floor_p50')} the floor's; the usual approach's p50 = "
            f"{both('usual_p50_over_p50')} this p50, its p99 = {both('usual_p99_over_p99')} this p99"
        )
    return lines


def _cold_lines(cold: dict[str, Any]) -> list[str]:
    title = "Cold start, fresh process to first answer (ms)"
    width = max(len(title), *(len(k) for k in cold)) + 2
    columns = "".join(f"{c:>9}" for c in ("runs", "median", "min", "max", "interp", "import", "1st req"))
    header = f"{title:<{width}}{columns}"
    lines = [header, "-" * len(header)]
    for name, r in cold.items():
        if "median_ms" not in r:
            lines.append(f"{name:<{width}}{r.get('skipped') or r.get('error')}")
            continue
        lines.append(
            f"{name:<{width}}{r['runs']:>9}{r['median_ms']:>9.0f}{r['min_ms']:>9.0f}{r['max_ms']:>9.0f}"
            f"{r['median_interpreter_start_ms']:>9.0f}{r['median_handler_import_ms']:>9.0f}"
            f"{r['median_first_request_ms']:>9.0f}"
        )
    for name, r in cold.items():
        imports = r.get("imports") if isinstance(r, dict) else None
        if imports:
            top = ", ".join(
                f"{i['package']} {i['ms']:.0f}" for i in imports["top_packages_cumulative_ms"][:10]
            )
            own = ", ".join(f"{i['package']} {i['ms']:.0f}" for i in imports["top_packages_self_ms"][:8])
            lines.append(
                f"  imports ({name}, Python {r.get('python')}): {imports['total_ms']:.0f} ms in "
                f"{imports['modules']} modules\n    by package, cumulative ms: {top}\n"
                f"    by package, own ms: {own}"
            )
    return lines


def _load_lines(load: dict[str, Any]) -> list[str]:
    lines = [
        f"Load test, 127.0.0.1: {load['clients']} clients for {load['duration_s']} s: {load['completed']:,} "
        f"requests, {load['throughput_rps']:,.0f} req/s ({load['records_per_s']:,.0f} records/s), "
        f"{load['errors']} errors {load['error_kinds'] or ''}",
        f"  PredictionEvents archived {load['events_archived']:,} of {load['events_expected']:,} scored; "
        f"server tracebacks {load['server_tracebacks']}; mix {load['mix']}",
    ]
    if "client_processes" in load:  # which side was saturated: CPU seconds over the run
        lines.append(
            f"  CPU: clients {load['client_cpu_s']} s in {load['client_processes']} processes, "
            f"server {load['server_cpu_s']} s (one process), over {load['duration_s']} s"
        )
    rows = dict(load["latency_by_kind"])
    if load.get("latency_all"):
        rows["all"] = load["latency_all"]
    lines += _latency_rows("  client-side latency (ms)", rows, 2)
    return lines


def _drift_lines(drift: dict[str, Any]) -> list[str]:
    figures = ", ".join(
        f"{k} {_num(v)}" for k, v in drift["figures"].items() if not isinstance(v, dict | list)
    )
    return [
        f"Drift job: {drift['n_events']:,} events; process wall {drift['process_wall_s']} s, "
        f"peak RSS {drift['process_peak_rss_mib']} MiB",
        f"  its figures: {figures}",
    ]


def _size_lines(size: dict[str, Any]) -> list[str]:
    lines = [
        f"Shipped size ({size['architecture']}, unzipped MiB): runtime layer {size['runtime_layer_mib']}, "
        f"domain layer {size['domain_layer_mib']}, .pyc in runtime layer: {size['runtime_layer_pyc']}"
    ]
    for api, f in size["functions"].items():
        lines.append(
            f"  predict-{api}: code + model {f['code_and_model_mib']} (model {f['model_mib']}); "
            f"total {f['total_mib']} MiB (target <= {SHIPPED_MIB:.0f}, aim {SHIPPED_AIM_MIB:.0f})"
        )
    lines.append(
        "  largest in the runtime layer: "
        + ", ".join(f"{p['name']} {p['mib']}" for p in size["runtime_layer_largest"])
    )
    return lines


def _trees_lines(trees: dict[str, Any]) -> list[str]:
    m = trees["model"]
    lines = _latency_rows(
        f"Trees alone, {m['trees']} trees of depth {m['depth']}, {m['columns']} columns (CPU ms)",
        trees["cpu"],
        4,
    )
    parity = ", ".join(f"{k} {v:.2g}" for k, v in trees["parity"].items())
    lines.append(f"  parity: {parity}; onnxruntime {trees['onnxruntime']}")
    return lines


def _jobs_lines(jobs: dict[str, Any]) -> list[str]:
    lines = ["Monitoring jobs (DuckDB), each in its own process, against `gzip -dc | wc -l` (the floor)"]
    for n, result in jobs["sizes"].items():
        for row in result["rows"]:
            lines.append(
                f"  {row['name']}: {row['seconds']} s = {row['x_floor']}x floor "
                f"({result['floor_s'] if 'floor_s' in result else '-'} s), peak RSS {row['peak_rss_mib']} MiB"
            )
    for row in jobs.get("memory") or []:
        lines.append(f"  {row['name']}: {row['ratio']}x")
    return lines


def render(results: dict[str, Any]) -> str:
    """The whole run as plain text."""
    m = results["machine"]
    lines = [
        f"Machine: {m['cpu_model']}, {m['cpu_count']} cores, {m['memory_gib']} GiB, {m['machine']}, "
        f"Python {m['python']}, load average {m['load_average_1_5_15']} (at start), "
        f"niceness {m.get('niceness', 0)}",
        f"Models: {results['bundles']['model_versions']} ({results['bundles']['source']})",
        "",
    ]
    renderers = {
        "handler": _handler_lines,
        "cold_start": _cold_lines,
        "load_test": _load_lines,
        "drift": _drift_lines,
        "jobs": _jobs_lines,
        "size": _size_lines,
    }
    for name, renderer in renderers.items():
        if name not in results:
            continue
        section = results[name]
        problem = _section_error(name, section)
        lines += problem if problem is not None else renderer(section)
        lines.append("")
    if "trees" in results and _section_error("trees", results["trees"]) is None:
        lines += _trees_lines(results["trees"]) + [""]
    lines.append("Targets (issue 3)")
    for t in results["targets"]:
        mark = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        measured = f"{_num(t['measured'], 2)} {t['unit']}"
        lines.append(f"  [{mark:^12}] {t['target']}: {measured} (limit {_num(t['limit'], 1)})")
    lines.append("")
    lines.append("Ratios (issues 13 and 14), each within this run: measured / target")
    for t in results.get("ratios") or ratios(results):
        mark = {True: "met", False: "NOT MET", None: "not measured"}[t["met"]]
        lines.append(f"  [{mark:^12}] {t['target']}: {_num(t['measured'], 2)}x (target <= {t['limit']}x)")
    lines.append(f"\nTotal benchmark time {results['seconds']} s")
    return "\n".join(lines)
