"""A lifecycle hook's configuration, parsed once from its environment at cold start."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from propensity.constants import ApiVersion


class HookSettings(BaseModel):
    """Set by infra/constructs/hooks.py: which function the hook guards and how strictly."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    API_VERSION: ApiVersion
    TARGET_FUNCTION_NAME: Annotated[str, Field(min_length=1)]
    EXPECTED_MODEL_VERSION: Annotated[str, Field(min_length=1)]
    GOLDEN_FILE: str = "golden.json"
    # Empty: the golden set's own tolerance.
    PROBABILITY_TOLERANCE: Annotated[float, Field(gt=0, lt=1)] | None = None
    MAX_CASES: Annotated[int, Field(ge=0)] = 0
    # v1 answers must carry deprecation headers with exactly these dates.
    V1_DEPRECATION_DATE: date | None = None
    V1_SUNSET_DATE: date | None = None

    @model_validator(mode="after")
    def _v1_needs_dates(self) -> HookSettings:
        if self.API_VERSION == "v1" and (self.V1_DEPRECATION_DATE is None or self.V1_SUNSET_DATE is None):
            raise ValueError("a v1 hook needs V1_DEPRECATION_DATE and V1_SUNSET_DATE")
        return self

    @property
    def v1_dates(self) -> tuple[date, date] | None:
        if self.V1_DEPRECATION_DATE is None or self.V1_SUNSET_DATE is None:
            return None
        return self.V1_DEPRECATION_DATE, self.V1_SUNSET_DATE

    def tolerance(self, golden_tolerance: float) -> float:
        """How far a served probability may be from the golden one."""
        return self.PROBABILITY_TOLERANCE if self.PROBABILITY_TOLERANCE is not None else golden_tolerance

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HookSettings:
        values = {k: v for k, v in environ.items() if v != ""}
        return cls.model_validate(values)

    def golden_path(self, code_dir: Path) -> Path:
        """The golden set shipped next to the hook's handler."""
        return code_dir / self.GOLDEN_FILE
