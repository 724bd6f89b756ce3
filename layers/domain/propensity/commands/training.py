"""Training commands: ``backtest`` (the time-honest yardstick), ``retrain``, ``retrain-demo``.

``train`` itself stays in ``propensity.cli`` (it gained ``--config`` and ``--backtest-months``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from propensity.cli import command
from propensity.constants import API_VERSIONS


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
