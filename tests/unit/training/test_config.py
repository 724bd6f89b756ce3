"""Training configs: clear errors, a hash that follows the settings, excluded columns."""

from __future__ import annotations

import pytest

from propensity.features.schemas import COLUMN_NAMES
from propensity.training.config import (
    ConfigError,
    TrainingConfig,
    default_config_path,
    load_config,
    parse_config,
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[model\nexclude_features = 1", "not valid TOML"),
        ("[modle]\nexclude_features = []", "modle: Extra inputs are not permitted"),
        ('[model]\nexclude_features = ["dayy"]', "['dayy'] are not v1 inputs"),
        ("[window]\nmonths = 3\nrows = 5000", "set window.months or window.rows, not both"),
        ("[window]\nmonths = 0", "window.months: Input should be greater than or equal to 1"),
        ("[model.hyperparameters]\nmax_iters = 10", "unknown ['max_iters']"),
        ('[calibration]\nmethod = "isotonic"', "calibration.method"),
        ('api_version = "v2"', "written for 'v2', used for 'v1'"),
    ],
)
def test_bad_configs_say_what_and_where(text, message):
    with pytest.raises(ConfigError, match="my.toml") as error:
        parse_config(text, "v1", "my.toml")
    assert message in str(error.value)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read training config .*nope.toml"):
        load_config(tmp_path / "nope.toml", "v1")


def test_excluding_every_input_is_refused():
    from propensity.features.schemas import SPECS

    names = ", ".join(f'"{n}"' for n in SPECS["v1"].names)
    with pytest.raises(ConfigError, match="nothing left to learn"):
        parse_config(f"[model]\nexclude_features = [{names}]", "v1")


def test_hash_follows_settings_not_names():
    a = parse_config('name = "a"\n[calibration]\ncv_folds = 3', "v1")
    b = parse_config('name = "b"\ndescription = "x"\n[calibration]\ncv_folds = 3', "v1")
    c = parse_config('name = "a"\n[calibration]\ncv_folds = 4', "v1")
    assert a.sha256 == b.sha256
    assert a.sha256 != c.sha256


def test_excluded_columns_cover_one_hot_and_derived_columns():
    v1 = parse_config('[model]\nexclude_features = ["day", "month"]', "v1")
    assert [COLUMN_NAMES["v1"][i] for i in v1.excluded_columns()] == ["day"] + [
        f"month={m}"
        for m in ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
    ]
    v2 = parse_config(
        '[model]\nexclude_features = ["last_contact_month", "days_since_previous_contact"]', "v2"
    )
    assert {COLUMN_NAMES["v2"][i] for i in v2.excluded_columns()} == {
        "last_contact_month_number",
        "days_since_previous_contact",
        "previously_contacted",
    }


@pytest.mark.parametrize("api", ["v1", "v2"])
def test_committed_defaults_load(api):
    config = load_config(None, api)
    assert isinstance(config, TrainingConfig)
    assert default_config_path(api).name == f"{api}.toml"
    assert config.backtest.months == 10
