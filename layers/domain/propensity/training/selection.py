"""The backtest figures that chose each API's default training config (``configs/selection.json``).

Written from ``propensity backtest`` runs of the candidate configs (docs/model.md says how);
the model card of a bundle trained with the chosen config shows them.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from propensity.constants import ApiVersion
from propensity.training.config import CONFIG_DIR, load_config

SELECTION_FILE = CONFIG_DIR / "selection.json"


class Candidate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    excluded: list[str]
    calibration: str
    mean_roc_auc: float
    mean_bias: float
    months_better: str  # e.g. "7 of 10" against the first candidate (the all-inputs baseline)


class Selection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    api_version: ApiVersion
    chosen: str
    reason: str
    measured: str  # machine and date of the runs
    candidates: list[Candidate]


def load_selections(path: Path = SELECTION_FILE) -> dict[str, Selection]:
    if not path.exists():
        return {}
    from pydantic import TypeAdapter

    adapter = TypeAdapter(dict[str, Selection])
    return adapter.validate_json(path.read_bytes())


def selection_for(api_version: ApiVersion, config_sha256: str | None) -> Selection | None:
    """The selection of ``api_version`` if ``config_sha256`` is its committed default config."""
    selection = load_selections().get(api_version)
    if selection is None or config_sha256 is None:
        return None
    return selection if load_config(None, api_version).sha256 == config_sha256 else None
