"""The labels function as Lambda runs it (moto S3): bad events, a file rejected whole, S3 failing.

Whatever arrives, the invocation either answers with what it ingested or raises one typed
error, so Lambda retries it and then hands it to the function's dead-letter queue.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from propensity.boundary import BadEventError
from propensity.labels.runtime import IngestionFailedError
from tests.bad_inputs import BUCKET, TABLES, ids
from tests.events import LambdaContext, s3_event
from tests.integration.stand_in import load_handler

REGION = "eu-west-1"


@pytest.fixture
def labels(monkeypatch):
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "ARCHIVE_LOCATION": f"s3://{BUCKET}",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield load_handler("labels"), s3


@pytest.mark.parametrize(("name", "event"), TABLES["labels"], ids=ids(TABLES["labels"]))
def test_the_labels_function_refuses_a_malformed_event_with_one_typed_error(labels, name, event):
    handler, s3 = labels
    with pytest.raises(BadEventError, match="labels: unusable event"):
        handler.lambda_handler(event, LambdaContext())
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="outcomes/")


def test_a_file_rejected_whole_is_answered_not_retried(labels):
    # Given a file that cannot be read at all (not gzip despite its name)
    handler, s3 = labels
    s3.put_object(Bucket=BUCKET, Key="labels/broken.csv.gz", Body=b"\x1f\x8bnot gzip at all")
    # When it is notified / Then the invocation succeeds (a retry would reject it again) and says so
    result = handler.lambda_handler(s3_event(BUCKET, ["labels/broken.csv.gz"]), LambdaContext())
    [file] = result["files"]
    assert (file["accepted"], file["rejected"]) == (0, 1) and file["rejects"].startswith("outcomes/rejects/")


def test_s3_failing_mid_batch_fails_the_invocation_after_the_other_files(labels, monkeypatch):
    handler, s3 = labels
    for name in ("a", "b"):
        s3.put_object(
            Bucket=BUCKET,
            Key=f"labels/{name}.csv",
            Body=f"prediction_id,outcome,outcome_date\n{name},yes,2026-03-01\n".encode(),
        )
    real_open = handler.STORE.open_read

    def open_read(key):
        if key == "labels/a.csv":
            raise ConnectionError("S3 503 SlowDown")
        return real_open(key)

    monkeypatch.setattr(handler.STORE, "open_read", open_read)
    with pytest.raises(IngestionFailedError, match="labels/a.csv"):
        handler.lambda_handler(s3_event(BUCKET, ["labels/a.csv", "labels/b.csv"]), LambdaContext())
    # b went in; the retry (S3 back) ingests a and reports b as already ingested, not twice
    monkeypatch.setattr(handler.STORE, "open_read", real_open)
    result = handler.lambda_handler(s3_event(BUCKET, ["labels/a.csv", "labels/b.csv"]), LambdaContext())
    assert [(f["key"], f["duplicate"]) for f in result["files"]] == [
        ("labels/a.csv", False),
        ("labels/b.csv", True),
    ]
