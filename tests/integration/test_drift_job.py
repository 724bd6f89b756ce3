"""The drift job on moto S3 and CloudWatch: catch-up, watermark, idempotency, late objects, failures,
and the Lambda handler's wiring (settings, registry references, scheduled event)."""

from __future__ import annotations

import gzip
import shutil
import uuid
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from propensity.archive.layout import hour_prefix
from propensity.archive.s3 import S3ArchiveStore
from propensity.drift import metrics as names
from propensity.drift.job import DriftJob, Schedule
from propensity.drift.publish import CloudWatchMetricsPublisher
from propensity.drift.state import DriftState
from propensity.drift.window import StaticReferences
from propensity.registry.registry import Registry
from propensity.registry.s3 import S3BlobStore
from propensity.registry.signing import KmsSigner
from tests.events import LambdaContext, scheduled_event
from tests.integration.athena_moto import DATABASE, WORKGROUP, AthenaOnMoto
from tests.integration.promotion_aws import create_signing_key
from tests.integration.stand_in import load_handler
from tests.unit.drift.events_factory import lines, make_events, reference

REGION = "eu-west-1"
BUCKET = "propensity-archive-test"
REGISTRY_BUCKET = "propensity-registry-test"
DAY = datetime(2026, 11, 26, tzinfo=UTC)
REFERENCES = StaticReferences({("v1", "v1-test"): reference("v1")})


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
        for bucket in (BUCKET, REGISTRY_BUCKET):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield s3


def put_firehose_object(s3, hour: datetime, events) -> str:
    """An object as Firehose writes it: one gzip of newline-delimited events under the hour."""
    key = f"{hour_prefix(hour)}propensity-test-predictions-1-{hour:%Y-%m-%d-%H}-05-00-{uuid.uuid4()}.gz"
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(b"".join(lines(events))))
    return key


def window_events(cloudwatch, hour: datetime, api: str = "v1") -> list[dict]:
    response = cloudwatch.get_metric_statistics(
        Namespace="Propensity",
        MetricName=names.WINDOW_EVENTS,
        Dimensions=[{"Name": "ApiVersion", "Value": api}],
        StartTime=hour,
        EndTime=hour + timedelta(hours=1),
        Period=3600,
        Statistics=["Maximum", "SampleCount"],
    )
    return response["Datapoints"]


def make_job(schedule=Schedule(first_run_hours=4, recheck_hours=6)) -> tuple[DriftJob, object]:
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    job = DriftJob(
        S3ArchiveStore(BUCKET),
        AthenaOnMoto(BUCKET, REGION),
        REFERENCES,
        CloudWatchMetricsPublisher(cloudwatch),
        schedule=schedule,
    )
    return job, cloudwatch


def at(hour: int, minute: int = 25) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


def test_first_run_processes_the_last_complete_hours_and_sets_the_watermark(aws):
    # Given 300 events in each of the hours 07, 08 and 09, and nothing at 10
    for hour in (7, 8, 9):
        put_firehose_object(aws, at(hour, 0), make_events("v1", 300, at(hour, 0), seed=hour))
    job, cloudwatch = make_job()
    # When the job runs at 11:25 (10:00-11:00 is the last complete hour, 20 minutes settled)
    summary = job.run_due(at(11))
    # Then the four hours up to 10:00 are computed, oldest first, and the watermark is 10:00
    assert [o.start.hour for o in summary.computed] == [7, 8, 9, 10]
    assert summary.watermark == at(10, 0)
    assert DriftState(job.store).load_watermark().hour == at(10, 0)
    # And each hour's figures are in CloudWatch at the hour they describe
    for hour in (7, 8, 9):
        [point] = window_events(cloudwatch, at(hour, 0))
        assert point["Maximum"] == 300 and point["SampleCount"] == 1
    assert window_events(cloudwatch, at(10, 0)) == []
    # And the daily aggregate adds the hours up
    assert DriftState(job.store).load_daily(DAY.date()).events == 900


def test_rerunning_never_double_counts(aws):
    for hour in (7, 8):
        put_firehose_object(aws, at(hour, 0), make_events("v1", 300, at(hour, 0), seed=hour))
    job, cloudwatch = make_job()
    job.run_due(at(9))
    # When the same run is repeated (EventBridge delivers at least once)
    again = job.run_due(at(9))
    # Then nothing is recomputed or re-published, and the aggregate is unchanged
    assert again.computed == []
    assert {h.hour for h in again.unchanged} >= {7, 8}
    assert window_events(cloudwatch, at(7, 0))[0]["SampleCount"] == 1
    assert DriftState(job.store).load_daily(DAY.date()).events == 600
    # And forcing an hour replaces its result rather than adding to it, and publishes nothing
    # again: the figures are the same as those the hour's marker records
    forced = job.run_hours([at(7, 0)], force=True)
    assert [o.start.hour for o in forced.computed] == [7]
    assert forced.published == [] and forced.already_published == [at(7, 0)]
    assert window_events(cloudwatch, at(7, 0))[0]["SampleCount"] == 1
    assert DriftState(job.store).load_window(at(7, 0)).events == 300
    assert DriftState(job.store).load_daily(DAY.date()).events == 600


