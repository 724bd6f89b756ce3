"""S3 throttling and 5xx on archive reads and registry writes (botocore Stubber), and partial
writes: each case shows that nothing is lost and nothing is counted twice.

The Stubber answers exactly the calls scripted, in order, so a test also proves which calls a
failure stops (no write after a failed read) and that the retry repeats nothing already done.
"""

from __future__ import annotations

import io
import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from propensity.archive.s3 import S3ArchiveStore
from propensity.archive.store import LocalArchiveStore
from propensity.labels.ingest import ingest_object
from propensity.labels.layout import ACCEPTED_PREFIX, RECORDS_PREFIX
from propensity.labels.outcomes import load_outcomes
from propensity.labels.runtime import IngestionFailedError, ingest_keys
from propensity.registry.s3 import S3BlobStore
from propensity.registry.storage import BlobExistsError

BUCKET = "archive"
LABELS = b"prediction_id,outcome,outcome_date\np-1,yes,2026-03-10\np-2,no,2026-03-11\n"
NOW = datetime(2026, 4, 1, tzinfo=UTC)
# (S3 error code, HTTP status): throttling and the server errors S3 documents as retryable
FAULTS = [("SlowDown", 503), ("InternalError", 500), ("ServiceUnavailable", 503), ("RequestTimeout", 400)]


def body(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("s3", region_name="eu-west-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize(("code", "status"), FAULTS)
def test_a_throttled_label_read_fails_the_invocation_and_the_retry_counts_once(s3, code, status):
    client, stubber = s3
    store = S3ArchiveStore(BUCKET, client=client)
    # Given S3 failing the read of the dropped file, then (Lambda's retry) answering
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)
    stubber.add_response("get_object", {"Body": body(LABELS), "ContentLength": len(LABELS)})
    stubber.add_client_error(
        "get_object", service_error_code="NoSuchKey", http_status_code=404
    )  # no record yet
    stubber.add_response("put_object", {}, {"Bucket": BUCKET, "Key": ANY, "Body": ANY})  # accepted rows
    stubber.add_response("put_object", {}, {"Bucket": BUCKET, "Key": ANY, "Body": ANY, "IfNoneMatch": "*"})
    # When the invocation runs / Then it fails as a whole (retried, then the DLQ), nothing written
    with pytest.raises(IngestionFailedError, match=code):
        ingest_keys(store, ["labels/week.csv"])
    # And the retry ingests the file once: the scripted calls are exactly one read, one
    # record lookup, the rows and one create-only record
    [result] = ingest_keys(store, ["labels/week.csv"])
    assert (result.duplicate, result.record.accepted) == (False, 2)


@pytest.mark.parametrize(("code", "status"), FAULTS)
def test_a_failed_record_write_leaves_the_content_unrecorded_and_the_retry_counts_once(
    tmp_path, code, status
):
    # Given a store whose create-only record write fails once (a partial write: rows stored,
    # no record), as S3 would under throttling
    store = LocalArchiveStore(tmp_path)
    store.put("labels/week.csv", LABELS)
    real_put = store.put
    failures = []

    def put(key, data, *, create_only=False):
        if key.startswith(RECORDS_PREFIX) and not failures:
            failures.append(key)
            raise ConnectionError(f"{status} {code}")
        real_put(key, data, create_only=create_only)

    store.put = put  # type: ignore[method-assign]
    # When ingestion fails and is retried
    with pytest.raises(IngestionFailedError):
        ingest_keys(store, ["labels/week.csv"])
    assert store.list(RECORDS_PREFIX) == [] and len(store.list(ACCEPTED_PREFIX)) == 1
    [result] = ingest_keys(store, ["labels/week.csv"])
    # Then the retry rewrote the same rows under the same key and recorded the content once
    assert not result.duplicate
    book = load_outcomes(store)
    assert len(book) == 2 and book.duplicates == 0 and book.files == 1
    # And a third delivery of the same notification counts nothing
    assert ingest_keys(store, ["labels/week.csv"])[0].duplicate


def test_one_failing_file_never_stops_the_others(tmp_path):
    store = LocalArchiveStore(tmp_path)
    store.put("labels/a.csv", LABELS)
    store.put("labels/b.csv", LABELS.replace(b"p-1", b"p-3").replace(b"p-2", b"p-4"))
    real_get = store.open_read

    def open_read(key):
        if key == "labels/a.csv":
            raise TimeoutError("read timed out")
        return real_get(key)

    store.open_read = open_read  # type: ignore[method-assign]
    with pytest.raises(IngestionFailedError, match="labels/a.csv"):
        ingest_keys(store, ["labels/a.csv", "labels/b.csv"])
    assert set(load_outcomes(store).by_prediction) == {"p-3", "p-4"}


def _ingest_in_process(root: str, barrier) -> bool:
    barrier.wait()
    return ingest_object(LocalArchiveStore(Path(root)), "labels/week.csv", now=NOW).duplicate


def test_two_processes_ingesting_the_same_file_at_once_count_it_once(tmp_path):
    # Given the same notification delivered twice at the same moment (S3 sends at least once)
    LocalArchiveStore(tmp_path).put("labels/week.csv", LABELS)
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(4)
    # When four processes ingest it at once
    with context.Pool(4) as pool:
        duplicates = pool.starmap(_ingest_in_process, [(str(tmp_path), barrier)] * 4)
    # Then exactly one recorded it, the others saw a duplicate, and its rows count once
    assert sorted(duplicates) == [False, True, True, True]
    book = load_outcomes(LocalArchiveStore(tmp_path))
    assert len(book) == 2 and book.duplicates == 0


@pytest.mark.parametrize(("code", "status"), FAULTS)
def test_registry_writes_under_throttling_raise_and_a_retry_writes_once(s3, code, status):
    client, stubber = s3
    store = S3BlobStore("registry", "models", client=client)
    # Given S3 failing a create-only registry write (a gate record, an alias move) once
    expected = {
        "Bucket": "registry",
        "Key": "models/records/r1.json",
        "Body": b"{}",
        "IfNoneMatch": "*",
        "ServerSideEncryption": "AES256",
    }
    stubber.add_client_error("put_object", service_error_code=code, http_status_code=status)
    stubber.add_response("put_object", {}, expected)
    stubber.add_client_error("put_object", service_error_code="PreconditionFailed", http_status_code=412)
    # When it is written / Then the failure surfaces (it is never taken for "already there")
    with pytest.raises(Exception) as raised:
        store.put("records/r1.json", b"{}", create_only=True)
    assert not isinstance(raised.value, BlobExistsError) and code in str(raised.value)
    # And the retry writes it; a repeat of the retry (the first reply was lost) is refused,
    # so the record exists exactly once
    store.put("records/r1.json", b"{}", create_only=True)
    with pytest.raises(BlobExistsError):
        store.put("records/r1.json", b"{}", create_only=True)


@pytest.mark.parametrize(("code", "status"), FAULTS)
def test_a_throttled_registry_read_is_an_error_not_an_absent_blob(s3, code, status):
    client, stubber = s3
    store = S3BlobStore("registry", client=client)
    stubber.add_client_error("get_object", service_error_code=code, http_status_code=status)
    stubber.add_client_error("head_object", service_error_code=code, http_status_code=status)
    # A 5xx must never read as "not registered" (that would let a loader fall back or re-register)
    with pytest.raises(Exception) as raised:
        store.get("models/v1/x/manifest.json")
    assert not isinstance(raised.value, KeyError)
    with pytest.raises(Exception) as raised:
        store.exists("models/v1/x/manifest.json")
    assert not isinstance(raised.value, KeyError)
