"""Training commands: ``backtest`` (the time-honest yardstick), ``retrain``, ``retrain-demo``.

``train`` itself stays in ``propensity.cli`` (it gained ``--config`` and ``--backtest-months``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from propensity.cli import command
from propensity.constants import API_VERSIONS

if TYPE_CHECKING:
    from propensity.policy.gate import GateThresholds


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def backtest_table(backtest: object) -> str:
    """The per-month table as plain text (the model card has the Markdown one)."""
    from propensity.bundle.manifest import Backtest

    assert isinstance(backtest, Backtest)
    lines = [
        f"{'month':<8} {'rows':>5} {'yes':>6} {'ROC AUC':>8} {'PR AUC':>7} {'F1':>6} {'thr':>5} "
        f"{'Brier':>7} {'bias':>7} {'ECE':>6} {'floor':>6}"
    ]
    for m in backtest.months:
        auc = "n/a" if m.roc_auc is None else f"{m.roc_auc:.3f}"
        pr = "n/a" if m.pr_auc is None else f"{m.pr_auc:.3f}"
        lines.append(
            f"{m.month:<8} {m.rows:>5} {m.yes_rate:>6.3f} {auc:>8} {pr:>7} {m.f1:>6.3f} {m.threshold:>5.2f} "
            f"{m.brier:>7.4f} {m.bias:>+7.3f} {m.ece:>6.3f} {m.ece_noise_floor:>6.3f}"
        )
    mean = backtest.mean
    lines.append(
        f"{'mean':<8} {'':>5} {'':>6} {mean('roc_auc') or 0:>8.3f} {mean('pr_auc') or 0:>7.3f} "
        f"{mean('f1') or 0:>6.3f} {'':>5} {mean('brier') or 0:>7.4f} {mean('bias') or 0:>+7.3f} "
        f"{mean('ece') or 0:>6.3f} {mean('ece_noise_floor') or 0:>6.3f}"
    )
    return "\n".join(lines)


def _configure_backtest(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", choices=API_VERSIONS, default="v1", help="API schema version")
    parser.add_argument("--months", type=int, default=None, help="test months (default: the config's, 10)")
    parser.add_argument(
        "--config", default=None, help="training config TOML (default: the API's committed one)"
    )
    parser.add_argument("--data", default=None, help="bank.zip or bank-full.csv ($BANK_MARKETING_DATA)")
    parser.add_argument("--jobs", type=int, default=1, help="months trained in parallel (processes)")
    parser.add_argument("--json", dest="json_out", default=None, help="also write the table as JSON here")


@command("backtest", "rolling-origin backtest: train on the months before M, test on M", _configure_backtest)
def _backtest(args: argparse.Namespace) -> int:
    from propensity.data.loader import load_bank_marketing
    from propensity.training.backtest import run_backtest
    from propensity.training.config import load_config

    config = load_config(args.config, args.api)
    dataset = load_bank_marketing(Path(args.data) if args.data else None)
    result = run_backtest(dataset, args.api, config, args.months, _say, args.jobs)
    print(f"{args.api} backtest, config {config.name} ({config.sha256[:12]}), {result.seconds:.0f}s")
    print(backtest_table(result))
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result.model_dump(mode="json"), indent=2) + "\n")
    return 0


CONFIG_ENV = "PROPENSITY_TRAINING_CONFIG"  # the stage's config file (set by the retraining job)


def gate_thresholds_from_env() -> GateThresholds | None:
    """The stage's gate thresholds the retraining build passes as JSON; None: the defaults."""
    import os

    from pydantic import ValidationError

    from propensity.policy.gate import GATE_THRESHOLDS_ENV
    from propensity.policy.gate import GateThresholds as Thresholds

    text = os.environ.get(GATE_THRESHOLDS_ENV)
    if not text:
        return None
    try:
        return Thresholds.model_validate_json(text)
    except ValidationError as error:
        # a ValueError: the command line reports it as an error (exit 1), not a gate refusal
        raise ValueError(f"${GATE_THRESHOLDS_ENV} is not valid gate thresholds: {error}") from None


def _configure_retrain(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--api", choices=API_VERSIONS, default="v1", help="API schema version")
    parser.add_argument("--registry", default=None, help="registry folder or s3://... ($PROPENSITY_REGISTRY)")
    parser.add_argument(
        "--archive", required=True, type=Path, help="local archive folder (predictions/, outcomes/)"
    )
    parser.add_argument(
        "--data", default=None, help="base data: bank.zip or bank-full.csv ($BANK_MARKETING_DATA)"
    )
    parser.add_argument("--base-until", default=None, help="use base rows up to this month only (YYYY-MM)")
    parser.add_argument(
        "--config", default=None, help=f"training config TOML (default: ${CONFIG_ENV}, else committed)"
    )
    parser.add_argument(
        "--recalibrate-only", action="store_true", help="keep the champion's trees; refit the intercept only"
    )
    parser.add_argument("--backtest-months", type=int, default=None, help="default: the config's")
    parser.add_argument("--jobs", type=int, default=1, help="backtest months trained in parallel")
    parser.add_argument("--report", type=Path, default=None, help="write the gate report (.json, .md) here")


@command(
    "retrain", "retrain on base data + production outcomes, gate, register as challenger", _configure_retrain
)
def _retrain(args: argparse.Namespace) -> int:
    import os

    from propensity.data.loader import load_bank_marketing
    from propensity.registry.factory import open_registry
    from propensity.training.config import load_config
    from propensity.training.retrain import retrain

    config = load_config(args.config or os.environ.get(CONFIG_ENV), args.api)
    thresholds = gate_thresholds_from_env()
    outcome = retrain(
        open_registry(args.registry),
        args.api,
        load_bank_marketing(Path(args.data) if args.data else None),
        args.archive,
        config,
        base_until=args.base_until,
        recalibrate_only=args.recalibrate_only,
        backtest_months=args.backtest_months,
        thresholds=thresholds,
        jobs=args.jobs,
        progress=_say,
    )
    report = outcome.report
    print(
        f"{args.api}: {outcome.version} trained on {outcome.production_rows} production outcomes; gate "
        f"{'PASSED' if report.passed else 'FAILED'} against {report.champion_version}"
    )
    for failure in report.failures():
        print(f"  FAIL {failure.kind}: {failure.name} ({failure.detail})")
    if report.over_time is not None and report.over_time.mean_difference is not None:
        t = report.over_time
        print(
            f"  over time: {t.paired} months, mean ROC AUC difference {t.mean_difference:+.4f} "
            f"[{t.ci_low:+.4f}, {t.ci_high:+.4f}], better in {t.months_better}, worse in {t.months_worse}"
        )
    if args.report:
        from propensity.gate.record import write_reports

        json_path, markdown_path = write_reports(report, args.report)
        print(f"  report: {markdown_path} ({json_path.name})")
    print(f"  challenger alias {'set' if outcome.challenger_set else 'unchanged'}")
    return 0 if report.passed else 3
