"""Tree evaluation alone: the service's compiled numpy trees next to onnxruntime and scikit-learn.

One model for all three: the reference Pipeline's HistGradientBoostingClassifier (the v2
hyperparameters), exported to the service's arrays (``model.trees``) and built as an ONNX
TreeEnsembleRegressor from those arrays (dev-only peer: onnxruntime does not ship). Inputs are the Pipeline's own encoding of holdout
customers; calls of 1 and 1,000 rows are interleaved in rounds and timed as CPU time of the
calling thread. Parity with scikit-learn is checked on the probabilities: float64 for the
service (limit 1e-9), float32 for onnxruntime (its tree ensemble runs in float32).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from tests.perf.inputs import CACHE_DIR, holdout_records, load_dataset
from tests.perf.stats import Latency, ratio

PARITY_FLOAT64 = 1e-9


def available() -> str | None:
    """Why the peer cannot run (``None`` when it can)."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        return f"onnx/onnxruntime not installed ({error.name}); see requirements/dev.txt"
    return None


def onnx_tree_model(ensemble: Any) -> Any:
    """The ensemble's own arrays as an ONNX ``TreeEnsembleRegressor`` (raw score, float32 inside).

    Built from the same arrays the service evaluates (skl2onnx 1.20's converter for
    HistGradientBoosting fails on numpy 2.4 booleans), so both evaluate exactly one model.
    """
    from onnx import TensorProto, helper

    roots = ensemble.roots.astype(np.int64)
    tree_of = np.searchsorted(roots, np.arange(ensemble.feature.size), side="right") - 1
    local = np.arange(ensemble.feature.size) - roots[tree_of]
    leaf = ensemble.left == np.arange(ensemble.feature.size)
    node = helper.make_node(
        "TreeEnsembleRegressor",
        ["X"],
        ["raw"],
        domain="ai.onnx.ml",
        n_targets=1,
        aggregate_function="SUM",
        post_transform="NONE",
        base_values=[float(ensemble.baseline)],
        nodes_treeids=tree_of.tolist(),
        nodes_nodeids=local.tolist(),
        nodes_featureids=[int(f) for f in ensemble.feature],
        nodes_values=[float(t) if np.isfinite(t) else 0.0 for t in ensemble.threshold],
        nodes_modes=["LEAF" if is_leaf else "BRANCH_LEQ" for is_leaf in leaf],
        nodes_truenodeids=(ensemble.left - roots[tree_of]).astype(int).tolist(),
        nodes_falsenodeids=(ensemble.right - roots[tree_of]).astype(int).tolist(),
        nodes_missing_value_tracks_true=[int(m) for m in ensemble.missing_left],
        target_treeids=tree_of[leaf].tolist(),
        target_nodeids=local[leaf].tolist(),
        target_ids=[0] * int(leaf.sum()),
        target_weights=[float(v) for v in ensemble.value[leaf]],
    )
    graph = helper.make_graph(
        [node],
        "trees",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, ensemble.n_features])],
        [helper.make_tensor_value_info("raw", TensorProto.FLOAT, [None, 1])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)]
    )
    model.ir_version = 9  # what onnxruntime 1.31 reads (onnx 1.23 writes 14 by default)
    return model


def _time(calls: dict[str, Callable[[], Any]], rounds: int, per_round: int) -> dict[str, Latency]:
    samples: dict[str, list[int]] = {name: [] for name in calls}
    for call in calls.values():
        for _ in range(20):
            call()
    clock = time.thread_time_ns
    for _ in range(rounds):
        for name, call in calls.items():
            out = samples[name]
            for _ in range(per_round):
                began = clock()
                call()
                out.append(clock() - began)
    return {name: Latency.from_ns(values) for name, values in samples.items()}


def measure(rounds: int = 10, per_round: int = 100, max_iter: int | None = None) -> dict[str, Any]:
    import onnxruntime as ort
    import pandas as pd
    from scipy.special import expit

    from propensity.features.domain import V1_SPEC
    from propensity.model.compiled import CompiledEnsemble
    from propensity.model.trees import export_hist_gradient_boosting
    from tests.perf.references import reference_pipeline

    dataset = load_dataset()
    pipeline, _ = reference_pipeline(dataset, CACHE_DIR, max_iter)
    preprocess, model = pipeline[0], pipeline[-1]
    frame = pd.DataFrame(holdout_records(dataset, 1000, seed=13), columns=list(V1_SPEC.names))
    x = np.ascontiguousarray(preprocess.transform(frame), dtype=np.float64)
    x32 = x.astype(np.float32)
    ours = CompiledEnsemble.compile(export_hist_gradient_boosting(model))
    onnx_model = onnx_tree_model(ours)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(
        onnx_model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    probability_output = "raw"

    def onnx_probability(rows: np.ndarray) -> np.ndarray:
        return expit(np.asarray(session.run(["raw"], {"X": rows})[0], dtype=np.float64)[:, 0])

    expected = model.predict_proba(x)[:, 1]
    ours_probability = expit(ours.raw_score(x))
    onnx_probability_all = onnx_probability(x32)
    one, one32 = x[:1], x32[:1]
    calls: dict[str, Callable[[], Any]] = {
        "service trees, 1 row": lambda: ours.raw_score(one),
        "onnxruntime, 1 row": lambda: session.run([probability_output], {"X": one32}),
        "scikit-learn, 1 row": lambda: model.predict_proba(one),
        "service trees, 1000 rows": lambda: ours.raw_score(x),
        "onnxruntime, 1000 rows": lambda: session.run([probability_output], {"X": x32}),
        "scikit-learn, 1000 rows": lambda: model.predict_proba(x),
    }
    # Interleaved within each size; fewer samples of the 1,000-row calls keep the run short.
    latency = _time({k: v for k, v in calls.items() if "1 row" in k}, rounds, per_round)
    latency.update(_time({k: v for k, v in calls.items() if "1000" in k}, rounds, max(1, per_round // 10)))
    p50 = {name: value.p50_ms for name, value in latency.items()}
    return {
        "model": {
            "trees": int(ours.roots.size),
            "depth": int(ours.depth),
            "columns": int(x.shape[1]),
            "hyperparameters": "training.train.HYPERPARAMETERS['v2'] (the reference Pipeline's)",
        },
        "cpu": {name: value.as_dict() for name, value in latency.items()},
        "ratios": {
            "service over onnxruntime, 1 row": ratio(p50["service trees, 1 row"], p50["onnxruntime, 1 row"]),
            "service over onnxruntime, 1000 rows": ratio(
                p50["service trees, 1000 rows"], p50["onnxruntime, 1000 rows"]
            ),
        },
        "parity": {
            "service max |p - scikit-learn| (float64)": float(np.abs(ours_probability - expected).max()),
            "onnxruntime max |p - scikit-learn| (float32)": float(
                np.abs(onnx_probability_all - expected).max()
            ),
            "required of the service (float64)": PARITY_FLOAT64,
        },
        "onnxruntime": ort.__version__,
    }
