"""Proof by replay: a static champion against a retrained challenger, decided on real outcomes.

Test/demo helper (not shipped to Lambda). The Bank Marketing rows are in date order and drift
hard (the subscription rate climbs), which is what makes a retrained model worth testing:

1. the **champion** is trained with the committed v2 config on the base rows up to
   ``base_until`` (2008-11) and stays fixed. It serves the next months (to
   ``production_until``, 2009-04) as production traffic, whose outcomes are ingested
   (``propensity.training.replay``, as the retraining tests do);
2. ``propensity retrain`` trains the **challenger** on the base rows plus those production
   outcomes and runs the real gate against the champion, recording the verdict. If the gate
   passed, the experiment starts without an override; if only its absolute floors failed, the
   start records an override that names them; any failed comparison with the champion (or
   integrity check) stops the replay: no experiment for a refused challenger;
3. the pre-registration reads the champion's conversion and call rate on the last rows before
   the experiment (their outcomes are known), and ``propensity experiment start`` records the
   design (mSPRT on net return per customer, alpha 0.05, power 0.8) and its MDE;
4. the rows after ``production_until`` (11,034) are replayed as ``weeks`` weeks of v2 traffic
   through the real service app (``create_app``, ``POST /v2/predict/batch``, a ``customer_ref`` per row) with
   the experiment hook on: the service assigns each customer, scores with that arm's model and
   writes the PredictionEvents, which are then placed on the replay's calendar;
5. each week the real outcomes known by then (7 to 27 days after each prediction) are dropped
   as label files and ingested with ``propensity ingest-labels``, and ``propensity experiment
   status`` is read: the daily peeking the sequential test allows. After the traffic ends,
   outcome-only weeks follow until every outcome is known (the test counts customers with
   outcomes);
6. once the pre-registered test decides, ``propensity experiment stop`` sends all traffic back
   to the champion (the running app picks it up at its next poll) and ``propensity experiment report`` writes the HTML report.

Run as ``python -m tests.e2e.experiment_replay [--workdir DIR]`` to print the figures, or
through the slow e2e test.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from propensity.archive.layout import LocalArchiveWriter
from propensity.archive.reader import iter_window_events
from propensity.archive.store import LocalArchiveStore
from propensity.cli import main as cli
from propensity.constants import EXPERIMENT_ARM_HEADER
from propensity.data.loader import BankDataset, load_bank_marketing
from propensity.events import PredictionEvent
from propensity.features.translate import v1_to_v2
from propensity.gate.report import Check, GateReport
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore
from propensity.training.replay import month_rows, replay_month

SEED = 20260601


@dataclass(frozen=True)
class Plan:
    # the static champion's data: 2008-05..2008-11, 27,716 rows (61%; before that some v2
    # inputs are still constant)
    base_until: str = "2008-11"
    # served by the champion, outcomes ingested, then retrained on: 6,461 rows (76% in all)
    production_until: str = "2009-04"
    backtest_months: int = 3  # the retrain's backtest, what the gate judges on time
    pre_period_rows: int = 2000  # the champion's base rates: the last rows before the experiment
    arm_share: float = 0.5  # challenger's share of customers
    weeks: int = 8
    start: datetime = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday, in the past (outcome dates must be)
    batch_size: int = 100
    min_delay_days: int = 7
    max_delay_days: int = 27


@dataclass
class ReplayResult:
    workdir: Path
    champion: str
    challenger: str
    experiment_id: str
    rows: int
    gate: GateOutcome
    weekly: list[dict[str, Any]] = field(default_factory=list)
    decided_week: int | None = None
    after_stop_arms: set[str] = field(default_factory=set)
    analysis: dict[str, Any] = field(default_factory=dict)
    start_output: str = ""
    report: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)


def _run(argv: list[str], allowed: tuple[int, ...] = (0,)) -> str:
    """A real command; its output; an error if it exits with another code than ``allowed``."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = cli(argv)
    if code not in allowed:
        raise RuntimeError(f"propensity {' '.join(argv)} exited {code}: {buffer.getvalue()[-2000:]}")
    return buffer.getvalue()


