"""Bundled data (never downloaded) and the demo command, as a user runs it."""
import os
import subprocess
import sys

import numpy as np
import pytest

from annsnn import DataError
from annsnn.datasets import load_mnist, load_npz_dataset, mnist_source


def test_bundled_mnist_is_used_without_a_keras_cache(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # an empty Keras cache
    assert mnist_source() == "bundled"
    (x_train, y_train), (x_test, y_test) = load_mnist(verbose=True)
    assert x_train.shape == (5000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_test.dtype == np.uint8 and y_test.dtype == np.uint8
    assert np.bincount(y_test).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(y_train).tolist() == [500] * 10
    assert "bundled subset" in capsys.readouterr().err


def test_keras_cache_is_preferred_when_present(tmp_path, monkeypatch):
    (tmp_path / "datasets").mkdir()
    x = np.zeros((3, 28, 28), np.uint8)
    np.savez(tmp_path / "datasets" / "mnist.npz", x_train=x, y_train=np.zeros(3, np.uint8), x_test=x[:2],
             y_test=np.ones(2, np.uint8))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert mnist_source() == "keras-cache"
    (x_train, _), (_, y_test) = load_mnist(verbose=False)
    assert len(x_train) == 3 and y_test.tolist() == [1, 1]


def test_user_npz_errors_name_the_file(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, x=np.zeros((4, 784)), y=np.arange(4))
    x, y = load_npz_dataset(good)
    assert x.shape == (4, 784) and len(y) == 4
    missing_key = tmp_path / "nokey.npz"
    np.savez(missing_key, images=np.zeros(3))
    with pytest.raises(DataError, match="nokey.npz has no array 'x'"):
        load_npz_dataset(missing_key)
    with pytest.raises(DataError, match="not found"):
        load_npz_dataset(tmp_path / "absent.npz")
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(DataError, match="text.npz"):
        load_npz_dataset(tmp_path / "text.npz")


def test_demo_runs_end_to_end():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-m", "annsnn", "demo", "--samples", "300", "--quiet"],
                         capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = {l.split("  ")[0]: l for l in out.stdout.splitlines()}
    ann = float(lines["ANN accuracy"].split()[2])
    snn = float(lines["SNN accuracy"].split()[2])
    assert ann > 90 and snn > ann - 3
    assert "samples/s" in lines["throughput"] and "precision" in out.stdout


def test_demo_rejects_bad_arguments_without_traceback():
    out = subprocess.run([sys.executable, "-m", "annsnn", "demo", "--duration", "-5"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr and "--duration" in out.stderr
