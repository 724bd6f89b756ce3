"""Shadow scoring: the challenger follows the registry alias (reload on move, no deploy), results are
keyed by prediction id, metrics are published, and the comparison report is produced (with
both models' metrics once outcomes are ingested). The handler runs on moto S3 and CloudWatch."""

from __future__ import annotations

import gzip
import json
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from propensity.archive.layout import hour_prefix
from propensity.archive.store import LocalArchiveStore
from propensity.drift.publish import LocalMetricsPublisher
from propensity.events import PhaseLatency, PredictionEvent
from propensity.labels.ingest import ingest_object
from propensity.monitoring.metrics import classification_metrics
from propensity.registry.registry import Registry
from propensity.registry.storage import LocalBlobStore
from propensity.shadow import scorer as shadow
from propensity.shadow.challenger import ChallengerCache
from propensity.shadow.report import load_records, outcomes_from_store, render_html, shadow_report
from propensity.shadow.scorer import ShadowRecord, ShadowScorer, result_key
from tests.events import LambdaContext, s3_event
from tests.evidence import record_gate
from tests.integration.stand_in import load_handler

pytestmark = pytest.mark.realdata
HOUR = datetime(2026, 11, 26, 10, tzinfo=UTC)
REGION = "eu-west-1"
BUCKET = "propensity-archive-shadow"


def variant(source: Path, destination: Path, version: str, **changes) -> Path:
    """A copy of a bundle under another version, with manifest fields changed (threshold, calibration)."""
    shutil.copytree(source, destination)
    manifest = json.loads((destination / "manifest.json").read_text())
    manifest["model_version"] = version
    manifest.update(changes)
    (destination / "manifest.json").write_text(json.dumps(manifest))
    return destination


@pytest.fixture
def setup(tmp_path, trained, bundles, bank_data):
    """A registry with the v1 champion and two challengers, and champion traffic on holdout rows."""
    registry = Registry(LocalBlobStore(tmp_path / "registry"))
    champion = registry.register(trained["v1"].bundle_path)
    registry.set_alias("v1", "champion", champion.model_version, reason="test", actor="pytest")
    source = trained["v1"].bundle_path
    # A: the same trees at a higher threshold (same probabilities, fewer "yes")
    a = registry.register(
        variant(source, tmp_path / "a", "v1-challenger-a", threshold=min(0.9, champion.threshold * 2))
    )
    # B: a recalibrated model (different probabilities)
    calibration = dict(champion.calibration, slope=champion.calibration["slope"] * 0.7)
    b = registry.register(variant(source, tmp_path / "b", "v1-challenger-b", calibration=calibration))
    for challenger in (a, b):  # the policy shadows only gated models
        record_gate(registry, "v1", challenger.model_version, passed=True, against=champion.model_version)
    rows = trained["v1"].holdout_rows[::15][:600]  # spread over the file: early rows score low
    records = bank_data.take(rows).records()
    scores = bundles["v1"].model.score_records(records)
    events = [
        PredictionEvent(
            prediction_id=f"pred-{i:04d}",
            request_id=f"req-{i // 3:04d}",  # three rows per request
            timestamp=HOUR + timedelta(seconds=5 * i),
            api_version="v1",
            model_version=champion.model_version,
            features=record,
            probability=float(scores.probability[i]),
            decision="yes" if scores.decision[i] else "no",
            threshold=champion.threshold,
            confidence=str(scores.confidence[i]),
            batch_size=3,
            latency=PhaseLatency(
                validation_ms=0.1, preprocessing_ms=0.2, inference_ms=0.4, serialization_ms=0.1
            ),
        )
        for i, record in enumerate(records)
    ]
    return {
        "registry": registry,
        "champion": champion,
        "a": a,
        "b": b,
        "events": events,
        "target": bank_data.target[rows],
    }


def put_object(store, events, name: str) -> str:
    key = f"{hour_prefix(HOUR)}{name}.gz"
    store.put(key, gzip.compress("".join(e.model_dump_json() + "\n" for e in events).encode()))
    return key