def test_a_late_object_is_caught_and_its_hour_recomputed(aws):
    put_firehose_object(aws, at(7, 0), make_events("v1", 300, at(7, 0), seed=1))
    put_firehose_object(aws, at(8, 0), make_events("v1", 300, at(8, 0), seed=2))
    job, cloudwatch = make_job()
    job.run_due(at(9))
    # Given Firehose delivering a retried batch into the already processed 08:00 folder
    put_firehose_object(aws, at(8, 0), make_events("v1", 100, at(8, 0), seed=3))
    # When the next hourly run happens
    summary = job.run_due(at(10))
    # Then 08:00 is recomputed from all its objects, 09:00 is new, 07:00 is left alone
    assert sorted(o.start.hour for o in summary.computed) == [8, 9]
    assert DriftState(job.store).load_window(at(8, 0)).events == 400
    assert DriftState(job.store).load_daily(DAY.date()).events == 700
    # And the hour's event gauge now reads 400 (gauges are read with Maximum, never Sum)
    assert max(p["Maximum"] for p in window_events(cloudwatch, at(8, 0))) == 400


def test_missed_runs_are_caught_up_in_order_within_the_per_run_cap(aws):
    for hour in range(6, 14):
        put_firehose_object(aws, at(hour, 0), make_events("v1", 250, at(hour, 0), seed=hour))
    job, _ = make_job(Schedule(first_run_hours=1, recheck_hours=2, max_hours_per_run=3))
    job.run_due(at(7))  # processes 06:00, watermark 06:00
    # When the schedule did not run for hours and then runs at 14:25
    first = job.run_due(at(14))
    second = job.run_due(at(14))
    third = job.run_due(at(14))
    # Then each run works off the oldest missing hours, at most three per run, until caught up
    assert [o.start.hour for o in first.computed] == [7, 8, 9]
    assert [o.start.hour for o in second.computed] == [10, 11, 12]
    assert [o.start.hour for o in third.computed] == [13]
    assert third.watermark == at(13, 0)
    assert DriftState(job.store).load_daily(DAY.date()).events == 250 * 8


class FlakyStore(S3ArchiveStore):
    """S3 that fails listing one hour, once."""

    def __init__(self, bucket: str, failing_prefix: str) -> None:
        super().__init__(bucket)
        self.failing_prefix = failing_prefix

    def list_objects(self, prefix):
        if prefix == self.failing_prefix:
            self.failing_prefix = "(failed once)"
            raise ConnectionError("S3 unavailable")
        return super().list_objects(prefix)


def test_a_failed_hour_holds_the_watermark_and_is_retried(aws):
    for hour in (7, 8, 9):
        put_firehose_object(aws, at(hour, 0), make_events("v1", 250, at(hour, 0), seed=hour))
    job, _ = make_job(Schedule(first_run_hours=3, recheck_hours=2))
    job.store = FlakyStore(BUCKET, hour_prefix(at(8, 0)))
    # When 08:00 fails
    summary = job.run_due(at(10))
    # Then 07:00 and 09:00 are computed (one engine pass), but the watermark stays before 08:00
    assert [o.start.hour for o in summary.computed] == [7, 9]
    assert list(summary.failed) == [at(8, 0)]
    assert summary.watermark == at(7, 0)
    # And the next run retries 08:00, leaves 09:00 alone, and catches up
    retry = job.run_due(at(10))
    assert [o.start.hour for o in retry.computed] == [8]
    assert at(9, 0) in retry.unchanged
    assert retry.watermark == at(9, 0)


