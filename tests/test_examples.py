"""Every example runs offline to completion (smoke test)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ARGS = {"mlp_flow.py": ["500"], "cnn_flow.py": ["100"], "qcfs_training.py": ["1", "300"],
        "keras_to_onnx.py": [str(EXAMPLES.parent / "annsnn" / "data" / "models" / "cnn.keras"), "{tmp}/cnn.onnx"]}


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py")))
def test_example_runs(script, tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    args = [a.format(tmp=tmp_path) for a in ARGS.get(script, [])]
    out = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True,
                         text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip()