def test_the_scorer_follows_the_challenger_alias_without_a_deploy(tmp_path, setup):
    registry, events = setup["registry"], setup["events"]
    store = LocalArchiveStore(tmp_path / "archive")
    keys = [put_object(store, events[i * 200 : (i + 1) * 200], f"part-{i}") for i in range(3)]
    registry.set_alias("v1", "challenger", "v1-challenger-a", reason="shadow A", actor="pytest")
    challengers = ChallengerCache(registry, tmp_path / "cache", check_interval_seconds=0)
    scorer = ShadowScorer(store, challengers, LocalMetricsPublisher())
    # When the first object arrives
    first = scorer.score_object(keys[0])
    # Then challenger A scored it
    assert first.apis[0].challenger_version == "v1-challenger-a" and first.apis[0].scored == 200
    assert challengers.loads == 1
    # When the alias moves to B (no deploy) and the next object arrives
    registry.set_alias("v1", "challenger", "v1-challenger-b", reason="shadow B", actor="pytest")
    second = scorer.score_object(keys[1])
    # Then B scored it, after exactly one reload
    assert second.apis[0].challenger_version == "v1-challenger-b"
    assert challengers.loads == 2
    # And an unchanged alias does not reload anything
    scorer.score_object(keys[2])
    assert challengers.loads == 2


def test_the_alias_is_read_again_only_after_the_check_interval(tmp_path, setup):
    registry = setup["registry"]
    registry.set_alias("v1", "challenger", "v1-challenger-a", reason="shadow A", actor="pytest")
    now = [0.0]
    challengers = ChallengerCache(
        registry, tmp_path / "cache", check_interval_seconds=60, clock=lambda: now[0]
    )
    assert challengers.get("v1").version == "v1-challenger-a"
    registry.set_alias("v1", "challenger", "v1-challenger-b", reason="shadow B", actor="pytest")
    now[0] = 30.0
    assert challengers.get("v1").version == "v1-challenger-a"  # within the interval: no registry read
    now[0] = 61.0
    assert challengers.get("v1").version == "v1-challenger-b"
    registry.set_alias("v1", "challenger", None, reason="stop shadowing", actor="pytest")
    now[0] = 200.0
    assert challengers.get("v1") is None


def test_results_are_keyed_by_prediction_id_and_match_the_challenger(tmp_path, setup, bundles):
    registry, events = setup["registry"], setup["events"]
    store = LocalArchiveStore(tmp_path / "archive")
    key = put_object(store, events, "all")
    registry.set_alias("v1", "challenger", "v1-challenger-a", reason="shadow A", actor="pytest")
    publisher = LocalMetricsPublisher()
    summary = ShadowScorer(store, ChallengerCache(registry, tmp_path / "cache", 0), publisher).score_object(
        key
    )
    # Then one result per prediction id, written where the object's hour says
    [api] = summary.apis
    assert api.result_key == result_key(key, "v1")
    records = [
        ShadowRecord.model_validate_json(line)
        for line in gzip.decompress(store.get(api.result_key)).splitlines()
    ]
    assert [r.prediction_id for r in records] == [e.prediction_id for e in events]
    # And challenger A (same trees, higher threshold) has the champion's probabilities but says yes less often
    threshold = setup["a"].threshold
    champion_p = np.array([e.probability for e in events])
    assert np.allclose([r.challenger_probability for r in records], champion_p, atol=1e-12)
    expected_agreement = np.mean((champion_p >= setup["champion"].threshold) == (champion_p >= threshold))
    assert api.agreement_rate == pytest.approx(expected_agreement)
    assert api.agreement_rate < 1.0
    assert api.mean_abs_difference == pytest.approx(0.0, abs=1e-12)
    # And latency was measured per request on a sample (three rows per request share one timing)
    sampled = [r for r in records if r.challenger_latency_ms is not None]
    assert len({r.request_id for r in sampled}) == shadow.LATENCY_SAMPLE_REQUESTS
    assert all(r.challenger_latency_ms > 0 for r in sampled)
    # And the figures were published per API version
    published = {p.name: p.value for p in publisher.published}
    assert published[shadow.SHADOW_AGREEMENT] == pytest.approx(100 * expected_agreement)
    assert published[shadow.SHADOW_EVENTS] == 600
    assert shadow.SHADOW_LATENCY in published and shadow.SHADOW_DIFFERENCE in published


def test_synthetic_events_are_counted_and_never_rescored(tmp_path, setup):
    # Given an object holding 20 consumer events and 5 probe events (the synthetic header's mark)
    events = setup["events"][:20] + [e.model_copy(update={"synthetic": True}) for e in setup["events"][20:25]]
    store = LocalArchiveStore(tmp_path / "archive")
    key = put_object(store, events, "mixed")
    setup["registry"].set_alias("v1", "challenger", "v1-challenger-a", reason="shadow A", actor="pytest")
    # When the scorer reads it
    summary = ShadowScorer(
        store, ChallengerCache(setup["registry"], tmp_path / "cache", 0), LocalMetricsPublisher()
    ).score_object(key)
    # Then only consumer traffic is compared; the probes are counted on their own
    [api] = summary.apis
    assert (api.events, api.scored, summary.synthetic_events) == (20, 20, 5)
    records = [
        ShadowRecord.model_validate_json(line)
        for line in gzip.decompress(store.get(api.result_key)).splitlines()
    ]
    assert {r.prediction_id for r in records} == {e.prediction_id for e in events[:20]}


