"""msgspec, the v2 batch's decoder and writer, stays off the cold path of a single request.

In a fresh process, as Lambda starts the v2 function: init and a single request must not import
msgspec (its import is about 5 ms of a cold start); the first batch imports it and is scored.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.events import api_gateway_event
from tests.service_support import v2_body

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, sys
import predict_handler
from tests.events import LambdaContext

single, batch = json.loads(sys.stdin.read())
answer = predict_handler.lambda_handler(single, LambdaContext())
after_single = "msgspec" in sys.modules
scored = predict_handler.lambda_handler(batch, LambdaContext())
print("PROBE " + json.dumps({
    "single": answer["statusCode"], "after_single": after_single,
    "batch": scored["statusCode"], "results": json.loads(scored["body"])["scored"],
    "after_batch": "msgspec" in sys.modules,
}))
"""


def test_msgspec_is_imported_by_the_first_batch_not_by_init_or_a_single(tmp_path, bundles):
    # Given a v2 function's task root, started in a fresh interpreter as Lambda starts it
    shutil.copytree(bundles["v2"].path, tmp_path / "model")
    env = {
        **os.environ,
        "API_VERSIONS": "v2",
        "MODEL_DIR_V2": "model",
        "LAMBDA_TASK_ROOT": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / "predict"), str(ROOT)]),
    }
    events = [
        api_gateway_event("POST", "/v2/predict", v2_body()),
        api_gateway_event(
            "POST", "/v2/predict/batch", {"records": [v2_body(), v2_body(customer={"age": 70})]}
        ),
    ]
    # When it answers a single request, then a batch
    run = subprocess.run(
        [sys.executable, "-c", _PROBE], input=json.dumps(events), capture_output=True, text=True, env=env,
        timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    probe = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("PROBE "))[6:])
    # Then msgspec arrived with the batch, and both were answered
    assert probe == {"single": 200, "after_single": False, "batch": 200, "results": 2, "after_batch": True}
