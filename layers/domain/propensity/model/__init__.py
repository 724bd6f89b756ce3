"""The serving model: a gradient-boosted tree ensemble evaluated with numpy, plus calibration.

Training uses scikit-learn; serving does not import it (its import alone costs most of a cold
start and 150 MiB of layer). The trees are exported to flat arrays and evaluated here with the
same comparisons scikit-learn makes, so scores match it to float rounding.
"""