def test_no_challenger_means_nothing_is_scored(tmp_path, setup):
    store = LocalArchiveStore(tmp_path / "archive")
    key = put_object(store, setup["events"][:10], "few")
    summary = ShadowScorer(
        store, ChallengerCache(setup["registry"], tmp_path / "cache", 0), LocalMetricsPublisher()
    ).score_object(key)
    assert summary.apis[0].scored == 0 and summary.apis[0].skipped == 10
    assert "no challenger" in summary.apis[0].note
    assert store.list("shadow/") == []


def test_the_comparison_report_with_outcomes(tmp_path, setup):
    registry, events = setup["registry"], setup["events"]
    store = LocalArchiveStore(tmp_path / "archive")
    key = put_object(store, events, "all")
    registry.set_alias("v1", "challenger", "v1-challenger-b", reason="shadow B", actor="pytest")
    ShadowScorer(
        store, ChallengerCache(registry, tmp_path / "cache", 0), LocalMetricsPublisher()
    ).score_object(key)
    # Given outcomes for the first 400 predictions, dropped as a label file and ingested
    target = setup["target"]
    rows = "".join(
        f"{e.prediction_id},{'yes' if target[i] else 'no'},2026-12-20\n" for i, e in enumerate(events[:400])
    )
    store.put("labels/december.csv", ("prediction_id,outcome,outcome_date\n" + rows).encode())
    result = ingest_object(store, "labels/december.csv", now=datetime(2026, 12, 21, tzinfo=UTC))
    assert result.record.accepted == 400
    # When the report is produced for the hour
    report = shadow_report(store, "v1", HOUR, HOUR + timedelta(hours=1), outcomes_from_store(store))
    # Then it compares the pair on all rows, and both models on the same 400 labelled rows
    [pair] = report.pairs
    assert pair.rows == 600 and pair.challenger_version == "v1-challenger-b"
    assert pair.labelled is not None and pair.labelled.rows == 400
    champion_p = np.array([e.probability for e in events[:400]])
    expected = classification_metrics(target[:400], champion_p, setup["champion"].threshold)
    assert pair.labelled.champion == expected
    assert pair.labelled.challenger.n == 400
    assert pair.mean_abs_difference > 0
    assert sum(pair.decisions.values()) == 600
    assert pair.challenger_latency.requests == shadow.LATENCY_SAMPLE_REQUESTS
    page = render_html(report)
    assert "v1-challenger-b" in page and "On 400 rows with outcomes" in page and "data:image/png" in page


def test_the_handler_scores_new_archive_objects_on_s3(monkeypatch, tmp_path, setup):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    setup["registry"].set_alias("v1", "challenger", "v1-challenger-b", reason="shadow B", actor="pytest")
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        key = f"{hour_prefix(HOUR)}propensity-dev-predictions-1-2026-11-26-10-05-00-{uuid.uuid4()}.gz"
        body = gzip.compress("".join(e.model_dump_json() + "\n" for e in setup["events"][:90]).encode())
        s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        monkeypatch.setenv("ARCHIVE_LOCATION", f"s3://{BUCKET}")
        monkeypatch.setenv("REGISTRY_LOCATION", str(tmp_path / "registry"))
        monkeypatch.setenv("SHADOW_OPTIONS", json.dumps({"cache_dir": str(tmp_path / "lambda-tmp")}))
        handler = load_handler("shadow")
        # When S3 notifies the function of the new object (and of something outside predictions/)
        result = handler.lambda_handler(
            s3_event(BUCKET, [key, "labels/not-for-me.csv"]),
            LambdaContext(function_name="propensity-dev-shadow"),
        )
        # Then the object is scored and its results are in S3, keyed by prediction id
        [summary] = result["objects"]
        assert summary["apis"][0]["scored"] == 90
        from propensity.archive.s3 import S3ArchiveStore

        records = load_records(S3ArchiveStore(BUCKET), "v1", HOUR, HOUR + timedelta(hours=1))
        assert sorted(r.prediction_id for r in records) == sorted(
            e.prediction_id for e in setup["events"][:90]
        )
        # And agreement, difference and latency are in CloudWatch
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        metrics = {m["MetricName"] for m in cloudwatch.list_metrics(Namespace="Propensity")["Metrics"]}
        assert {shadow.SHADOW_AGREEMENT, shadow.SHADOW_DIFFERENCE, shadow.SHADOW_LATENCY} <= metrics
