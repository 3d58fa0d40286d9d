"""The real console script, in a subprocess: convert writes a report and plots; bad input is one line."""
import json
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pytest

MLP = os.path.join(os.path.dirname(__file__), "..", "annsnn", "data", "models", "mlp.keras")


def annsnn(*args, timeout=600):
    """The console script as a user runs it: no TensorFlow logging variable set beforehand."""
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "annsnn", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


TENSORFLOW_NOISE = re.compile(r"absl::InitializeLog|cpu_feature_guard|oneDNN|^[IWE]\d{4} \d\d:")


def test_demo_prints_no_tensorflow_start_up_lines():
    out = annsnn("demo", "--samples", "100", "--quiet")
    assert out.returncode == 0, out.stderr[-3000:]
    noise = [line for line in out.stderr.splitlines() if TENSORFLOW_NOISE.search(line)]
    assert not noise, noise
    assert "SNN accuracy" in out.stdout


def test_start_up_notice_filter_keeps_every_other_line(capfd):
    """What TensorFlow's C++ prints while it loads goes through file descriptor 2: the INFO notices
    are dropped there, a warning or error line printed meanwhile comes back."""
    from annsnn.conversion.keras_import import _without_start_up_notices
    with _without_start_up_notices():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1796402426.405736    4384 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"E0000 00:00:1796402426.405736    4384 cuda.cc:1] a real error\n")
        os.write(2, b"UserWarning: something\n")
    assert capfd.readouterr().err == ("E0000 00:00:1796402426.405736    4384 cuda.cc:1] a real error\n"
                                      "UserWarning: something\n")


