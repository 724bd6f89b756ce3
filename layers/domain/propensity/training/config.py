"""The training configuration: a TOML file per model, its hash recorded in the manifest.

    [model]
    exclude_features = ["day", "month"]      # API inputs the model must not use
    [model.hyperparameters]                  # HistGradientBoostingClassifier arguments
    max_iter = 300
    [window]                                 # what the model trains on (at most one of the two)
    months = 12                              # the last 12 calendar months of the data
    # rows = 20000                           # or the last 20,000 rows
    [weighting]
    half_life_months = 6.0                   # a row k months old weighs 0.5 ** (k / 6)
    [calibration]
    method = "platt_recent_intercept"        # or "platt"
    cv_folds = 3
    [backtest]
    months = 10

Excluded features stay in the API contract: requests still validate them and the archive
keeps them. Only the model is denied them: their model columns are held constant in the
training matrix, so no tree can split on them and the exported trees (and serving, which
builds the full matrix as always) never read them.

The default configs are committed next to this module (``configs/<api>.toml``); the
backtest figures that chose them are in docs/model.md and in each model card.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from propensity.constants import ApiVersion
from propensity.features.schemas import COLUMN_NAMES, SPECS

CONFIG_DIR = Path(__file__).parent / "configs"
CalibrationMethod = Literal["platt", "platt_recent_intercept"]

# HistGradientBoostingClassifier arguments a config may set (the rest are fixed by the
# protocol: random_state, early_stopping, categorical handling).
HYPERPARAMETER_NAMES = frozenset(
    {"max_iter", "learning_rate", "max_depth", "min_samples_leaf", "l2_regularization", "max_leaf_nodes"}
)

# v2 model columns that do not carry their input's name (see propensity.features.v2).
_DERIVED_COLUMNS: dict[str, tuple[str, ...]] = {
    "last_contact_month": ("last_contact_month_number",),
    "days_since_previous_contact": ("days_since_previous_contact", "previously_contacted"),
}


class ConfigError(ValueError):
    """The training configuration is unreadable or invalid; the message says where."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ModelSection(_Section):
    exclude_features: tuple[str, ...] = ()
    hyperparameters: dict[str, float | int] = Field(default_factory=dict)


class WindowSection(_Section):
    months: Annotated[int, Field(ge=1)] | None = None
    rows: Annotated[int, Field(ge=100)] | None = None

    @model_validator(mode="after")
    def _one_of(self) -> WindowSection:
        if self.months is not None and self.rows is not None:
            raise ValueError("set window.months or window.rows, not both")
        return self


class WeightingSection(_Section):
    half_life_months: Annotated[float, Field(gt=0)] | None = None


class CalibrationSection(_Section):
    method: CalibrationMethod = "platt"
    cv_folds: Annotated[int, Field(ge=2, le=10)] = 5


class BacktestSection(_Section):
    months: Annotated[int, Field(ge=1, le=30)] = 10


class TrainingConfig(_Section):
    """One model's training settings (see the module docstring for the TOML layout)."""

    api_version: ApiVersion
    name: str = "default"
    description: str = ""
    model: ModelSection = ModelSection()
    window: WindowSection = WindowSection()
    weighting: WeightingSection = WeightingSection()
    calibration: CalibrationSection = CalibrationSection()
    backtest: BacktestSection = BacktestSection()

    @model_validator(mode="after")
    def _known_names(self) -> TrainingConfig:
        spec = SPECS[self.api_version]
        unknown = [name for name in self.model.exclude_features if name not in spec.names]
        if unknown:
            raise ValueError(
                f"model.exclude_features: {unknown} are not {self.api_version} inputs "
                f"(known: {', '.join(spec.names)})"
            )
        if len(set(self.model.exclude_features)) == len(spec.names):
            raise ValueError("model.exclude_features excludes every input: nothing left to learn from")
        bad = sorted(set(self.model.hyperparameters) - HYPERPARAMETER_NAMES)
        if bad:
            raise ValueError(
                f"model.hyperparameters: unknown {bad} (allowed: {', '.join(sorted(HYPERPARAMETER_NAMES))})"
            )
        return self

    @property
    def sha256(self) -> str:
        """Hash of the canonical settings (name and description excluded: they change nothing)."""
        settings = self.model_dump(mode="json", exclude={"name", "description"})
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    def excluded_columns(self) -> list[int]:
        """Indices of the model columns that belong to excluded inputs."""
        names = COLUMN_NAMES[self.api_version]
        excluded: set[int] = set()
        for feature in self.model.exclude_features:
            owned = _DERIVED_COLUMNS.get(feature, ()) if self.api_version == "v2" else ()
            for i, column in enumerate(names):
                if column == feature or column.startswith(f"{feature}=") or column in owned:
                    excluded.add(i)
        return sorted(excluded)


def _location(error: Any) -> str:
    return ".".join(str(part) for part in error["loc"]) or "(top level)"


def parse_config(text: str, api_version: ApiVersion, source: str = "<config>") -> TrainingConfig:
    """Parse TOML text; every problem names the file and the key."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{source}: not valid TOML: {error}") from None
    declared = raw.pop("api_version", api_version)
    if declared != api_version:
        raise ConfigError(f"{source}: written for {declared!r}, used for {api_version!r}")
    try:
        return TrainingConfig(api_version=api_version, **raw)
    except ValidationError as error:
        problems = "; ".join(f"{_location(e)}: {e['msg']}" for e in error.errors())
        raise ConfigError(f"{source}: {problems}") from None
    except TypeError as error:
        raise ConfigError(f"{source}: {error}") from None


def load_config(path: Path | str | None, api_version: ApiVersion) -> TrainingConfig:
    """The config at ``path``, or the committed default of ``api_version``."""
    location = Path(path) if path is not None else default_config_path(api_version)
    try:
        text = location.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read training config {location}: {error.strerror or error}") from None
    return parse_config(text, api_version, str(location))


def default_config_path(api_version: ApiVersion) -> Path:
    return CONFIG_DIR / f"{api_version}.toml"


def legacy_config(api_version: ApiVersion, hyperparameters: dict[str, Any]) -> TrainingConfig:
    """The protocol before configs existed: all features, 5-fold Platt, no window or weighting."""
    return TrainingConfig(
        api_version=api_version,
        name="legacy",
        model=ModelSection(hyperparameters=dict(hyperparameters)),
    )
