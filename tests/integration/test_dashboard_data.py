"""The page's data module on a real local archive layout, and the page it renders."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

from propensity.alerting.digest import digest_text
from propensity.alerting.local import LocalAlertSettings, route_local_alerts
from propensity.alerting.local_digest import local_digest
from propensity.archive.layout import LocalArchiveWriter
from propensity.archive.store import LocalArchiveStore
from propensity.dashboard.data import ANONYMOUS, gather
from propensity.dashboard.page import render_page
from propensity.dashboard.sections import DashboardSection, register_section, sections
from propensity.drift.results import Alert, FeatureDrift, GroupDrift, WindowResult
from propensity.drift.state import DriftState
from propensity.evaluation.results import ResultStore
from propensity.events import PhaseLatency, PredictionEvent
from propensity.shadow.scorer import SHADOW_PREFIX, ShadowRecord, write_records
from tests.integration.test_local_alerts import FAST, evaluation_result  # noqa: F401  (fixture)

END = datetime(2026, 11, 26, 12, tzinfo=UTC)


def event(
    i: int,
    *,
    api: str = "v1",
    hour: int = 10,
    consumer: str | None = None,
    synthetic: bool = False,
    request: str | None = None,
) -> PredictionEvent:
    return PredictionEvent(
        prediction_id=f"p{api}{i}",
        request_id=request or f"r{api}{i}",
        timestamp=datetime(2026, 11, 26, hour, i % 60, tzinfo=UTC),
        api_version=api,
        model_version="m1",
        consumer=consumer,
        features={"age": 30 + i % 40},
        probability=0.1 + (i % 5) / 10,
        decision="yes" if i % 5 >= 2 else "no",
        threshold=0.3,
        confidence="high",
        latency=PhaseLatency(
            validation_ms=0.1, preprocessing_ms=0.2, inference_ms=float(i % 10), serialization_ms=0.05
        ),
        synthetic=synthetic,
    )


def populated(tmp_path):
    root = tmp_path / "archive"
    writer = LocalArchiveWriter(root)
    writer.write([event(i, consumer="crm" if i % 3 else "<script>alert(1)</script>") for i in range(30)])
    writer.write([event(i, api="v1", hour=11) for i in range(30, 40)])
    # One v2 batch of 5 rows is one request; one probe request stays out of the model figures.
    writer.write([event(i, api="v2", request="batch-1") for i in range(5)])
    writer.write([event(99, api="v2", synthetic=True)])
    # A torn line, as a crash mid-write could leave (the reader skips and counts it).
    (root / "predictions/2026/11/26/10/torn.jsonl.gz").write_bytes(b"\x1f\x8b\x08garbage")
    store = LocalArchiveStore(root)
    hour = datetime(2026, 11, 26, 10, tzinfo=UTC)
    group = GroupDrift(
        api_version="v1",
        model_version="m1",
        events=400,
        has_reference=True,
        judged=True,
        features=[
            FeatureDrift(
                name="age",
                kind="numeric",
                labels=["a", "b"],
                reference=[0.5, 0.5],
                counts=[300, 100],
                psi=0.25,
            )
        ],
        alerts=[Alert(tier="warning", code="feature_psi", message="v1 m1: PSI over 0.2: age 0.25")],
    )
    DriftState(store).save_window(
        WindowResult(start=hour, end=hour + timedelta(hours=1), computed_at=hour, groups=[group])
    )
    records = [
        ShadowRecord(
            prediction_id=f"s{i}",
            request_id=f"s{i}",
            timestamp=hour + timedelta(minutes=i),
            api_version="v1",
            champion_version="m1",
            champion_probability=0.2,
            champion_decision="no",
            champion_threshold=0.3,
            champion_inference_ms=0.1,
            challenger_version="m2",
            challenger_probability=0.25 if i < 8 else 0.4,
            challenger_decision="no" if i < 8 else "yes",
            challenger_confidence="high",
            challenger_threshold=0.3,
            source_key="k",
        )
        for i in range(10)
    ]
    write_records(store, f"{SHADOW_PREFIX}v1/2026/11/26/10/part.jsonl.gz", records)
    return store


def test_the_page_data_counts_requests_rows_consumers_and_reads_the_jobs_results(tmp_path, evaluation_result):  # noqa: F811
    store = populated(tmp_path)
    ResultStore(store).save(evaluation_result)
    alerts = tmp_path / "alerts"
    config = LocalAlertSettings(
        directory=alerts, retry=FAST, dashboard_url="file:///d", runbook_url="file:///r"
    )
    route_local_alerts(
        [DriftState(store).load_window(datetime(2026, 11, 26, 10, tzinfo=UTC))],
        settings=config,
        stream=io.StringIO(),
    )

    data = gather(store, alerts, end=END, hours=24)

    assert data.total_requests("v1") == 40 and data.total_requests("v2") == 1
    assert sum(t.predictions for t in data.traffic if t.api == "v2") == 5
    assert sum(t.synthetic_requests for t in data.traffic) == 1
    assert data.status_codes["v2"] == {"200": 2}
    assert data.unreadable_objects == ["predictions/2026/11/26/10/torn.jsonl.gz: EOFError"]
    assert data.predictions["v1"].predictions == 40 and data.predictions["v1"].yes == 24
    assert data.latency["v1"]["inference"][50] == 4.5
    usage = {u.consumer: u for u in data.v1_usage}
    assert usage["crm"].calls == 20 and usage[ANONYMOUS].calls == 10
    assert abs(sum(u.share for u in data.v1_usage) - 1) < 1e-9
    assert data.psi["v1"].values == [[0.25]]
    assert [(p.window, p.f1_estimated) for p in data.evaluation] == [("2026-11-16", 0.6)]
    assert [(p.rows, p.agreement) for p in data.shadow] == [(10, 0.8)]
    assert [a.name for a in data.active_alerts] == ["propensity-local-drift-feature-psi-warning-v1"]

    page = render_page(data)
    # Caller-supplied text is escaped: a consumer name cannot inject script into the page.
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert page.count("data:image/png;base64,") >= 5
    assert "No experiment running." in page


def test_a_broken_section_is_reported_and_the_rest_of_the_page_still_renders(tmp_path):
    def broken(_data):
        raise RuntimeError("the experiments store is unreachable")

    before = {s.id: s for s in sections()}
    register_section(DashboardSection("experiments", "Experiments", 90, broken))
    try:
        page = render_page(gather(LocalArchiveStore(tmp_path / "empty"), tmp_path / "alerts", end=END))
    finally:
        register_section(before["experiments"])
    assert "This section failed: RuntimeError: the experiments store is unreachable" in page
    assert "No requests archived in the window." in page


def test_the_local_digest_is_the_aws_digest_with_local_inputs(tmp_path):
    store = populated(tmp_path)
    alerts = tmp_path / "alerts"
    config = LocalAlertSettings(
        directory=alerts, retry=FAST, dashboard_url="file:///d", runbook_url="file:///r/RUNBOOK.md"
    )
    route_local_alerts(
        [DriftState(store).load_window(datetime(2026, 11, 26, 10, tzinfo=UTC))],
        settings=config,
        stream=io.StringIO(),
    )
    text = digest_text(local_digest(store, alerts, END + timedelta(hours=1), config.runbook_url), "file:///d")
    assert text.startswith("Propensity local daily digest 2026-11-26: 0 critical, 1 warning, 0 info")
    assert (
        "propensity-local-drift-feature-psi-warning-v1" in text
        and "RUNBOOK.md#drift-feature-psi-warning" in text
    )
    assert "Requests: 42" in text
    assert "v1: invocations 40" in text and "predictions 40, yes 60.0%" in text


def test_the_dashboard_route_serves_the_page_for_a_local_server(tmp_path):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from propensity.dashboard.route import dashboard_router

    store = populated(tmp_path)
    app = FastAPI()
    app.include_router(dashboard_router(store.root, tmp_path / "alerts"))
    with TestClient(app) as client:
        page = client.get("/dashboard", params={"hours": 24 * 30})
        refused = client.get("/dashboard", params={"hours": 0})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert "<h2>Traffic and status codes</h2>" in page.text and 'data-figure="requests-v1"' in page.text
    assert refused.status_code == 422
