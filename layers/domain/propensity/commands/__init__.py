"""Sub-commands contributed by each capability, registered with ``propensity.cli.command``.

Each capability adds one module here and imports it below, so no one edits a shared switch.
"""

from propensity.commands import quickstart  # noqa: F401
