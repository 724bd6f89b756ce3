"""The engine's drift counts over real archives (DuckDB): equal to counting validated events."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest

from propensity.archive.layout import LocalArchiveWriter, hour_prefix
from propensity.constants import UNCERTAIN_MARGIN
from propensity.drift.aggregates import count_hours, feature_value, warning_fields
from propensity.events import PredictionEvent
from propensity.features.schemas import SPECS
from propensity.model.confidence import margin
from propensity.monitoring.reference import SCORE_EDGES
from propensity.query.duckdb_engine import DuckDBEngine
from tests.unit.drift.events_factory import count_events, lines, make_events

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
        "scores": np.bincount(np.searchsorted(SCORE_EDGES, p, side="left"), minlength=len(SCORE_EDGES) + 1),
        "values": values,
    }


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_counts_equal_counting_validated_events(api):
    # Given 600 events of one model version, archived by the service's writer
    events = make_events(api, 600, HOUR)
    # When the engine counts the hour
    counts = count_events(events, HOUR)
    # Then every count equals the obvious computation over validated events
    [group] = counts.groups.values()
    expected = expected_counts(events)
    assert group.events == expected["events"] == 600
    assert group.yes == expected["yes"]
    assert group.probability_sum == pytest.approx(expected["probability_sum"])
    assert group.uncertain == expected["uncertain"]
    assert group.confidence == expected["confidence"]
    assert group.score_counts == expected["scores"].tolist()
    for name, values in expected["values"].items():
        assert group.values[name] == values, name
    assert counts.bad_lines == 0 and counts.lines == 600


def test_bad_lines_are_counted_and_the_rest_is_kept(tmp_path):
    good = make_events("v2", 5, HOUR)
    warned = make_events(
        "v2",
        2,
        HOUR,
        seed=9,
        overrides={"job": "astronaut"},
        warnings=["customer.job: unknown value 'astronaut' scored as an unseen category"],
    )
    future = json.loads(good[2].model_dump_json()) | {"schema_version": 99}
    chunk = [
        *lines(good[2:]),
        *lines(warned),
        b"{not json\n",
        (json.dumps(future) + "\n").encode(),  # a schema this reader does not know
        b'{"event": "PredictionEvent"}\n',  # JSON, but not an event
        b"\n",
    ]
    folder = tmp_path / hour_prefix(HOUR)
    folder.mkdir(parents=True)
    (folder / "firehose-1.gz").write_bytes(gzip.compress(b"".join(chunk)))
    counts = count_hours(DuckDBEngine(tmp_path), [HOUR])[HOUR]
    [group] = counts.groups.values()
    assert group.events == 3 + 2
    assert counts.bad_lines == 3
    # And warnings are attributed to the field they name
    assert group.events_with_warnings == 2
    assert group.warnings == {"job": 2}
    assert group.values["job"]["astronaut"] == 2


def test_synthetic_events_are_counted_on_their_own_and_never_judged(tmp_path):
    real = make_events("v1", 40, HOUR)
    probes = [e.model_copy(update={"synthetic": True}) for e in make_events("v1", 7, HOUR, seed=2)]
    LocalArchiveWriter(tmp_path).write(real + probes)
    counts = count_hours(DuckDBEngine(tmp_path), [HOUR])[HOUR]
    [group] = counts.groups.values()
    assert group.events == 40
    assert sum(sum(v.values()) for v in [group.values["age"]]) == 40
    assert counts.synthetic == {"v1": 7}


def test_several_hours_are_counted_in_one_pass_and_filed_by_hour(tmp_path):
    later = HOUR.replace(hour=11)
    writer = LocalArchiveWriter(tmp_path)
    writer.write(make_events("v1", 30, HOUR))
    writer.write(make_events("v1", 20, HOUR, seed=8))  # a second gzip member in the same file
    writer.write(make_events("v2", 10, later))
    engine = DuckDBEngine(tmp_path)
    counts = count_hours(engine, [HOUR, later, HOUR.replace(hour=12)])
    assert counts[HOUR].events == 50
    assert counts[later].events == 10
    assert counts[HOUR.replace(hour=12)].events == 0
    assert [q.name for q in engine.log.queries] == ["drift_counts"]


def test_values_come_back_typed_whichever_engine_printed_them():
    assert feature_value("age", "30.0") == 30 == feature_value("age", "3.0E1")
    assert feature_value("balance_eur", "12.5") == 12.5
    assert feature_value("has_housing_loan", "true") is True
    assert feature_value("job", "admin.") == "admin."
    assert feature_value("age", None) is None


def test_warning_fields_understand_flat_names_and_request_paths():
    assert warning_fields("customer.marital_status: unknown value 'x'") == {"marital_status"}
    assert warning_fields("contact.channel and job") == {"contact_channel", "job"}
    assert warning_fields("nothing to see") == set()