def test_the_handler_runs_the_scheduled_job_with_registry_references(aws, monkeypatch, trained):
    # Given the v1 model registered in an S3 registry, and an hour of its traffic archived
    # (records sealed with the registry's KMS key, which the job verifies)
    registry = Registry(
        S3BlobStore(REGISTRY_BUCKET, "registry"), KmsSigner(create_signing_key(REGISTRY_BUCKET))
    )
    manifest = registry.register(trained["v1"].bundle_path)
    events = make_events(
        "v1", 400, at(9, 0), model_version=manifest.model_version, overrides={"contact": "telephone"}
    )
    put_firehose_object(aws, at(9, 0), events)
    for name, value in {
        "ARCHIVE_LOCATION": f"s3://{BUCKET}",
        "REGISTRY_LOCATION": f"s3://{REGISTRY_BUCKET}/registry",
        "DRIFT_SCHEDULE": Schedule(first_run_hours=1).model_dump_json(),
        "METRICS_BACKEND": "cloudwatch",
        "ATHENA_WORKGROUP": WORKGROUP,
        "GLUE_DATABASE": DATABASE,
    }.items():
        monkeypatch.setenv(name, value)
    # The handler's engine is the real Athena one (checked here), answered through moto
    import propensity.drift.runtime as runtime
    from propensity.query.athena import AthenaEngine
    from propensity.query.factory import open_engine

    def athena_on_moto(location, *, workgroup, database):
        assert isinstance(open_engine(location, workgroup=workgroup, database=database), AthenaEngine)
        return AthenaOnMoto(BUCKET, REGION)

    monkeypatch.setattr(runtime, "open_engine", athena_on_moto)
    handler = load_handler("drift")
    # When EventBridge invokes it at 10:20 (the hour 09:00-10:00 has settled by then)
    result = handler.lambda_handler(
        scheduled_event(at(10, 20)), LambdaContext(function_name="propensity-dev-drift")
    )
    # Then the hour is judged against the registered model's reference and the drift is reported
    assert result["computed"] == [at(9, 0).isoformat()]
    assert result["watermark"] == at(9, 0).isoformat()
    assert any("contact" in alert for alert in result["alerts"])
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    psi = cloudwatch.get_metric_statistics(
        Namespace="Propensity",
        MetricName=names.FEATURE_PSI,
        Dimensions=[{"Name": "ApiVersion", "Value": "v1"}, {"Name": "Feature", "Value": "contact"}],
        StartTime=at(9, 0),
        EndTime=at(10, 0),
        Period=3600,
        Statistics=["Maximum"],
    )["Datapoints"]
    assert psi and psi[0]["Maximum"] > 0.2
    # And a backfill request recomputes given hours on demand
    again = handler.lambda_handler({"hours": ["2026-11-26T09"], "force": True}, LambdaContext())
    assert again["computed"] == [at(9, 0).isoformat()]
    with pytest.raises(ValueError, match="scheduled event"):
        handler.lambda_handler({"unexpected": True}, LambdaContext())


def test_references_come_from_shipped_manifests_then_the_registry(tmp_path, trained, registry):
    # Given the function's folder with the deployed model's manifest (and an unrelated JSON file)
    from propensity.drift.runtime import ManifestReferences
    from propensity.registry.manifests import ChainedManifests, RegistryManifests, ShippedManifests

    shutil.copy(trained["v1"].bundle_path / "manifest.json", tmp_path / "manifest-v1.json")
    (tmp_path / "other.json").write_text('{"not": "a manifest"}')
    shipped = ManifestReferences(ShippedManifests(tmp_path))
    v1, v2 = trained["v1"].manifest, trained["v2"].manifest
    # Then the shipped model's reference is found without any registry
    assert shipped.reference("v1", v1.model_version) == v1.reference
    assert shipped.reference("v2", v2.model_version) is None
    # And a registry fills in what was not shipped; unknown versions stay unknown
    chained = ManifestReferences(ChainedManifests([ShippedManifests(tmp_path), RegistryManifests(registry)]))
    assert chained.reference("v2", v2.model_version) == v2.reference
    assert chained.reference("v1", "v1-never-registered") is None


def test_a_damaged_object_fails_its_own_hour_only(aws):
    # Given a truncated gzip object in 08:00 (a writer that died mid-object) between good hours
    for hour in (7, 9):
        put_firehose_object(aws, at(hour, 0), make_events("v1", 250, at(hour, 0), seed=hour))
    whole = gzip.compress(b"".join(lines(make_events("v1", 50, at(8, 0)))))
    aws.put_object(Bucket=BUCKET, Key=f"{hour_prefix(at(8, 0))}broken.gz", Body=whole[: len(whole) // 2])
    job, _ = make_job(Schedule(first_run_hours=3, recheck_hours=2))
    # When the run counts the three hours
    summary = job.run_due(at(10))
    # Then the batch falls back to hour by hour: 08:00 fails with the engine's reason, the others are kept
    assert [o.start.hour for o in summary.computed] == [7, 9]
    assert list(summary.failed) == [at(8, 0)]
    assert "GZIP" in summary.failed[at(8, 0)] or "gzip" in summary.failed[at(8, 0)]
    assert summary.watermark == at(7, 0)


def test_now_is_taken_to_the_minute_and_the_future_is_refused(aws):
    from propensity.drift.job import FutureTimeError

    put_firehose_object(aws, at(9, 0), make_events("v1", 250, at(9, 0), seed=9))
    job, _ = make_job(Schedule(first_run_hours=1))
    job.clock = lambda: at(10, 30)
    # At the scheduled 10:20, 09:00-10:00 has settled: it is the hour processed
    summary = job.run_due(at(10, 20))
    assert [o.start.hour for o in summary.computed] == [9]
    # A time later than the clock would move the watermark past it: refused
    with pytest.raises(FutureTimeError):
        job.run_due(at(12, 0))
    with pytest.raises(FutureTimeError):
        job.run_hours([at(10, 0)])
    assert DriftState(job.store).load_watermark().hour == at(9, 0)