def _train_champion(dataset: BankDataset, base_until: str, out: Path) -> Path:
    """The static champion: the committed v2 config on the base rows up to ``base_until``.

    No backtest of its own: the gate scores the champion as shipped on the challenger's
    backtest months, which all come after its training data."""
    from propensity.training.retrain import base_data
    from propensity.training.train import train_bundle

    base = base_data(dataset, base_until)
    return train_bundle(base, "v2", out, progress=lambda _m: None, with_time_split=False).bundle_path


@dataclass(frozen=True)
class GateOutcome:
    challenger: str
    passed: bool
    output: str
    report: GateReport


def _retrain_and_gate(
    registry_dir: Path, archive_dir: Path, dataset: BankDataset, plan: Plan, report_dir: Path
) -> GateOutcome:
    """``propensity retrain``: base rows + the champion's labelled production rows, the real gate
    against the champion, the verdict recorded in the registry (exit 3 when the gate fails)."""
    argv = ["retrain", "--api", "v2", "--registry", str(registry_dir), "--archive", str(archive_dir),
            "--base-until", plan.base_until, "--backtest-months", str(plan.backtest_months),
            "--report", str(report_dir)]  # fmt: skip
    if Path(dataset.source).is_file():
        argv += ["--data", dataset.source]
    output = _run(argv, allowed=(0, 3))
    challenger = output.split(": ", 1)[1].split(" ", 1)[0]
    (report_path,) = report_dir.glob(f"gate-{challenger}-*.json")
    report = GateReport.model_validate_json(report_path.read_text())
    return GateOutcome(challenger, report.passed, output, report)


def is_comparison(check: Check) -> bool:
    """A check of the challenger against the champion (the rest are absolute floors or integrity)."""
    return "champion" in check.name


def _override_reason(gate: GateOutcome, plan: Plan) -> str:
    """Why the replay starts an experiment the gate refused; only floors may be overridden."""
    failures = gate.report.failures()
    refused = [c.name for c in failures if c.kind == "integrity" or is_comparison(c)]
    if refused:
        raise RuntimeError(f"the gate refuses {gate.challenger} on {refused}: no experiment")
    names = "; ".join(c.name for c in failures)
    return (
        f"only the gate's absolute floors failed ({names}): they are set for models trained on the whole "
        f"2008-2010 file, which one trained up to {plan.production_until} cannot reach; every comparison "
        "with the champion passed (issue 12 revisits the floors)"
    )


def _base_rates(registry: Registry, champion: str, dataset: BankDataset, first: int, last: int, cache: Path):
    """The champion's conversion among calls and its call rate on rows [first, last)."""
    from propensity.features.translate import v1_columns_to_v2_flat

    bundle = registry.load("v2", champion, cache)
    part = dataset.take(np.arange(first, last))
    scores = bundle.model.score(v1_columns_to_v2_flat(part.columns))
    calls = scores.decision.astype(bool)
    conversion = float(part.target[calls].mean()) if calls.any() else 0.5
    return conversion, float(calls.mean())


def _client(registry: Registry, champion_dir: Path, staging: Path) -> Any:
    from propensity.service.app import create_app
    from propensity.service.settings import ServiceSettings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    settings = ServiceSettings(
        api_versions=("v2",),
        model_dir_v2=champion_dir,
        archive_dir=staging,
        metrics_flush="off",
        events_to_stdout=False,
        experiment_registry=registry.store.location,
    )
    return TestClient(create_app(settings))


def _post_rows(
    client: Any, records: list[dict[str, Any]], first_index: int, batch: int
) -> tuple[list[str], set[str]]:
    ids: list[str] = []
    arms: set[str] = set()
    for start in range(0, len(records), batch):
        body = {
            "records": [
                {**v1_to_v2(r), "customer_ref": f"cust-{first_index + start + k:06d}"}
                for k, r in enumerate(records[start : start + batch])
            ]
        }
        response = client.post("/v2/predict/batch", json=body)
        if response.status_code != 200:
            raise RuntimeError(f"replay batch refused: {response.status_code} {response.text[:300]}")
        arms.update(a for a in response.headers.get(EXPERIMENT_ARM_HEADER, "").split(",") if a)
        ids.extend(r["prediction_id"] for r in response.json()["results"])
    return ids, arms


def _label_rows(events: list[tuple[PredictionEvent, int]], outcome: np.ndarray, day_of: dict[str, date]):
    return [
        {
            "prediction_id": e.prediction_id,
            "outcome": "yes" if outcome[i] else "no",
            "outcome_date": str(day_of[e.prediction_id]),
        }
        for e, i in events
    ]


