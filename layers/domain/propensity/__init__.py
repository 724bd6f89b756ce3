"""Term-deposit propensity: the domain library shared by training, serving and the monitors.

The serving path (``features``, ``model``, ``bundle``, ``events``) imports numpy and pydantic
only; scikit-learn and matplotlib are imported lazily by training and reporting code.
"""

__version__ = "0.1.0"
