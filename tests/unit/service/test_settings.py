"""ServiceSettings: parsed once from the environment the infrastructure sets."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from propensity.service.settings import ServiceSettings

LAMBDA_ENV = {
    "API_VERSIONS": "v1",
    "MODEL_DIR_V1": "model",
    "V1_DEPRECATION_DATE": "2026-09-01",
    "V1_SUNSET_DATE": "2027-06-30",
    "LAMBDA_TASK_ROOT": "/var/task",
}


def test_lambda_environment_is_parsed():
    # Given what the infrastructure sets on the v1 function
    settings = ServiceSettings.from_env(LAMBDA_ENV)
    # Then the bundle folder is resolved under the task root, dates are dates
    assert settings.api_versions == ("v1",)
    assert settings.model_dir("v1") == Path("/var/task/model")
    assert settings.model_dir("v2") is None
    assert settings.v1_deprecation_date == date(2026, 9, 1)
    assert settings.v1_sunset_date == date(2027, 6, 30)
    assert settings.archive_dir is None
    assert settings.metrics_flush == "invocation"
    assert settings.events_to_stdout is True


def test_local_list_of_versions_and_absolute_paths():
    env = {**LAMBDA_ENV, "API_VERSIONS": " v1 , v2,v2", "MODEL_DIR_V2": "/abs/v2", "ARCHIVE_DIR": "/tmp/a"}
    settings = ServiceSettings.from_env(env)
    assert settings.api_versions == ("v1", "v2")
    assert settings.model_dir("v2") == Path("/abs/v2")
    assert settings.archive_dir == Path("/tmp/a")


def test_v2_only_needs_no_dates():
    settings = ServiceSettings.from_env({"API_VERSIONS": "v2", "MODEL_DIR_V2": "model"})
    assert settings.api_versions == ("v2",)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"API_VERSIONS": "v3"}, "unknown API version"),
        ({"API_VERSIONS": ""}, "at least 1"),
        ({"V1_SUNSET_DATE": ""}, "V1_SUNSET_DATE"),
        ({"V1_DEPRECATION_DATE": "01/09/2026"}, "date"),
        ({"V1_SUNSET_DATE": "2026-01-01"}, "before"),
        ({"METRICS_FLUSH": "sometimes"}, "metrics_flush"),
    ],
)
def test_bad_configuration_fails_at_start_up_with_a_clear_message(changes, message):
    with pytest.raises(ValidationError, match=message):
        ServiceSettings.from_env({**LAMBDA_ENV, **changes})


def test_settings_are_immutable():
    settings = ServiceSettings.from_env(LAMBDA_ENV)
    with pytest.raises(ValidationError):
        settings.archive_dir = Path("/tmp")  # type: ignore[misc]
