"""``propensity`` with bad arguments: a clear message and a non-zero exit, never a traceback.

The table is the one docs/reliability.md counts (``CLI_CASES``); every command appears in it.
"""

from __future__ import annotations

import pytest

from propensity.cli import build_parser, main

# (argv, a fragment the message must contain); {tmp} is a fresh empty folder
CLI_CASES: list[tuple[list[str], str]] = [
    ([], "required: command"),
    (["no-such-command"], "invalid choice"),
    (["train", "--api", "v3"], "invalid choice: 'v3'"),
    (["list", "--api", "v9"], "invalid choice"),
    (["alias", "captain"], "invalid choice: 'captain'"),
    (["alias", "--registry", "{tmp}/registry", "champion", "no-such-version"], "error:"),
    (["history", "--api", "v3"], "invalid choice"),
    (["approve", "v1-x"], "--approver"),
    (["approve", "--registry", "{tmp}/registry", "--approver", "me", "no-such-version"], "error:"),
    (["gate"], "version"),
    (["gate", "--registry", "{tmp}/registry", "no-such-version"], "error:"),
    (["promote"], "error"),
    (["rollback", "--api", "v3"], "invalid choice"),
    (["challenger", "--api", "v3"], "invalid choice"),
    (["registry"], "error"),
    (["drift", "--archive", "{tmp}/archive", "--hour", "not-an-hour"], "error"),
    (["drift-report", "--archive", "{tmp}/archive"], "--hour"),
    (["drift-demo", "--bogus"], "unrecognized arguments"),
    (["evaluate", "--archive", "{tmp}/archive", "--start", "soon", "--end", "later"], "error"),
    (["evaluate-demo", "--weeks", "many"], "invalid int value"),
    (["shadow", "--from", "2026-11-01"], "--to"),
    (["shadow-report", "--from", "2026-11-01", "--to", "2026-11-02"], "--out"),
    (["ingest-labels", "--archive", "{tmp}/archive", "{tmp}/no-such-file.csv"], "not a label file"),
    (["ingest-labels", "--archive", "{tmp}/archive", "labels/../../escape.csv"], "error:"),
    (["labels-redrive", "--queue-url", "not-a-url", "--archive", "s3://b"], "SQS queue URL"),
    (["alerts-redrive", "--queue-url", "https://sqs/q", "--limit", "-1"], "--limit"),
    (["probe", "--url", "http://127.0.0.1:9", "--registry", "{tmp}/registry"], "no champion"),
    (["probe", "--cases", "lots"], "invalid int value"),
    (["serve", "--port", "http"], "invalid int value"),
    (["quickstart", "--port", "http"], "invalid int value"),
    (["approvals", "--registry", "{tmp}/registry", "no-such-version"], "error:"),
    (["backtest", "--months", "ten"], "invalid int value"),
    (["backtest", "--config", "{tmp}/no-such.toml"], "error:"),
    (["retrain"], "--archive"),
    (["retrain-demo", "--months", "ten"], "invalid int value"),
    (["dashboard", "--hours", "day"], "invalid int value"),
    (["alerts", "--bogus"], "unrecognized arguments"),
    (["digest"], "--local"),
    (["replay", "--rate", "fast"], "invalid float value"),
    (["v1-usage", "--days", "many"], "invalid int value"),
    (["experiment"], "action"),
    (["experiment", "start", "--api", "v2"], "--challenger"),
]


@pytest.mark.parametrize(("argv", "message"), CLI_CASES, ids=[" ".join(a) or "(none)" for a, _ in CLI_CASES])
def test_a_bad_argument_exits_non_zero_with_a_clear_message(argv, message, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PROPENSITY_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.setenv("PROPENSITY_ARCHIVE", str(tmp_path / "archive"))
    monkeypatch.chdir(tmp_path)  # nothing a command might write lands in the repository
    args = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main(args)
    except SystemExit as stop:  # argparse refuses before any command runs
        code = stop.code
    captured = capsys.readouterr()
    said = captured.err + captured.out  # a command's own report (probe) goes to stdout
    assert code not in (0, None), f"{argv} exited 0"
    assert message in said, said
    assert "Traceback" not in said


def test_every_command_has_a_bad_argument_case():
    commands = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
    covered = {argv[0] for argv, _ in CLI_CASES if argv}
    assert commands - covered == set()
