"""Label ingestion and the weekly evaluation through their Lambda handlers, on moto S3 and CloudWatch."""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pytest
from moto import mock_aws

from propensity.data.loader import parse_csv
from propensity.data.synthetic import synthetic_csv
from propensity.evaluation import metric_names as names
from propensity.events import PhaseLatency, PredictionEvent
from propensity.registry.manifests import shipped_manifest_name
from tests.events import LambdaContext, s3_event, scheduled_event
from tests.integration.athena_moto import DATABASE, WORKGROUP, AthenaOnMoto
from tests.integration.stand_in import load_handler

REGION = "eu-west-1"
BUCKET = "propensity-archive-test"
MONDAY = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.fixture
def aws(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield s3


def _objects(s3, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_dropped_files_are_ingested_once_with_rejects(aws, monkeypatch):
    # Given the labels function configured on the archive bucket
    monkeypatch.setenv("ARCHIVE_LOCATION", f"s3://{BUCKET}")
    handler = load_handler("labels")
    body = "prediction_id,outcome,outcome_date\np-1,yes,2026-03-10\np-2,no,2026-03-11\np-3,maybe,2026-03-11\n"
    aws.put_object(Bucket=BUCKET, Key="labels/crm export/week 11.csv", Body=body.encode())
    # When S3 notifies it (keys arrive URL-encoded)
    result = handler.lambda_handler(s3_event(BUCKET, ["labels/crm+export/week+11.csv"]), LambdaContext())
    # Then the good rows are stored and the bad one is in a rejects file with its reason
    assert result == {
        "files": [
            {
                "key": "labels/crm export/week 11.csv",
                "duplicate": False,
                "accepted": 2,
                "rejected": 1,
                "rejects": result["files"][0]["rejects"],
            }
        ]
    }
    rejects = aws.get_object(Bucket=BUCKET, Key=result["files"][0]["rejects"])["Body"].read().decode()
    (reject,) = csv.DictReader(io.StringIO(rejects))
    assert reject["reason"] == "outcome must be 'yes' or 'no', got 'maybe'"
    assert len(_objects(aws, "outcomes/accepted/")) == 1
    # When the same file is dropped again under another name and S3 notifies twice
    aws.put_object(Bucket=BUCKET, Key="labels/resend.csv", Body=body.encode())
    again = handler.lambda_handler(
        s3_event(BUCKET, ["labels/resend.csv", "labels/resend.csv"]), LambdaContext()
    )
    # Then it is recognised and nothing new is stored
    assert [f["duplicate"] for f in again["files"]] == [True, True]
    assert len(_objects(aws, "outcomes/accepted/")) == 1 and len(_objects(aws, "outcomes/files/")) == 1
    # And notifications for another bucket or for non-label objects are ignored
    assert handler.lambda_handler(s3_event("someone-else", ["labels/x.csv"]), LambdaContext()) == {
        "files": []
    }
    assert handler.lambda_handler(s3_event(BUCKET, ["labels/notes.txt"]), LambdaContext()) == {"files": []}


def test_an_object_gone_before_ingestion_is_skipped_but_a_broken_store_fails_the_invocation(aws, monkeypatch):
    monkeypatch.setenv("ARCHIVE_LOCATION", f"s3://{BUCKET}")
    handler = load_handler("labels")
    # Given a notification for an object that was deleted meanwhile: nothing to do, no failure
    assert handler.lambda_handler(s3_event(BUCKET, ["labels/deleted.csv"]), LambdaContext()) == {"files": []}
    # Given the bucket itself is gone: the invocation fails so that Lambda retries it
    aws.put_object(
        Bucket=BUCKET, Key="labels/a.csv", Body=b"prediction_id,outcome,outcome_date\np,yes,2026-03-01\n"
    )
    handler.STORE.bucket = "no-such-bucket"
    with pytest.raises(RuntimeError, match="labels/a.csv"):
        handler.lambda_handler(s3_event(BUCKET, ["labels/a.csv"]), LambdaContext())


def _archive_events(s3, bundle, rows: int) -> list[PredictionEvent]:
    """Events scored by the real v1 model, archived as Firehose would (gzip JSON lines per hour)."""
    columns, _ = parse_csv(synthetic_csv(rows, seed=5), "synthetic")
    scores = bundle.model.score(columns)
    latency = PhaseLatency(validation_ms=0.1, preprocessing_ms=0.2, inference_ms=0.3, serialization_ms=0.1)
    events = []
    for i in range(rows):
        events.append(
            PredictionEvent(
                prediction_id=f"p-{i}",
                request_id=f"r-{i}",
                timestamp=MONDAY + timedelta(minutes=25 * i),
                api_version="v1",
                model_version=bundle.version,
                features={name: values[i] for name, values in columns.items()},
                probability=float(scores.probability[i]),
                decision="yes" if scores.decision[i] else "no",
                threshold=bundle.model.threshold,
                confidence=str(scores.confidence[i]),
                latency=latency,
            )
        )
    by_hour: dict[str, list[str]] = {}
    for event in events:
        by_hour.setdefault(f"predictions/{event.timestamp:%Y/%m/%d/%H}/firehose-1.gz", []).append(
            event.model_dump_json()
        )
    for key, lines in by_hour.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(("\n".join(lines) + "\n").encode()))
    return events


def test_weekly_run_stores_results_and_report_and_publishes_alarm_metrics(
    aws, monkeypatch, bundles, tmp_path
):
    # Given a week of v1 traffic in the S3 archive, all its outcomes ingested, the manifest shipped
    bundle = bundles["v1"]
    rng = np.random.default_rng(1)
    events = _archive_events(aws, bundle, 400)
    outcomes = rng.random(len(events)) < np.array([e.probability for e in events])
    lines = ["prediction_id,outcome,outcome_date"] + [
        f"{e.prediction_id},{'yes' if y else 'no'},2026-03-12" for e, y in zip(events, outcomes, strict=True)
    ]
    aws.put_object(Bucket=BUCKET, Key="labels/week-10.csv", Body="\n".join(lines).encode())
    monkeypatch.setenv("ARCHIVE_LOCATION", f"s3://{BUCKET}")
    load_handler("labels").lambda_handler(s3_event(BUCKET, ["labels/week-10.csv"]), LambdaContext())
    (tmp_path / shipped_manifest_name("v1")).write_bytes((bundle.path / "manifest.json").read_bytes())
    monkeypatch.setenv("BASELINES_DIR", str(tmp_path))
    monkeypatch.setenv("EVALUATION_THRESHOLDS", '{"lookback_windows": 2}')
    monkeypatch.setenv("ATHENA_WORKGROUP", WORKGROUP)
    monkeypatch.setenv("GLUE_DATABASE", DATABASE)
    # The handler's engine is the real Athena one, answered through moto (tests.integration.athena_moto)
    import propensity.evaluation.runtime as runtime
    from propensity.query.athena import AthenaEngine
    from propensity.query.factory import open_engine

    engines = []

    def athena_on_moto(location, *, workgroup, database):
        assert isinstance(open_engine(location, workgroup=workgroup, database=database), AthenaEngine)
        engines.append(AthenaOnMoto(BUCKET, REGION))
        return engines[-1]

    monkeypatch.setattr(runtime, "open_engine", athena_on_moto)
    handler = load_handler("evaluate")
    # When the weekly schedule fires on the following Monday
    result = handler.lambda_handler(scheduled_event(MONDAY + timedelta(days=7, hours=6)), LambdaContext())
    # Then the week is evaluated against the shipped manifest, stored and reported in S3
    assert result["windows"] == ["2026-02-23", "2026-03-02"] and result["results"] == 1
    assert result["events"] == 400 and result["unmatched_outcomes"] == 0
    stored = _objects(aws, f"evaluation/results/v1/{bundle.version}/")
    assert stored == [f"evaluation/results/v1/{bundle.version}/2026-03-02.json"]
    report = aws.get_object(Bucket=BUCKET, Key=result["report"])["Body"].read().decode()
    assert "## Alarms" in report and bundle.version in report and "manifest holdout" in report
    # And the alarm metrics are in CloudWatch with the API version as their only dimension
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    listed = cloudwatch.list_metrics(Namespace="Propensity", MetricName=names.F1_DROP)["Metrics"]
    assert {tuple((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in listed} >= {
        (("ApiVersion", "v1"),)
    }
    stats = cloudwatch.get_metric_statistics(
        Namespace="Propensity",
        MetricName=names.F1_DROP,
        Dimensions=[{"Name": "ApiVersion", "Value": "v1"}],
        StartTime=MONDAY,
        EndTime=datetime.now(UTC) + timedelta(days=1),
        Period=86400,
        Statistics=["Maximum"],
    )
    (point,) = stats["Datapoints"]
    manifest_f1 = bundle.manifest.gate_metrics.overall.f1
    week = json.loads(aws.get_object(Bucket=BUCKET, Key=stored[0])["Body"].read())
    assert week["signals"]["baseline_f1"] == pytest.approx(manifest_f1)
    assert point["Maximum"] == pytest.approx((manifest_f1 - week["realised"]["f1"]) / manifest_f1)
    assert point["Maximum"] == pytest.approx(week["signals"]["f1_drop_relative"])
    # And every query went to Athena as Trino SQL that parses in the Trino dialect
    import sqlglot

    # (one outcome-store query, then one cube per re-joined window: 2 windows here)
    assert len(engines[0].submitted) == 3
    for text in engines[0].submitted:
        sqlglot.parse_one(text, read="trino")
    # And a second run with nothing new re-joins no window: the stored cubes are reused
    again = handler.lambda_handler(scheduled_event(MONDAY + timedelta(days=7, hours=7)), LambdaContext())
    assert again["events"] == 400
    names_run = [q.name for q in engines[1].log.queries]
    assert "evaluation_cube" not in names_run
