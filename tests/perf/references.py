"""The two yardsticks measured next to the service, behind the same Mangum adapter.

* the floor: a FastAPI endpoint that does nothing, so the figure is Mangum + Starlette +
  FastAPI routing alone;
* the usual approach: a Pydantic request model, a pandas DataFrame built per request, and a
  scikit-learn Pipeline (ColumnTransformer + OneHotEncoder + HistGradientBoostingClassifier
  with the v2 model's hyperparameters, ``training.train.HYPERPARAMETERS["v2"]``: as many
  trees, as deep, as the model the batch ratio compares it with; fitted on the same training
  rows) whose ``predict_proba`` scores it.

Both endpoints are ``async def`` so neither pays Starlette's thread-pool hop: the references
get their best case, which makes the service's ratios against them conservative.

No ``from __future__ import annotations`` here: FastAPI must see the request model built at
run time as a real class, not as a string naming a local variable.
"""

import pickle
import time
from pathlib import Path
from typing import Any, Literal

from propensity.data.loader import BankDataset
from propensity.features.domain import V1_SPEC
from propensity.features.spec import Feature
from propensity.training.split import stratified_split
from propensity.training.train import HYPERPARAMETERS

# The hyperparameters of the reference: the v2 model's, since the batch ratio is v2's.
REFERENCE_API = "v2"
USUAL_SINGLE_PATH = "/usual/predict"
USUAL_BATCH_PATH = "/usual/predict/batch"

Handler = Any  # Mangum instance: (event, context) -> response dict


def noop_handler(lifespan: Literal["auto", "off"] = "off") -> Handler:
    """A no-op FastAPI app behind Mangum that answers every POST path with a constant body.

    ``lifespan="auto"`` (Mangum's default) runs the ASGI lifespan start-up and shut-down on every
    invocation; measuring both shows what that costs.
    """
    from fastapi import FastAPI
    from mangum import Mangum

    app = FastAPI()

    @app.post("/{path:path}")
    async def noop(path: str) -> dict[str, str]:
        return {"status": "ok"}

    return Mangum(app, lifespan=lifespan)


def reference_pipeline(
    dataset: BankDataset, cache_dir: Path, max_iter: int | None = None
) -> tuple[Any, float | None]:
    """The fitted reference Pipeline, from ``cache_dir`` when this data and scikit-learn fitted it before.

    ``max_iter`` overrides the number of boosting rounds (the smoke test's tiny model); by
    default the reference has the v2 model's hyperparameters (``REFERENCE_API``). Returns the Pipeline and
    the seconds fitting took (``None`` when it came from the cache). The pickle is one this
    harness wrote itself into the git-ignored cache.
    """
    import sklearn

    rounds = max_iter or HYPERPARAMETERS[REFERENCE_API]["max_iter"]
    params = "-".join(f"{k}{v}" for k, v in sorted(HYPERPARAMETERS[REFERENCE_API].items()) if k != "max_iter")
    name = (
        f"reference-sklearn{sklearn.__version__}-{dataset.sha256[:12]}-{REFERENCE_API}-{params}-{rounds}.pkl"
    )
    path = cache_dir / name
    if path.exists():
        with path.open("rb") as file:
            return pickle.load(file), None
    pipeline, seconds = train_reference_pipeline(dataset, rounds)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    partial.write_bytes(pickle.dumps(pipeline))
    partial.replace(path)
    return pipeline, seconds


def train_reference_pipeline(dataset: BankDataset, max_iter: int) -> tuple[Any, float]:
    """The usual approach's model (v1's flat columns, v2's hyperparameters), on the same training rows.

    Returns the fitted Pipeline and the seconds fitting took.
    """
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    started = time.perf_counter()
    train_rows = stratified_split(dataset.target, dataset.sha256).train
    frame = pd.DataFrame(dataset.columns, columns=list(V1_SPEC.names)).iloc[train_rows]
    categorical = [f.name for f in V1_SPEC.of_kind("categorical")]
    preprocess = ColumnTransformer(
        [("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)],
        remainder="passthrough",
    )
    params = {**HYPERPARAMETERS[REFERENCE_API], "max_iter": max_iter}
    model = HistGradientBoostingClassifier(random_state=0, early_stopping=False, **params)
    pipeline = Pipeline([("preprocess", preprocess), ("model", model)])
    pipeline.fit(frame, dataset.target[train_rows])
    return pipeline, time.perf_counter() - started


def _annotation(feature: Feature) -> Any:
    from pydantic import Field

    if feature.kind == "categorical":
        return Literal[feature.categories]  # type: ignore[valid-type]
    from typing import Annotated

    return Annotated[int, Field(ge=feature.minimum, le=feature.maximum)]


def usual_handler(pipeline: Any, threshold: float) -> Handler:
    """The pandas + scikit-learn Pipeline approach as a FastAPI app behind Mangum."""
    import pandas as pd
    from fastapi import FastAPI
    from mangum import Mangum
    from pydantic import BaseModel, ConfigDict, create_model

    record_model: Any = create_model(
        "UsualRecord",
        __config__=ConfigDict(extra="forbid"),
        **{f.name: (_annotation(f), ...) for f in V1_SPEC.features},
    )

    class UsualBatch(BaseModel):
        records: list[record_model]  # type: ignore[valid-type]

    def answer(probability: float) -> dict[str, Any]:
        return {"prediction": "yes" if probability >= threshold else "no", "probability": probability}

    app = FastAPI()

    @app.post(USUAL_SINGLE_PATH)
    async def predict(record: record_model) -> dict[str, Any]:  # type: ignore[valid-type]
        frame = pd.DataFrame([record.model_dump()])
        return answer(float(pipeline.predict_proba(frame)[0, 1]))

    @app.post(USUAL_BATCH_PATH)
    async def predict_batch(batch: UsualBatch) -> dict[str, Any]:
        frame = pd.DataFrame([r.model_dump() for r in batch.records])
        return {"results": [answer(float(p)) for p in pipeline.predict_proba(frame)[:, 1]]}

    return Mangum(app, lifespan="off")
