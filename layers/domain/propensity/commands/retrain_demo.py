"""``propensity retrain-demo``: monthly retraining from production outcomes, replayed on real data.

CLI-only (imported by the command line, never by a Lambda handler). It

1. trains the static champion on the base data up to ``--base-until`` (default 2009-12) with
   the committed config, in a local registry;
2. for each later month M: scores M with the static champion, the current retrained
   challenger (trained on every outcome before M) and the static trees recalibrated on the
   latest labelled month; then replays M as production traffic (PredictionEvents in a local
   archive, outcomes dropped as label files and ingested) and runs the real commands
   ``propensity retrain --recalibrate-only`` and ``propensity retrain`` (gate included);
3. prints the monthly table: ROC AUC and calibration bias (mean predicted - observed) of the
   static champion against the retrained challenger, and the recalibrated static model's bias.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from propensity.cli import command, main


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None, help="bank.zip or bank-full.csv ($BANK_MARKETING_DATA)")
    parser.add_argument("--base-until", default="2009-12", help="the static champion's last month")
    parser.add_argument("--months", type=int, default=10, help="months evaluated (the last N of the file)")
    parser.add_argument("--config", default=None, help="training config TOML (default: the committed v1 one)")
    parser.add_argument("--backtest-months", type=int, default=1, help="backtest months each retrain records")
    parser.add_argument("--out", type=Path, default=None, help="keep the registry and archive here")


def _figures(bundle: Any, rows: Any) -> tuple[float | None, float]:
    from propensity.monitoring.metrics import roc_auc
    from propensity.training.train import flat_columns

    p = bundle.model.score(flat_columns(rows, "v1")).probability
    auc = roc_auc(rows.target, p)
    return (None if np.isnan(auc) else float(auc)), float(p.mean() - rows.target.mean())


def _latest(registry: Any, recalibrated: bool) -> str | None:
    """The newest registered retrained (or recalibrated) version."""
    found = [m for m in registry.versions("v1") if (m.training.recalibrated_from is not None) == recalibrated]
    return found[-1].model_version if found else None


@command("retrain-demo", "replay later months, retrain monthly from their outcomes, compare", _configure)
def _retrain_demo(args: argparse.Namespace) -> int:
    from propensity.archive.store import LocalArchiveStore
    from propensity.data.loader import load_bank_marketing
    from propensity.data.months import ordered_months
    from propensity.registry.registry import Registry
    from propensity.registry.storage import LocalBlobStore
    from propensity.training.config import load_config
    from propensity.training.replay import month_rows, replay_month
    from propensity.training.retrain import base_data
    from propensity.training.train import train_bundle

    data_path = Path(args.data) if args.data else None
    dataset = load_bank_marketing(data_path)
    config = load_config(args.config, "v1")
    all_months = ordered_months(dataset.calendar_months())
    later = [m for m in all_months if m > args.base_until]
    evaluated = later[-args.months :]
    with tempfile.TemporaryDirectory(prefix="retrain-demo-") as scratch:
        root = args.out or Path(scratch)
        registry_dir, archive_dir, cache = root / "registry", root / "archive", root / "cache"
        registry = Registry(LocalBlobStore(registry_dir))
        archive = LocalArchiveStore(archive_dir)
        base = base_data(dataset, args.base_until)
        _say(f"static champion: v1 trained on {len(base)} rows up to {args.base_until} ({config.name})")
        static = train_bundle(base, "v1", root / "static", _say, False, config)
        registry.register(static.bundle_path)
        champion_version = static.manifest.model_version
        registry.set_alias("v1", "champion", champion_version, reason="retrain-demo static champion")
        champion = registry.load("v1", champion_version, cache)
        common = ["--api", "v1", "--registry", str(registry_dir), "--archive", str(archive_dir)]
        common += ["--base-until", args.base_until, "--backtest-months", str(args.backtest_months)]
        if args.data:
            common += ["--data", args.data]
        if args.config:
            common += ["--config", args.config]
        table = []
        for month in later:
            rows = month_rows(dataset, month)
            if month in evaluated:
                retrained_version = _latest(registry, recalibrated=False)
                recalibrated_version = _latest(registry, recalibrated=True)
                static_auc, static_bias = _figures(champion, rows)
                retrained = (
                    _figures(registry.load("v1", retrained_version, cache), rows)
                    if retrained_version and retrained_version != champion_version
                    else (None, float("nan"))
                )
                recal = (
                    _figures(registry.load("v1", recalibrated_version, cache), rows)
                    if recalibrated_version
                    else (None, float("nan"))
                )
                table.append(
                    (
                        month,
                        len(rows),
                        float(rows.target.mean()),
                        static_auc,
                        static_bias,
                        *retrained,
                        recal[1],
                    )
                )
            replay_month(archive, champion, rows, month)
            _say(f"{month}: {len(rows)} predictions replayed and their outcomes ingested; retraining")
            main(["retrain", *common, "--recalibrate-only"])
            main(["retrain", *common])
        _print_table(table)
    return 0


def _num(value: float | None, signed: bool = False) -> str:
    if value is None or np.isnan(value):
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _print_table(table: list[tuple[Any, ...]]) -> None:
    print(
        "\nmonth     rows  yes rate | static ROC AUC  bias   | retrained ROC AUC  bias   | recalibrated bias"
    )
    for month, rows, yes, s_auc, s_bias, r_auc, r_bias, c_bias in table:
        print(
            f"{month}  {rows:>5}  {yes:>7.3f}  | {_num(s_auc):>13}  {_num(s_bias, True):>6} | "
            f"{_num(r_auc):>16}  {_num(r_bias, True):>6} | {_num(c_bias, True):>17}"
        )

    def mean(i: int) -> float:
        values = [row[i] for row in table if row[i] is not None and not np.isnan(row[i])]
        return float(np.mean(values)) if values else float("nan")

    print(
        f"mean                     | {_num(mean(3)):>13}  {_num(mean(4), True):>6} | "
        f"{_num(mean(5)):>16}  {_num(mean(6), True):>6} | {_num(mean(7), True):>17}"
    )
