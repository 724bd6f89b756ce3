"""The golden sets the probe sends: one file per API version, shipped with the function."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from propensity.alerting.settings import ConfigurationError
from propensity.bundle.golden import GoldenCase, GoldenSet
from propensity.constants import ApiVersion


def golden_file_name(api: ApiVersion) -> str:
    """``golden-v1.json``: the name the probe's asset gives each bundle's golden set."""
    return f"golden-{api}.json"


def load_golden_sets(folder: Path, apis: tuple[ApiVersion, ...]) -> dict[ApiVersion, GoldenSet]:
    """Every API version's golden set; a missing or malformed file is a deployment error."""
    sets: dict[ApiVersion, GoldenSet] = {}
    for api in apis:
        path = folder / golden_file_name(api)
        try:
            golden = GoldenSet.model_validate_json(path.read_bytes())
        except FileNotFoundError as error:
            raise ConfigurationError(f"probe golden set {path} is missing") from error
        except ValidationError as error:
            raise ConfigurationError(f"probe golden set {path} is malformed: {error}") from error
        if golden.api_version != api or not golden.cases:
            raise ConfigurationError(
                f"{path} holds {len(golden.cases)} {golden.api_version} cases, not {api} ones"
            )
        sets[api] = golden
    return sets


def rotate(cases: list[GoldenCase], count: int, run_index: int) -> list[GoldenCase]:
    """``count`` consecutive cases starting where the previous run stopped (wrapping around),
    so every golden case is exercised every ``len(cases) / count`` runs."""
    if count >= len(cases):
        return list(cases)
    start = (run_index * count) % len(cases)
    return [cases[(start + i) % len(cases)] for i in range(count)]
