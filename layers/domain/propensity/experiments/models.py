"""What an experiment is: the pre-registered design (a create-only start record) and its end.

Both are separate create-only records in the registry (``propensity.experiments.store``); an
experiment is never edited. Its status follows from which records exist: a start without an
end is running.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from propensity.constants import ApiVersion

# The primary metric, chosen before the start and recorded with it:
# - ``net_return``: campaign net return per labelled customer (EUR; the business result:
#   value of the subscriptions won by calling the "yes" customers minus the cost of the calls);
# - ``conversion``: subscriptions per call, i.e. precision among "yes" decisions.
PrimaryMetric = Literal["net_return", "conversion"]
PRIMARY_METRICS: Final[tuple[PrimaryMetric, ...]] = ("net_return", "conversion")
TestName = Literal["msprt"]
Status = Literal["running", "ended"]


class TestDesign(BaseModel):
    """The pre-registered test and its power calculation, fixed at the start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test: TestName = "msprt"
    primary_metric: PrimaryMetric
    alpha: Annotated[float, Field(gt=0, lt=0.5)]
    power: Annotated[float, Field(gt=0, lt=1)]
    # Inputs of the calculation: the champion's conversion among calls and its call rate.
    base_conversion: Annotated[float, Field(gt=0, lt=1)]
    base_call_rate: Annotated[float, Field(gt=0, le=1)]
    base_source: str
    cost_per_call_eur: Annotated[float, Field(ge=0)]
    value_per_subscription_eur: Annotated[float, Field(ge=0)]
    # Per-unit standard deviation of the primary metric under the base rates, and the units
    # (labelled customers, or calls for ``conversion``) expected per arm at the horizon.
    unit_sd: Annotated[float, Field(gt=0)]
    planned_units_champion: Annotated[float, Field(gt=0)]
    planned_units_challenger: Annotated[float, Field(gt=0)]
    # Minimum detectable effect (absolute, in the metric's units) at the planned sample:
    # for a fixed-horizon two-sided z-test, and for the mSPRT read only at the horizon
    # (conservative: the sequential test may also stop earlier).
    mde_fixed_horizon: float
    mde_sequential: float
    # The mSPRT's mixing standard deviation (tau), set to the fixed-horizon MDE.
    mixing_sd: Annotated[float, Field(gt=0)]


class ExperimentRecord(BaseModel):
    """The start of an experiment: who runs which challenger against which champion, and how."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment_id: str
    sequence: Annotated[int, Field(ge=0)]
    api_version: ApiVersion
    name: str = ""
    champion_version: str
    challenger_version: str
    challenger_share: Annotated[float, Field(gt=0, lt=1)]
    salt: Annotated[str, Field(min_length=8)]
    started_at: datetime
    started_by: str
    reason: str
    planned_customers: Annotated[int, Field(gt=0)]
    design: TestDesign
    # Set when the challenger had no passing gate verdict and the starter overrode the policy.
    policy_override: str | None = None


class ExperimentEnd(BaseModel):
    """The end of an experiment (all traffic back to the champion at once)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment_id: str
    ended_at: datetime
    ended_by: str
    reason: str
    decision: str = ""


class Experiment(BaseModel):
    """A start record and, once ended, its end record."""

    record: ExperimentRecord
    end: ExperimentEnd | None = None

    @property
    def status(self) -> Status:
        return "running" if self.end is None else "ended"

    @property
    def experiment_id(self) -> str:
        return self.record.experiment_id
