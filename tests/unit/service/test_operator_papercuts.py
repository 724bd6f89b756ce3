"""Issue 16's serving papercuts and v1 usage by consumer, through the app."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime

import pytest

from propensity.archive.layout import hour_prefix
from propensity.cli import main
from propensity.service import metric_names as names
from propensity.service.core.rejections import ARCHIVE_REJECTIONS_PREFIX, RejectedRequest
from propensity.service.settings import ServiceSettings, local_consumers, parse_consumers
from tests.service_support import emf_blobs, emitted_events, v1_body, v2_body

# --- blank and unknown categories ----------------------------------------------------------------


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_a_blank_v2_category_gets_a_clear_message_not_a_regex(client, blank):
    response = client.post("/v2/predict", json=v2_body(customer={"job": blank}))
    assert response.status_code == 422
    (item,) = response.json()["detail"]
    assert item["loc"] == ["body", "customer", "job"]
    assert "blank" in item["msg"]
    assert "pattern" not in item["msg"] and "[^" not in item["msg"]


def test_translate_carries_an_unknown_category_over_with_a_warning(client):
    # Given a v1 body with a job and an education the v1 contract does not know
    body = v1_body(job="astronaut", education=" Doctorate ")
    # When translated
    response = client.post("/v2/translate", json=body)
    # Then it is translated, the values carried over (trimmed), and a warning says so
    assert response.status_code == 200, response.text
    translated = response.json()
    assert translated["customer"]["job"] == "astronaut"
    assert translated["customer"]["education"] == "Doctorate"
    warning = response.headers["Warning"]
    assert warning.startswith('299 - "') and "job: unknown category 'astronaut'" in warning
    assert "education" in warning
    # And v2 accepts the translation, scoring the values as unknown with its own warnings
    scored = client.post("/v2/predict", json=translated)
    assert scored.status_code == 200 and len(scored.json()["warnings"]) == 2


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"default": "maybe"}, "default"),  # yes/no in v1, a boolean in v2: no unknown possible
        ({"job": "   "}, "job"),  # blank
        ({"job": "x" * 65}, "job"),  # longer than v2 accepts
        ({"job": 7}, "job"),  # not a string
        ({"job": "astronaut", "age": 5}, "age"),  # an unknown category does not hide another error
    ],
)
def test_translate_still_refuses_what_v2_could_not_take(client, changes, field):
    response = client.post("/v2/translate", json=v1_body(**changes))
    assert response.status_code == 422
    assert field in {item["loc"][1] for item in response.json()["detail"]}


def test_translate_blank_category_message_is_clear(client):
    (item,) = client.post("/v2/translate", json=v1_body(job=" ")).json()["detail"]
    assert "blank" in item["msg"]


def test_a_hostile_unknown_category_cannot_break_the_warning_header(client):
    body = v1_body(job='x"\r\nSet-Cookie: a=b ✓')
    response = client.post("/v2/translate", json=body)
    assert response.status_code == 200
    assert "\n" not in response.headers["Warning"] and "Set-Cookie" not in response.headers
    assert response.json()["customer"]["job"] == 'x"\r\nSet-Cookie: a=b ✓'.strip()


# --- consumers -------------------------------------------------------------------------------------


def test_local_consumers_from_json_or_a_file(tmp_path):
    assert local_consumers({"PROPENSITY_CONSUMERS": '{"k1": "crm"}'}) == {"k1": "crm"}
    path = tmp_path / "consumers.json"
    path.write_text('{"k2": "branch-app"}')
    assert local_consumers({"PROPENSITY_CONSUMERS": str(path)}) == {"k2": "branch-app"}
    assert local_consumers({}) == {}


@pytest.mark.parametrize("raw", ["{", "[1]", '{"k": ""}', '{"k": 3}', "/nowhere/consumers.json", '{"": "x"}'])
def test_bad_consumer_maps_are_refused_with_the_variable_named(raw):
    with pytest.raises(ValueError, match="CONSUMER_KEY_IDS"):
        parse_consumers(raw, "CONSUMER_KEY_IDS")


def test_lambda_settings_read_the_key_id_map():
    settings = ServiceSettings.from_env({"API_VERSIONS": "v2", "CONSUMER_KEY_IDS": '{"id-1": "crm"}'})
    assert settings.consumers == {"id-1": "crm"} and settings.consumer_source == "api_key_id"


def test_local_api_key_names_the_consumer_in_events_and_v1_calls(make_client, capsys):
    # Given a local app mapping API keys to names, metrics flushed per request
    client = make_client(consumers={"secret-1": "crm"}, consumer_source="api_key", metrics_flush="request")
    # When v1 is called with the mapped key, an unmapped one and none
    for key in ("secret-1", "other", None):
        headers = {"x-api-key": key} if key else {}
        assert client.post("/v1/predict", json=v1_body(), headers=headers).status_code == 200
    out = capsys.readouterr().out
    # Then events carry the name (never the key), and V1Calls is counted per name
    assert [e.consumer for e in emitted_events(out)] == ["crm", "unknown", None]
    calls = [b for b in emf_blobs(out) if names.V1_CALLS in b]
    assert [b[names.DIMENSION_CONSUMER] for b in calls] == ["crm", "unknown", "unknown"]
    assert "secret-1" not in out


def test_rejected_v1_calls_leave_a_record_and_v2_ones_do_not(make_client, tmp_path, capsys):
    client = make_client(
        consumers={"secret-1": "crm"}, consumer_source="api_key", archive_dir=tmp_path, events_to_stdout=False
    )
    headers = {"x-api-key": "secret-1"}
    client.post("/v1/predict", json=v1_body(age=5, job="astronaut"), headers=headers)
    client.post("/v1/predict", content=b"x" * 20_000, headers={**headers, "content-type": "application/json"})
    client.post("/v1/predict", content=b"{}", headers={**headers, "content-type": "text/plain"})
    client.post("/v2/predict", json=v2_body(customer={"age": 5}), headers=headers)
    folder = tmp_path / hour_prefix(datetime.now(UTC), ARCHIVE_REJECTIONS_PREFIX)
    lines = b"".join(gzip.decompress(f.read_bytes()) for f in folder.glob("*.jsonl.gz")).splitlines()
    records = [RejectedRequest.model_validate_json(line) for line in lines]
    assert [(r.api_version, r.consumer, r.status, r.reason) for r in records] == [
        ("v1", "crm", 422, "validation"),
        ("v1", "crm", 413, "payload_too_large"),
        ("v1", "crm", 415, "unsupported_media_type"),
    ]
    assert sorted(records[0].fields) == ["age", "job"]
    assert "astronaut" not in lines[0].decode()  # labels only, never the values sent
    # And nothing of it reached the predictions the drift and evaluation jobs read
    assert not (tmp_path / "predictions").exists()


# --- history ---------------------------------------------------------------------------------------


def test_history_prints_a_table(registry, capsys):
    # Given the fixture's registry (one champion move per version, by pytest, "test fixture")
    assert main(["history", "--api", "v1", "--registry", str(registry.store.location)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["when", "(UTC)", "alias", "from", "to", "by", "reason"]
    assert lines[-1].split()[2:4] == ["champion", "-"] and lines[-1].endswith("test fixture")
    assert not any(line.startswith("{") for line in lines)
    assert main(["history", "--api", "v1", "--registry", str(registry.store.location), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[0])["alias"] == "champion"
