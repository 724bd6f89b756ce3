"""The operator's seat over real HTTP: hot reload, replay, v1 usage by consumer.

The server is the real one (``propensity.service.server.serve`` under uvicorn on 127.0.0.1,
in a subprocess); replay and v1-usage run as the CLI does.
"""

from __future__ import annotations

import gzip
import json
import time
from datetime import UTC, date, datetime

import httpx
import pytest

from propensity.archive.layout import hour_prefix
from propensity.archive.store import open_archive
from propensity.cli import main
from propensity.commands.replay import load_rows, replay
from propensity.commands.usage import v1_usage
from propensity.constants import API_KEY_HEADER, MODEL_VERSION_HEADER
from propensity.labels.parse import parse_label_file
from propensity.service.core.rejections import ARCHIVE_REJECTIONS_PREFIX, RejectedRequest
from tests.e2e.test_local_server import archived_events, server  # noqa: F401 - the fixture
from tests.service_support import clone_bundle, move_champion, v1_body


def test_the_running_server_picks_up_a_new_champion_within_seconds(server, registry, trained, tmp_path):  # noqa: F811
    url, _, _ = server
    old = registry.alias("v1", "champion")
    # Given a new v1 version registered and promoted while the server runs
    folder = clone_bundle(trained["v1"].bundle_path, tmp_path / "v1-e2e-next", "v1-e2e-next")
    registry.register(folder)
    move_champion(registry, "v1", "v1-e2e-next", "e2e reload")
    moved = time.monotonic()
    # Then within seconds /health and X-Model-Version show it, without a restart
    with httpx.Client(base_url=url, timeout=10) as client:
        while client.get("/health").json()["models"]["v1"] != "v1-e2e-next":
            assert time.monotonic() - moved < 15, "the server did not pick up the new champion"
            time.sleep(0.1)
        answer = client.post("/v1/predict", json=v1_body())
        assert answer.status_code == 200 and answer.headers[MODEL_VERSION_HEADER] == "v1-e2e-next"
        # And moving it back (a rollback) is followed too
        move_champion(registry, "v1", old, "e2e rollback")
        deadline = time.monotonic() + 15
        while client.post("/v1/predict", json=v1_body()).headers[MODEL_VERSION_HEADER] != old:
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_replay_sends_real_rows_and_writes_labels_ingest_labels_accepts(server, tmp_path, capsys):  # noqa: F811
    url, archive, _ = server
    rows = load_rows(None, offset=1000, limit=120)
    # When 120 rows of the bank data are replayed as v2 batches of 25, with a labels file
    labels = tmp_path / "labels.csv"
    summary = replay(rows, url=url, api="v2", batch=25, concurrency=2, labels=labels)
    # Then every batch was answered, and the summary says so
    assert summary.rows == 120 and summary.requests == 5
    assert summary.statuses == {"200": 5}
    assert summary.percentile(50) > 0
    # And the archive holds the 120 PredictionEvents with replay's customer refs
    events = [e for e in archived_events(archive) if e.api_version == "v2"]
    assert len(events) == 120
    # And the labels file has one valid outcome per row, joined by prediction id and customer_ref
    parsed = parse_label_file("labels/replay.csv", labels.read_bytes(), "csv", datetime.now(UTC).date())
    assert parsed.rejects == [] and len(parsed.valid) == 120
    by_id = {e.prediction_id: e for e in events}
    assert all(by_id[v.prediction_id].customer_ref == v.customer_ref for v in parsed.valid)
    truth = {f"{r.index}": r.outcome for r in rows}
    assert all(truth[v.customer_ref.rsplit("-", 1)[1]] == v.outcome for v in parsed.valid)  # type: ignore[union-attr]
    # And the CLI runs the same at a fixed rate (v1 singles), with a summary
    started = time.monotonic()
    code = main(["replay", "--url", url, "--api", "v1", "--rows", "20", "--rate", "40", "--quiet"])
    elapsed = time.monotonic() - started
    out = capsys.readouterr().out
    assert code == 0
    assert "v1: 20 rows in 20 requests" in out and "status: 200: 20" in out and "p95" in out
    assert elapsed >= 19 / 40  # paced: 20 requests at 40/s take at least 0.475 s


def test_v1_usage_counts_answered_and_rejected_calls_by_consumer(server, capsys):  # noqa: F811
    url, archive, _ = server
    with httpx.Client(base_url=url, timeout=10) as client:
        # Given v1 calls from two mapped consumers, an unmapped key and no key, one of them refused
        for _ in range(3):
            assert (
                client.post("/v1/predict", json=v1_body(), headers={API_KEY_HEADER: "key-of-crm"}).status_code
                == 200
            )
        assert (
            client.post(
                "/v1/predict", json=v1_body(age=5), headers={API_KEY_HEADER: "key-of-crm"}
            ).status_code
            == 422
        )
        client.post("/v1/predict", json=v1_body(), headers={API_KEY_HEADER: "key-of-branch-app"})
        client.post("/v1/predict", json=v1_body(), headers={API_KEY_HEADER: "stolen-or-typo"})
        bad = client.post("/v1/predict", content=b"{", headers={"content-type": "application/json"})
        assert bad.status_code == 400
    # Then the PredictionEvents name the consumers
    consumers = [e.consumer for e in archived_events(archive) if e.api_version == "v1"]
    assert consumers == ["crm", "crm", "crm", "branch-app", "unknown"]
    # And the refused calls left compact RejectedRequest records, apart from the predictions
    folder = archive / hour_prefix(datetime.now(UTC), ARCHIVE_REJECTIONS_PREFIX)
    lines = b"".join(gzip.decompress(f.read_bytes()) for f in folder.glob("*.jsonl.gz")).splitlines()
    rejected = [RejectedRequest.model_validate_json(line) for line in lines]
    assert [(r.consumer, r.status, r.reason, r.fields) for r in rejected] == [
        ("crm", 422, "validation", ["age"]),
        (None, 400, "malformed_json", []),
    ]
    # (no body values, ages or balances, in a rejection: only the bounded labels besides the
    # random request id and the time, which may contain any digits)
    labels = {k: v for k, v in json.loads(lines[0]).items() if k not in {"request_id", "timestamp"}}
    assert "41" not in json.dumps(labels) and "5" not in json.dumps(labels["fields"])
    # And v1-usage counts both, per consumer per day, with the share of traffic
    report = v1_usage(open_archive(archive), days=1)
    assert {name: (u.calls, u.rejected) for name, u in report.consumers.items()} == {
        "crm": (4, 1),
        "branch-app": (1, 0),
        "unknown": (1, 0),
        "(no key)": (1, 1),
    }
    assert main(["v1-usage", "--archive", str(archive), "--days", "7"]) == 0
    out = capsys.readouterr().out
    assert "crm" in out and "57.1%" in out and date.today().isoformat()[:4] in out
    assert json.loads(_json_usage(archive, capsys))["total"] == 7


def _json_usage(archive, capsys) -> str:
    assert main(["v1-usage", "--archive", str(archive), "--json"]) == 0
    return str(capsys.readouterr().out)


def test_replay_refuses_labels_for_v1_with_the_reason(tmp_path):
    rows = load_rows(None, limit=1)
    with pytest.raises(ValueError, match="prediction id"):
        replay(rows, url="http://127.0.0.1:9", api="v1", labels=tmp_path / "x.csv")
    assert not (tmp_path / "x.csv").exists()