def run_replay(dataset: BankDataset, workdir: Path, plan: Plan | None = None, progress=print) -> ReplayResult:
    plan = plan or Plan()
    clock = time.perf_counter()
    registry_dir, archive_dir = workdir / "registry", workdir / "archive"
    registry = Registry(LocalBlobStore(registry_dir))
    n = len(dataset)
    months = dataset.calendar_months()
    production_months = sorted({str(m) for m in months if plan.base_until < m <= plan.production_until})
    cut = int(np.flatnonzero(months <= plan.production_until)[-1]) + 1
    progress(f"training the static champion on the base rows up to {plan.base_until}")
    champion = registry.register(_train_champion(dataset, plan.base_until, workdir / "bundles")).model_version
    registry.set_alias("v2", "champion", champion, reason="static champion of the replay", actor="replay")
    champion_bundle = registry.load("v2", champion, workdir / "cache")
    archive = LocalArchiveStore(archive_dir)
    served = sum(replay_month(archive, champion_bundle, month_rows(dataset, m), m) for m in production_months)
    progress(f"the champion served {served} rows of {production_months[0]}..{production_months[-1]}")
    gate = _retrain_and_gate(registry_dir, archive_dir, dataset, plan, workdir / "gate")
    progress(gate.output.strip())
    timings = {"train_s": time.perf_counter() - clock}

    conversion, call_rate = _base_rates(
        registry, champion, dataset, cut - plan.pre_period_rows, cut, workdir / "cache"
    )
    late = dataset.take(np.arange(cut, n))
    rows = len(late)
    override = [] if gate.passed else ["--override-gate", _override_reason(gate, plan)]
    start_output = _run(
        [
            "experiment", "start", "--api", "v2", "--registry", str(registry_dir),
            "--challenger", gate.challenger, "--share", str(plan.arm_share),
            "--planned-customers", str(rows), "--primary", "net_return",
            "--base-conversion", f"{conversion:.4f}", "--base-call-rate", f"{call_rate:.4f}",
            "--salt", f"replay-salt-{SEED}", "--now", plan.start.isoformat(),
            "--reason", f"retrained on {served} production outcomes up to {plan.production_until}",
            *override,
        ]
    )  # fmt: skip
    progress(start_output.strip())
    experiment_id = start_output.split(":", 1)[0].strip()
    result = ReplayResult(
        workdir, champion, gate.challenger, experiment_id, rows, gate=gate, start_output=start_output
    )

    client = _client(registry, champion_bundle.path, workdir / "staging")
    writer = LocalArchiveWriter(archive_dir)
    records = late.records()
    step = timedelta(weeks=plan.weeks) / rows
    rng = np.random.default_rng(SEED)
    delays = rng.integers(plan.min_delay_days, plan.max_delay_days + 1, size=rows)
    per_week = int(np.ceil(rows / plan.weeks))
    written: list[tuple[PredictionEvent, int]] = []
    outcome_day: dict[str, date] = {}
    dropped: set[str] = set()
    stopped_at: datetime | None = None
    # Traffic for ``weeks`` weeks, then outcome-only weeks until the last outcome is known: the
    # test is sized in customers with outcomes, and those keep arriving after the data runs out.
    for week in range(plan.weeks + -(-(plan.max_delay_days + 1) // 7)):
        first, last = week * per_week, min(rows, (week + 1) * per_week)
        ids: list[str] = []
        arms: set[str] = set()
        staged: dict[str, PredictionEvent] = {}
        if first < last:
            staging_before = {e.prediction_id for e in _staged(workdir / "staging")}
            ids, arms = _post_rows(client, records[first:last], first, plan.batch_size)
            staged = {
                e.prediction_id: e
                for e in _staged(workdir / "staging")
                if e.prediction_id not in staging_before
            }
        week_events = []
        for k, pid in enumerate(ids):
            index = first + k
            event = staged[pid].model_copy(update={"timestamp": plan.start + step * index})
            week_events.append(event)
            written.append((event, index))
            outcome_day[pid] = (event.timestamp + timedelta(days=int(delays[index]))).date()
        by_hour: dict[datetime, list[PredictionEvent]] = {}
        for event in week_events:
            by_hour.setdefault(event.timestamp.replace(minute=0, second=0, microsecond=0), []).append(event)
        for hour in sorted(by_hour):
            writer.write(by_hour[hour])
        week_end = plan.start + timedelta(weeks=week + 1)
        known = [
            (e, i)
            for e, i in written
            if e.prediction_id not in dropped and outcome_day[e.prediction_id] < week_end.date()
        ]
        _drop_labels(
            workdir,
            f"outcomes-week{week + 1:02d}.jsonl",
            _label_rows(known, late.target, outcome_day),
            archive_dir,
        )
        dropped.update(e.prediction_id for e, _ in known)
        status = _run(
            ["experiment", "status", "--api", "v2", "--registry", str(registry_dir), "--archive", str(archive_dir),
             "--now", week_end.isoformat(), "--resamples", "200"]
        )  # fmt: skip
        decided = next(line for line in status.splitlines() if line.startswith("decision:"))
        test_line = next((line.strip() for line in status.splitlines() if line.startswith("  test on")), "")
        progress(
            f"week {week + 1}: {len(ids)} predictions (arms {sorted(arms) or 'none'}), "
            f"{len(dropped)} outcomes known; {decided}"
        )
        result.weekly.append({"week": week + 1, "predictions": len(ids), "arms": sorted(arms),
                              "outcomes_known": len(dropped), "decision": decided, "test": test_line})  # fmt: skip
        if result.decided_week is None and "not decided yet" not in decided and "no outcomes" not in decided:
            result.decided_week = week + 1
            stopped_at = week_end
            _run(["experiment", "stop", "--api", "v2", "--registry", str(registry_dir), "--now", week_end.isoformat(),
                  "--reason", "pre-registered test decided", "--decision", decided.removeprefix("decision: ")])  # fmt: skip
            time.sleep(2.5)  # the running app notices the stop at its next registry poll
        if len(dropped) == len(written) and first >= last:
            break  # every outcome is known
    # All remaining outcomes arrive, then the report.
    final_day = (plan.start + timedelta(weeks=plan.weeks, days=plan.max_delay_days + 1)).date()
    rest = [(e, i) for e, i in written if e.prediction_id not in dropped]
    _drop_labels(workdir, "outcomes-final.jsonl", _label_rows(rest, late.target, outcome_day), archive_dir)
    if stopped_at is None:
        # Every outcome is in and the test never decided: stop without a decision.
        stopped_at = datetime.combine(final_day, datetime.min.time(), UTC)
        _run(["experiment", "stop", "--api", "v2", "--registry", str(registry_dir), "--now", stopped_at.isoformat(),
              "--reason", "every outcome known, test not decided"])  # fmt: skip
        time.sleep(2.5)
    _, after = _post_rows(client, records[:200], 10**6, plan.batch_size)  # traffic after the stop
    result.after_stop_arms = after
    report = workdir / "experiment.html"
    figures = workdir / "experiment.json"
    report_output = _run(
        ["experiment", "report", "--api", "v2", "--registry", str(registry_dir), "--archive", str(archive_dir),
         "--now", datetime.combine(final_day, datetime.min.time(), UTC).isoformat(),
         "--out", str(report), "--json", str(figures)]
    )  # fmt: skip
    progress(report_output.strip())
    result.report = report
    result.analysis = json.loads(figures.read_text())
    timings["total_s"] = time.perf_counter() - clock
    result.timings = timings
    return result


def _staged(staging: Path) -> list[PredictionEvent]:
    store = LocalArchiveStore(staging)
    now = datetime.now(UTC)
    return list(iter_window_events(store, now - timedelta(days=1), now + timedelta(hours=2)))


def _drop_labels(workdir: Path, name: str, rows: list[dict[str, str]], archive: Path) -> None:
    if not rows:
        return
    path = workdir / "labels-out" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    _run(["ingest-labels", "--archive", str(archive), str(path)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workdir", default=".local/experiment-replay")
    parser.add_argument("--data", default=None)
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    result = run_replay(load_bank_marketing(Path(args.data) if args.data else None), workdir)
    print(json.dumps({"decided_week": result.decided_week, "after_stop_arms": sorted(result.after_stop_arms),
                      "timings": result.timings, "weekly": result.weekly}, indent=1))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