def test_start_up_notice_filter_loses_nothing_when_the_process_aborts():
    """A fatal message printed just before TensorFlow aborts (a broken wheel, an unsupported CPU)
    still reaches stderr: the lines pass through the sieve process as they come."""
    code = ("import os\nfrom annsnn.conversion.keras_import import _without_start_up_notices\n"
            "with _without_start_up_notices():\n"
            "    os.write(2, b'I0000 00:00:1.5 port.cc:153] oneDNN custom operations are on.\\n')\n"
            "    os.write(2, b'F0000 00:00:1.5 cpu.cc:1] this CPU lacks AVX\\n')\n"
            "    os.abort()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0
    assert "F0000 00:00:1.5 cpu.cc:1] this CPU lacks AVX" in out.stderr and "oneDNN" not in out.stderr


def test_convert_writes_report_and_plots(tmp_path):
    out = annsnn("convert", MLP, "--samples", "500", "--out", str(tmp_path), "--quiet")
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["samples"] == 500 and 0.9 < report["snn_accuracy"] <= 1.0
    # the recommended preset by default: 32 steps, calibrated on 1,000 bundled training images
    assert len(report["evaluation"]["accuracy_curve"]) == 32
    settings = report["settings"]
    assert (settings["preset"], settings["encoding"], settings["calibration_samples"]) == ("annsnn", "constant", 1000)
    assert set(settings["calibration"]["bias_corrections"]) == {"dense_1", "dense_2"}
    assert settings["calibration"]["bias_duration"] == 32
    assert [row["layer"] for row in report["layers"]][-1] == "dense_out"
    assert set(report["plots"]) == {"accuracy_curve", "confusion_matrix", "raster", "rates", "activation_vs_rate"}
    for name in report["plots"].values():
        width, height = png_size(tmp_path / name)
        assert width >= 400 and height >= 250
        assert (tmp_path / name).stat().st_size > 10_000
    assert "ANN accuracy" in out.stdout and "threshold" in out.stdout


@pytest.mark.parametrize("simulation", ["event", "clock"])
def test_convert_with_ttfs_coding(tmp_path, simulation):
    out = annsnn("convert", MLP, "--samples", "300", "--out", str(tmp_path), "--quiet", "--coding", "ttfs",
                 "--ttfs-window", "32", "--ttfs-simulation", simulation)
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    settings, evaluation = report["settings"], report["evaluation"]
    assert (settings["coding"], settings["ttfs_window"], settings["read_out"]) == ("ttfs", 32, "time_to_first_spike")
    assert settings["ttfs_simulation"] == simulation
    # input, two hidden layers and the output each own a window of 32 steps; event simulation runs them
    # in one step and counts the latency on the same clock grid
    assert report["duration"] == (1 if simulation == "event" else 4 * 32)
    assert 3 * 32 < evaluation["mean_decision_steps"] <= 4 * 32
    assert 3 * 32 < report["latency_steps"]["p50"] <= 4 * 32
    assert 0 < evaluation["spikes_per_neuron"] <= 1.0 and report["snn_accuracy"] > 0.9
    assert "raster" in report["plots"] and png_size(tmp_path / report["plots"]["raster"])[0] >= 400
    assert f"time-to-first-spike coding, 32 steps per layer window ({simulation} simulation)" in out.stdout
    refused = annsnn("convert", MLP, "--coding", "ttfs", "--calibration", "0", "--out", str(tmp_path / "r"))
    assert refused.returncode == 1 and "--coding ttfs takes each layer's window" in refused.stderr


def test_convert_calibrates_on_the_training_array_of_an_npz_never_on_its_test_samples(tmp_path):
    from annsnn.datasets import load_mnist
    (x_train, y_train), (x_test, y_test) = load_mnist(verbose=False)
    # 100 training rows against 200 test rows: calibrating on the test rows would report 150 samples
    np.savez(tmp_path / "split.npz", x=x_test[:200], y=y_test[:200], x_train=x_train[::50])
    out = annsnn("convert", MLP, "--data", str(tmp_path / "split.npz"), "--out", str(tmp_path / "r"), "--quiet",
                 "--no-plots", "--preset", "reference", "--encoding", "IB", "--calibration", "150",
                 "--duration", "120")
    assert out.returncode == 0, out.stderr[-3000:]
    settings = json.loads((tmp_path / "r" / "report.json").read_text())["settings"]
    assert settings["calibration_samples"] == 100 and settings["duration"] == 120
    assert settings["calibration"]["scale_duration"] == 120  # calibrated at the run's own duration
    chosen = settings["calibration"]
    expected = (f"model-based scale {chosen['model_scale']:.3g}" if chosen["raw_weight_gain"] is None
                else f"the Keras weights x {chosen['raw_weight_gain']:.3g}")
    assert f"annsnn: calibration chose {expected} (at 120 steps)" in out.stdout  # an MLP: nothing to trace
    np.savez(tmp_path / "test_only.npz", x=x_test[:50], y=y_test[:50])
    missing = annsnn("convert", MLP, "--data", str(tmp_path / "test_only.npz"), "--out", str(tmp_path / "m"))
    assert missing.returncode == 1 and "no x_train or x_calibration" in missing.stderr
    refused = annsnn("convert", MLP, "--data", str(tmp_path / "test_only.npz"), "--calibration", "0")
    assert refused.returncode == 1 and "--calibration N" in refused.stderr
    uncalibrated = annsnn("convert", MLP, "--data", str(tmp_path / "test_only.npz"), "--out", str(tmp_path / "u"),
                          "--preset", "reference", "--calibration", "0", "--quiet", "--no-plots", "--duration", "20")
    assert uncalibrated.returncode == 0, uncalibrated.stderr[-2000:]


def test_info_says_what_blocks_conversion(tmp_path):
    keras = pytest.importorskip("keras")
    good = annsnn("info", MLP)
    assert good.returncode == 0 and "converts" in good.stdout and "--coding ttfs: 4 windows" in good.stdout
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.LayerNormalization()(inputs)))
    model.save(tmp_path / "blocked.keras")
    bad = annsnn("info", str(tmp_path / "blocked.keras"))
    assert bad.returncode == 1 and "LayerNormalization" in bad.stdout


@pytest.mark.parametrize("make_args, fragment", [
    (lambda d: ["convert", str(d / "missing.keras")], "not found"),
    (lambda d: ["convert", str(d / "corrupt.keras")], "cannot read Keras model"),
    (lambda d: ["convert", MLP, "--data", str(d / "wrong.npz")], "do not fit the model input"),
    (lambda d: ["convert", MLP, "--encoding", "morse"], "invalid choice: 'morse'"),
    (lambda d: ["convert", MLP, "--duration", "-5"], "expected a positive integer"),
    (lambda d: ["convert", MLP, "--nir", str(d / "x.nir")], "add --hidden-neuron IF_subtract"),
])
def test_bad_input_is_one_clear_line(tmp_path, make_args, fragment):
    (tmp_path / "corrupt.keras").write_bytes(b"not a zip")
    np.savez(tmp_path / "wrong.npz", x=np.zeros((5, 10)), y=np.zeros(5, np.int64))
    out = annsnn(*make_args(tmp_path))
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and fragment in out.stderr
    errors = [l for l in out.stderr.splitlines() if l.startswith("annsnn") and "error" in l]
    assert len(errors) == 1, out.stderr  # (TensorFlow may add its own start-up log lines)
