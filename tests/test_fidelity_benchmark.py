"""Smoke test of the fidelity benchmark on a few images, and the rule that calibration never sees
test images."""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("keras")
ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # after site-packages: annsnn must stay the installed one (see benchmarks/zoo.py)

from benchmarks import fidelity, zoo  # noqa: E402


def _digests(images):
    return {hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest() for image in images}


def test_calibration_split_holds_no_test_image():
    x_cal, _ = zoo.calibration_split("mnist")
    (_, _), (x_test, _) = zoo.load_dataset("mnist")
    assert len(x_cal) == 1000
    assert not _digests(x_cal) & _digests(x_test)


def test_every_zoo_model_is_committed_and_converts():
    from annsnn.conversion.keras_graph import plan_layers
    from annsnn.conversion.keras_model import load_keras
    for dataset in zoo.DATASETS:
        for arch in zoo.ARCHS:
            path = zoo.model_path(dataset, arch)
            assert path.is_file(), path
            plans = plan_layers(load_keras(path))
            assert plans[-1].kind == "dense"


def test_fidelity_benchmark_runs_on_a_few_images(tmp_path):
    out = tmp_path / "fidelity.json"
    fidelity.main(["--dataset", "mnist", "--arch", "mlp4_bias", "--test-samples", "30", "--calibration", "60",
                   "--steps", "16", "--setting", "reference", "reference+cal", "annsnn", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["steps"] == [8, 16]
    (row,) = result["models"]
    assert (row["dataset"], row["arch"], row["test_samples"], row["calibration_samples"]) == (
        "mnist", "mlp4_bias", 30, 60)
    assert set(row["settings"]) == {"reference", "reference+cal", "annsnn"}
    for setting in row["settings"].values():
        assert set(setting["accuracy"]) == {"8", "16"}
        assert all(0.0 <= a <= 1.0 for a in setting["accuracy"].values())
    assert row["settings"]["annsnn"]["calibration"]["bias_corrections"]
    assert "model_scale" in row["settings"]["reference+cal"]["calibration"]
    assert "model_scale" not in row["settings"]["reference"]["calibration"]
    assert row["settings"]["reference"]["calibration"]["encoding_gain"] == pytest.approx(0.1, abs=0.01)  # CPN
