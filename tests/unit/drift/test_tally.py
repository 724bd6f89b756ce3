"""The drift job's reader: fast path equals full validation; bad input is counted, never fatal."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from propensity.archive.layout import LocalArchiveWriter
from propensity.archive.reader import hour_objects
from propensity.archive.store import LocalArchiveStore
from propensity.constants import UNCERTAIN_MARGIN
from propensity.drift.tally import FAST_LINE, WindowTally, tally_objects, warning_fields
from propensity.events import PredictionEvent
from propensity.features.schemas import SPECS
from propensity.model.confidence import margin
from tests.unit.drift.events_factory import lines, make_events

HOUR = datetime(2026, 11, 26, 10, tzinfo=UTC)


def expected_counts(events: list[PredictionEvent]):
    """The same figures computed the slow, obvious way."""
    p = np.array([e.probability for e in events])
    t = np.array([e.threshold for e in events])
    values = {name: Counter(e.features[name] for e in events) for name in SPECS[events[0].api_version].names}
    return {
        "events": len(events),
        "yes": sum(e.decision == "yes" for e in events),
        "probability_sum": float(p.sum()),
        "uncertain": int((margin(p, t) < UNCERTAIN_MARGIN).sum()),
        "confidence": Counter(e.confidence for e in events),
        "values": values,
    }


def test_the_fast_path_recognises_what_the_service_writes():
    # Given an event serialised exactly as the service prints it
    [event] = make_events("v2", 1, HOUR)
    # Then the whole-line pattern matches it (a schema change that breaks this shows up here)
    assert FAST_LINE is not None
    assert FAST_LINE.match(event.model_dump_json().encode() + b"\n") is not None


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_tally_equals_counting_validated_events(api):
    # Given 600 events of one model version
    events = make_events(api, 600, HOUR)
    # When the tally reads their archive lines in two chunks
    tally = WindowTally()
    data = lines(events)
    tally.add_lines(data[:250])
    tally.add_lines(data[250:])
    # Then every count equals the obvious computation over validated events
    [group] = tally.groups.values()
    expected = expected_counts(events)
    assert group.events == expected["events"] == 600
    assert group.yes == expected["yes"]
    assert group.probability_sum == pytest.approx(expected["probability_sum"])
    assert group.uncertain == expected["uncertain"]
    assert group.confidence == expected["confidence"]
    for name, counts in expected["values"].items():
        assert group.values[name] == counts, name
    assert sum(group.score_counts) == 600
    assert tally.stats.bad_lines == 0
    # And every line took the fast path
    assert tally.fast_lines == 600


def test_bad_lines_are_counted_and_the_rest_is_kept():
    good = make_events("v2", 5, HOUR)
    warned = make_events(
        "v2",
        2,
        HOUR,
        seed=9,
        overrides={"job": "astronaut"},
        warnings=["customer.job: unknown value 'astronaut' scored as an unseen category"],
    )
    glued = (good[0].model_dump_json() + good[1].model_dump_json() + "\n").encode()
    future = json.loads(good[2].model_dump_json()) | {"schema_version": 99}
    chunk = [
        *lines(good[2:]),
        *lines(warned),
        glued,  # two events without a newline between them: both kept
        b"{not json\n",
        (json.dumps(future) + "\n").encode(),  # a schema this reader does not know
        b'{"event": "PredictionEvent"}\n',  # JSON, but not an event
        b"CWL CONTROL MESSAGE: Checking health of destination Firehose.\n",  # not an event, not an error
    ]
    tally = WindowTally()
    tally.add_lines(chunk)
    [group] = tally.groups.values()
    assert group.events == 3 + 2 + 2
    assert tally.stats.bad_lines == 3
    assert len(tally.stats.examples) == 3
    # And warnings are attributed to the field they name
    assert group.events_with_warnings == 2
    assert group.warnings == {"job": 2}
    assert group.values["job"]["astronaut"] == 2


def test_warning_fields_understand_flat_names_and_request_paths():
    assert warning_fields("customer.marital_status: unknown value 'x'") == {"marital_status"}
    assert warning_fields("contact.channel and job") == {"contact_channel", "job"}
    assert warning_fields("nothing to see") == set()


def test_archive_files_with_several_gzip_members_are_read_whole(tmp_path):
    # Given the local writer appending two batches to the same hour file (two gzip members)
    writer = LocalArchiveWriter(tmp_path)
    writer.write(make_events("v1", 30, HOUR))
    writer.write(make_events("v1", 20, HOUR, seed=8))
    store = LocalArchiveStore(tmp_path)
    objects = hour_objects(store, HOUR)
    assert len(objects) == 1
    # When the hour is tallied
    tally = tally_objects(store, objects)
    # Then both batches are counted
    assert tally.stats.events == 50
    assert tally.objects == objects
