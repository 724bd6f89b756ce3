"""Per-API-version feature spec and preprocessing, looked up by schema version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from propensity.constants import ApiVersion
from propensity.features import v1, v2
from propensity.features.encoding import Columns, Matrix
from propensity.features.spec import FeatureSpec

SPECS: Final[dict[ApiVersion, FeatureSpec]] = {"v1": v1.SPEC, "v2": v2.SPEC}
TRANSFORMS: Final[dict[ApiVersion, Callable[[Columns], Matrix]]] = {"v1": v1.transform, "v2": v2.transform}
COLUMN_NAMES: Final[dict[ApiVersion, tuple[str, ...]]] = {"v1": v1.COLUMN_NAMES, "v2": v2.COLUMN_NAMES}
