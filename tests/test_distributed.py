"""Distributed predict, evaluate and sweep on a LocalCluster of 2 worker processes on loopback."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")

import annsnn  # noqa: E402
from annsnn import ANNtoSNNConverter, models  # noqa: E402
from annsnn.cli import bundled_model_path, main  # noqa: E402
from annsnn.datasets import load_mnist  # noqa: E402
from annsnn.errors import ConversionError, InputError, WorkerError  # noqa: E402

MLP = str(bundled_model_path("mlp"))
N = 320


def _cluster(**kwargs):
    return distributed.LocalCluster(n_workers=kwargs.pop("n_workers", 2), threads_per_worker=1, processes=True,
                                    dashboard_address=":0", host="127.0.0.1", **kwargs)


@pytest.fixture(scope="module")
def client():
    with _cluster() as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture(scope="module")
def mnist():
    (_, _), (x, y) = load_mnist()
    return x[:N].astype(np.float32) / 255.0, y[:N].astype(np.int64)


def _converter(batch_size=64, scale_factor=None, **options):
    conv = ANNtoSNNConverter(**{"input_encoding": "CPN", "seed": 5, **options})
    conv.load_keras_model(MLP, show_info=False, batch_size=batch_size, scale_factor=scale_factor)
    return conv


def _run(conv, x, steps, **kwargs):
    predictions = conv.predict(x, steps, progress=False, **kwargs)
    return predictions, conv.scores.copy(), conv.stop_steps.copy(), conv.synaptic_events.copy(), \
        conv.spike_totals.copy()


@pytest.mark.parametrize("options", [
    dict(input_encoding="CPN"),                                   # random: draws keyed by sample id
    dict(input_encoding="IB", read_out="time_to_first_spike"),    # early stop
    dict(input_encoding=models.PSO, hidden_neuron=models.IF_subtract, read_out="membrane_potential"),
], ids=["CPN", "IB-ttfs", "PSO-subtract-objects"])
def test_distributed_predict_equals_local_bit_for_bit(client, mnist, options):
    x, _ = mnist
    conv = _converter(**options)
    local = _run(conv, x, 60)
    remote = _run(conv, x, 60, client=client, chunk_size=64)  # 5 chunks over 2 workers
    assert remote[0] == local[0]
    for got, want in zip(remote[1:], local[1:]):
        np.testing.assert_array_equal(got, want)


def test_distributed_evaluate_equals_local(client, mnist):
    x, y = mnist
    conv = _converter(input_encoding="IB", scale_factor=8)  # the bundled setting
    local = conv.evaluate(x, y, 50, progress=False)
    remote = conv.evaluate(x, y, 50, progress=False, client=client)
    assert remote.accuracy == local.accuracy and remote.predictions == local.predictions
    assert remote.accuracy_curve == local.accuracy_curve
    assert remote.synops_per_sample == local.synops_per_sample
    assert local.accuracy > 0.8


def test_recommended_preset_with_calibration_runs_the_same_on_the_cluster(client, mnist):
    """Bias corrections, half-threshold starts and same-step propagation travel in the recipe."""
    x, y = mnist
    (x_train, _), _ = load_mnist(verbose=False)
    conv = ANNtoSNNConverter(preset="annsnn", seed=5)
    conv.load_keras_model(MLP, show_info=False, batch_size=64, calibration_data=x_train[::20] / 255.0)
    assert conv.bias_corrections
    local = conv.evaluate(x, y, 16, progress=False)
    remote = conv.evaluate(x, y, 16, progress=False, client=client)
    assert remote.predictions == local.predictions and remote.accuracy_curve == local.accuracy_curve
    assert local.accuracy > 0.9


@pytest.mark.parametrize("simulation", ["event", "clock"])
def test_ttfs_coding_runs_the_same_on_the_cluster(client, mnist, simulation):
    """coding='ttfs' travels in the recipe: windows, simulation, decision at the first output spike."""
    x, y = mnist
    (x_train, _), _ = load_mnist(verbose=False)
    conv = ANNtoSNNConverter(coding="ttfs", ttfs_window=16, ttfs_simulation=simulation, seed=5)
    conv.load_keras_model(MLP, show_info=False, batch_size=64, calibration_data=x_train[::20] / 255.0)
    local = conv.evaluate(x, y, None, progress=False)
    local_stops = conv.stop_steps.copy()
    remote = conv.evaluate(x, y, None, progress=False, client=client, chunk_size=64)
    assert remote.predictions == local.predictions and remote.accuracy_curve == local.accuracy_curve
    assert remote.spikes_per_neuron == local.spikes_per_neuron
    assert remote.steps == (1 if simulation == "event" else 4 * 16)
    assert remote.mean_decision_steps == local.mean_decision_steps and 3 * 16 < local.mean_decision_steps <= 4 * 16
    np.testing.assert_array_equal(conv.stop_steps, local_stops)
    assert local.accuracy > 0.9


def test_seedless_converter_is_consistent_across_workers(client, mnist):
    """seed=None is drawn once per converter, so workers and the local run agree."""
    x, _ = mnist
    conv = _converter(seed=None)
    assert _run(conv, x[:128], 40)[0] == _run(conv, x[:128], 40, client=client)[0]


def test_empty_input_returns_nothing(client, mnist):
    conv = _converter()
    empty = np.zeros((0, 784), dtype=np.float32)
    assert conv.predict(empty, 20, client=client, progress=False) == []
    assert conv.scores.shape == (0, 10)
    result = conv.evaluate(empty, np.zeros(0, dtype=np.int64), 20, progress=False, client=client)
    assert result.samples == 0 and result.predictions == []


def test_bad_chunk_size_and_on_chunk_are_refused(client, mnist):
    x, _ = mnist
    conv = _converter()
    with pytest.raises(InputError, match="multiple of the batch size 64"):
        conv.predict(x, 10, client=client, chunk_size=100, progress=False)
    with pytest.raises(InputError, match="on_chunk"):
        conv.predict(x, 10, client=client, on_chunk=lambda start, items: None, progress=False)


def test_network_is_sent_once_and_dropped_afterwards(client, mnist):
    """Tasks carry a plugin name, not the network; the plugin leaves the workers after the call."""
    x, _ = mnist
    conv = _converter()
    from annsnn.distributed import PLUGIN_PREFIX, submit
    job = submit(conv, client, conv._prepare(x), None, 20, chunk_size=64)
    names = client.run(lambda dask_worker: [n for n in dask_worker.plugins if n.startswith(PLUGIN_PREFIX)])
    assert all(found == [job.plugin_name] for found in names.values())
    assert len(job.result()) == N
    names = client.run(lambda dask_worker: [n for n in dask_worker.plugins if n.startswith(PLUGIN_PREFIX)])
    assert all(found == [] for found in names.values())


def test_killed_worker_loses_and_duplicates_nothing(mnist):
    """SIGKILL a worker while it holds chunks: Dask reruns them, results equal a local run."""
    x, _ = mnist
    conv = _converter(batch_size=32)
    steps = 1000
    local = _run(conv, x, steps)
    from annsnn.distributed import submit
    with _cluster() as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        pids = client.run(os.getpid)
        job = submit(conv, client, conv._prepare(x), None, steps, chunk_size=32)  # 10 chunks
        deadline = time.monotonic() + 30
        while not any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.005)
        busy = [address for address, keys in client.processing().items() if keys]
        assert busy, "no worker held a chunk"
        os.kill(pids[busy[0]], signal.SIGKILL)
        outcome = job.result()
        assert pids[busy[0]] not in client.run(os.getpid).values()  # the nanny started a new process
        assert [f.status for f in job.futures] == ["finished"] * 10
    assert conv.conclude(outcome) == local[0]
    np.testing.assert_array_equal(outcome.scores, local[1])
    np.testing.assert_array_equal(outcome.spike_totals, local[4])


def test_worker_without_compiler_names_the_worker(tmp_path, mnist):
    x, _ = mnist
    conv = _converter(batch_size=32)
    env = {"PATH": str(tmp_path / "no-bin"), "CXX": "", "ANNSNN_CACHE_DIR": str(tmp_path / "empty-cache")}
    with _cluster(n_workers=1, env=env) as cluster, distributed.Client(cluster) as client:
        address = next(iter(client.scheduler_info()["workers"]))
        with pytest.raises(WorkerError) as caught:
            conv.predict(x[:32], 10, client=client, progress=False)
    message = str(caught.value)
    assert address in message and "no C++ compiler found" in message
    assert caught.value.worker == address


def test_sweep_runs_a_2x2_grid_locally_and_on_the_cluster(client, mnist):
    x, y = mnist
    grid = {"input_encoding": ["IB", "CPN"], "duration": [40, 80]}
    fixed = dict(seed=2, scale_factor=8, progress=False, batch_size=64)
    remote = annsnn.sweep(MLP, x, y, grid=grid, client=client, **fixed)
    local = annsnn.sweep(MLP, x, y, grid=grid, **fixed)
    one_at_a_time = annsnn.sweep(MLP, x, y, grid=grid, client=client, in_flight=1, **fixed)
    assert list(one_at_a_time["accuracy"]) == list(local["accuracy"])
    import pandas
    assert isinstance(remote, pandas.DataFrame) and len(remote) == 4
    assert list(remote["input_encoding"]) == ["IB", "IB", "CPN", "CPN"]
    assert list(remote["duration"]) == [40, 80, 40, 80]
    assert list(remote["accuracy"]) == list(local["accuracy"])
    assert all(len(curve) == d for curve, d in zip(remote["accuracy_curve"], remote["duration"]))
    assert (remote["accuracy"] > 0.5).all()


def test_sweep_without_pandas_returns_dicts(monkeypatch, mnist):
    x, y = mnist
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    rows = annsnn.sweep(MLP, x[:64], y[:64], grid={"seed": [1, 2]}, duration=20, progress=False)
    assert isinstance(rows, list) and [r["seed"] for r in rows] == [1, 2]
    assert {"accuracy", "synops_per_sample", "accuracy_curve"} <= set(rows[0])


@pytest.mark.parametrize("grid, fixed, message", [
    ({"threshold": [1, 2]}, {}, "cannot sweep 'threshold'"),
    ({"duration": []}, {}, "is empty"),
    ({"duration": 50}, {}, "must be a list"),
    ({"seed": [1]}, {"seed": 2}, "both in grid and as a fixed setting"),
    ({"seed": [1]}, {"in_flight": 0}, "in_flight must be a positive integer"),
])
def test_sweep_rejects_bad_grids(mnist, grid, fixed, message):
    x, y = mnist
    with pytest.raises(ConversionError, match=message):
        annsnn.sweep(MLP, x, y, grid=grid, progress=False, **fixed)


def test_cli_convert_on_a_scheduler(client, tmp_path, capsys):
    address = client.scheduler.address
    code = main(["convert", MLP, "--samples", "128", "--duration", "40", "--quiet", "--no-plots",
                 "--out", str(tmp_path), "--scheduler", address])
    assert code == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["settings"]["cluster"] == address and report["samples"] == 128


def test_cli_unreachable_scheduler_is_one_line_error(tmp_path, capsys):
    code = main(["convert", MLP, "--samples", "16", "--duration", "5", "--quiet", "--no-plots",
                 "--out", str(tmp_path), "--scheduler", "tcp://127.0.0.1:1"])
    assert code == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1" in capsys.readouterr().err


def test_local_path_does_not_import_dask():
    script = ("import sys, numpy as np, annsnn\n"
              f"conv = annsnn.ANNtoSNNConverter(seed=1)\n"
              f"conv.load_keras_model({MLP!r}, show_info=False, batch_size=8)\n"
              "conv.predict(np.zeros((8, 784)), 10, progress=False)\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
