"""Sub-commands contributed by each capability, registered with ``propensity.cli.command``.

Each capability adds one module here and imports it below, so no one edits a shared switch.
"""

from propensity.commands import drift  # noqa: F401
from propensity.commands import evaluate  # noqa: F401
from propensity.commands import experiment  # noqa: F401
from propensity.commands import labels  # noqa: F401
from propensity.commands import probe  # noqa: F401
from propensity.commands import promotion  # noqa: F401
from propensity.commands import quickstart  # noqa: F401
from propensity.commands import replay  # noqa: F401
from propensity.commands import retrain_demo  # noqa: F401
from propensity.commands import serve  # noqa: F401
from propensity.commands import shadow  # noqa: F401
from propensity.commands import training  # noqa: F401
from propensity.commands import usage  # noqa: F401
from propensity.commands import watch  # noqa: F401
