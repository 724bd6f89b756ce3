"""``propensity experiment start|status|stop|report`` through the real entry point."""

from __future__ import annotations

from datetime import timedelta

from propensity.cli import main
from tests.unit.experiments.conftest import register_copy
from tests.unit.experiments.synthetic import START, make_record, write_experiment


def test_start_status_stop_report_through_the_cli(ab_registry, tmp_path, capsys):
    registry, champion, challenger = ab_registry
    location = registry.store.location
    ungated = register_copy(registry, tmp_path, "cli-ungated")
    base = ["experiment", "start", "--api", "v2", "--registry", location, "--planned-customers", "4000"]
    assert main([*base, "--challenger", ungated, "--reason", "try"]) == 1
    assert "never been through the gate" in capsys.readouterr().err
    assert main([*base, "--challenger", challenger, "--reason", "cli test", "--now", START.isoformat()]) == 0
    out = capsys.readouterr().out
    assert f"v2-exp0000: {champion} (champion) vs {challenger}" in out
    assert "MDE" in out and "mSPRT" in out

    # The archive of a synthetic experiment under the same id (its versions are the record's)
    record = make_record()
    archive = tmp_path / "archive"
    write_experiment(archive, record.model_copy(update={"salt": "x" * 16}), customers=600, lift=1.0)
    now = (START + timedelta(days=40)).isoformat()
    common = [
        "--api",
        "v2",
        "--registry",
        location,
        "--archive",
        str(archive),
        "--now",
        now,
        "--resamples",
        "100",
    ]
    assert main(["experiment", "status", *common]) == 0
    out = capsys.readouterr().out
    assert "v2-exp0000 (running)" in out and "decision:" in out and "test on net_return" in out
    assert main(["experiment", "stop", "--api", "v2", "--registry", location, "--reason", "done"]) == 0
    assert "all traffic goes back to the champion" in capsys.readouterr().out
    assert main(["experiment", "stop", "--api", "v2", "--registry", location, "--reason", "again"]) == 1
    html_path, json_path = tmp_path / "r.html", tmp_path / "r.json"
    assert main(["experiment", "report", *common, "--out", str(html_path), "--json", str(json_path)]) == 0
    assert "v2-exp0000 (ended)" in capsys.readouterr().out
    assert html_path.read_text().count("data:image/png") == 3
    assert '"verdict"' in json_path.read_text()
