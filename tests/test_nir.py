"""NIR export and import: round trips of converted networks, and NIR's ODEs against a NumPy integration."""
import numpy as np
import pytest

nir = pytest.importorskip("nir")

import annsnn  # noqa: E402
from annsnn import ConversionError  # noqa: E402
from annsnn.nir_export import export_nir  # noqa: E402
from annsnn.nir_import import import_nir  # noqa: E402


#: NIR's IF has no signed spikes: the recommended preset exports with IF_subtract in place of IF_signed
_EXPORTABLE = {"annsnn": dict(hidden_neuron="IF_subtract"), "reference": dict(conv_trace=False)}


def run(net, x, steps, input_name):
    """Spike rasters of the hidden populations and the last population's membrane, first len(x) items."""
    net.reset()
    net.populations[0].set(input_name, np.resize(x, (net.batch_size,) + x.shape[1:]))
    monitors = [net.monitor(p, "spike") for p in net.populations[1:] if p.spec.spiking]
    net.simulate(steps)
    result = [m.spike_raster()[:, :len(x)] for m in monitors]
    for m in monitors:
        net.monitors.remove(m)
    return result, net.populations[-1].v[:len(x)].copy()


def round_trip(conv, x, tmp_path, steps=32):
    path = tmp_path / "model.nir"
    export_nir(conv, path)
    graph = nir.read(str(path))  # type checking on
    imported = import_nir(graph, batch_size=len(x), seed=conv.network.seed)
    name = "rates"
    scale = conv.input_scale
    original = run(conv.network, x * scale, steps, name)
    again = run(imported, x * scale, steps, name)
    assert [p.name for p in imported.populations] == [p.name for p in conv.network.populations]
    for a, b in zip(original[0], again[0]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(original[1], again[1])
    assert sum(r.sum() for r in original[0]) > 0
    return graph


@pytest.fixture(scope="module")
def mnist():
    from annsnn.datasets import load_mnist
    (x_train, _), (x_test, _) = load_mnist(verbose=False)
    return x_train[::10] / 255.0, x_test[:6] / 255.0


@pytest.mark.parametrize("preset", ["annsnn", "reference"])
def test_mlp_round_trip_gives_identical_spikes(preset, mnist, tmp_path):
    pytest.importorskip("keras")
    x_cal, x = mnist
    from annsnn.cli import bundled_model_path
    conv = annsnn.ANNtoSNNConverter(preset=preset, seed=3, **_EXPORTABLE[preset])
    conv.load_keras_model(str(bundled_model_path("mlp")), calibration_data=x_cal.reshape(-1, 784), show_info=False)
    graph = round_trip(conv, x.reshape(-1, 784), tmp_path, steps=32 if preset == "annsnn" else 100)
    kinds = {type(node).__name__ for node in graph.nodes.values()}
    assert {"Input", "Output", "IF"} <= kinds and ("Affine" in kinds or "Linear" in kinds)


def cnn_onnx(tmp_path):
    """A small CNN with symmetric padding and average pooling, written as ONNX."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    weights = {"k1": rng.normal(0, 0.4, (4, 1, 3, 3)), "b1": rng.normal(0, 0.05, 4), "k2": rng.normal(0, 0.3, (6, 4, 3, 3)),
               "w": rng.normal(0, 0.2, (10, 6 * 7 * 7)), "b": rng.normal(0, 0.05, 10)}
    nodes = [helper.make_node("Conv", ["x", "k1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("AveragePool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2], name="pool1"),
             helper.make_node("Conv", ["p1", "k2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("AveragePool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2], name="pool2"),
             helper.make_node("Flatten", ["p2"], ["f"]),
             helper.make_node("Gemm", ["f", "w", "b"], ["y"], transB=1, name="fc")]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 1, 28, 28])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 10])],
                              [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()])
    path = tmp_path / "cnn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("preset", ["annsnn", "reference"])
def test_cnn_round_trip_gives_identical_spikes(preset, mnist, tmp_path):
    x_cal, x = mnist
    conv = annsnn.ANNtoSNNConverter(preset=preset, seed=5, **_EXPORTABLE[preset])
    conv.load_onnx_model(cnn_onnx(tmp_path), calibration_data=x_cal[:100].reshape(-1, 28, 28, 1), show_info=False)
    graph = round_trip(conv, x.reshape(-1, 28, 28, 1), tmp_path, steps=40)
    kinds = [type(node).__name__ for node in graph.nodes.values()]
    # the preset folds the pooling that the Dense layer reads into its weights (fold_mean_pool)
    assert kinds.count("Conv2d") == 2 and kinds.count("SumPool2d") == (1 if preset == "annsnn" else 2)
    assert "Flatten" in kinds
    conv2d = next(node for node in graph.nodes.values() if type(node).__name__ == "Conv2d")
    assert conv2d.weight.shape == (4, 1, 3, 3)  # (C_out, C_in, kH, kW)


def test_export_refuses_what_nir_cannot_state(tmp_path):
    net = annsnn.Network()
    source = net.create((4, 4, 1), annsnn.models.Constant)
    pooled = net.create((2, 2, 1), annsnn.models.IaF)
    net.connect_pooling(source, pooled, "max", 2)
    with pytest.raises(ConversionError, match="max pooling of spikes has no NIR node"):
        export_nir(net, tmp_path / "x.nir")
    net2 = annsnn.Network()
    a = net2.create(4, annsnn.models.Constant)
    b = net2.create(4, annsnn.Neuron(equations="dv/dt = g_exc", spike="v > 1", reset="v = 0", name="Mine"))
    net2.connect(a, b)
    with pytest.raises(ConversionError, match=r"neuron 'Mine'\) has no NIR counterpart"):
        export_nir(net2, tmp_path / "y.nir")
    net3 = annsnn.Network()
    net3.connect(net3.create(4, annsnn.models.Constant), net3.create(4, annsnn.models.IF_signed))
    with pytest.raises(ConversionError, match="IF_signed.*carry a payload.*hidden_neuron='IF_subtract'"):
        export_nir(net3, tmp_path / "z.nir")


def euler_oracle(kind, p, weights, drive, steps, dt):
    """NIR's ODEs with explicit Euler in float32, every right-hand side from the previous state; the
    weighted input spikes of step n are the input current of step n + 1 (reset to v_reset)."""
    f = np.float32
    n = weights.shape[1]
    v, current, spikes = np.zeros(n, f), np.zeros(n, f), []
    arriving = np.zeros(n, f)
    for step in range(steps):
        if kind == "CubaLIF":  # tau_syn di/dt = -i + w_in S ; tau_mem dv/dt = (v_leak - v) + r i
            next_i = (current + f(dt) * ((-current + p["w_in"] * arriving) / p["tau_syn"])).astype(f)
            next_v = (v + f(dt) * (((p["v_leak"] - v) + p["r"] * current) / p["tau_mem"])).astype(f)
            current = next_i
        else:  # tau dv/dt = (v_leak - v) + r S
            next_v = (v + f(dt) * (((p["v_leak"] - v) + p["r"] * arriving) / p["tau"])).astype(f)
        v = next_v
        fired = v > p["v_threshold"]
        v = np.where(fired, p["v_reset"], v).astype(f)
        spikes.append(fired)
        arriving = np.zeros(n, f)
        for j in np.flatnonzero(drive[step]):  # added row by row, in spike order, as events are
            arriving = (arriving + weights[j]).astype(f)
    return np.array(spikes), v


@pytest.mark.parametrize("kind", ["LIF", "CubaLIF"])
def test_hand_built_lif_and_cubalif_graphs_match_numpy(kind):
    rng = np.random.default_rng(4)
    n_in, n = 6, 5
    weights = rng.uniform(0.0, 1.2, (n_in, n)).astype(np.float32)
    f = lambda v: np.full(n, v, dtype=np.float32)  # noqa: E731
    params = dict(tau=f(5.0), tau_syn=f(3.0), tau_mem=f(8.0), r=rng.uniform(0.8, 1.5, n).astype(np.float32),
                  v_leak=f(0.0), v_threshold=f(1.0), v_reset=f(0.0), w_in=rng.uniform(0.5, 1.0, n).astype(np.float32))
    if kind == "LIF":
        neuron = nir.LIF(tau=params["tau"], r=params["r"], v_leak=params["v_leak"], v_threshold=params["v_threshold"],
                         v_reset=params["v_reset"])
    else:
        neuron = nir.CubaLIF(tau_syn=params["tau_syn"], tau_mem=params["tau_mem"], r=params["r"],
                             v_leak=params["v_leak"], v_threshold=params["v_threshold"], v_reset=params["v_reset"],
                             w_in=params["w_in"])
    graph = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([n_in])}),
                                "fc": nir.Linear(weight=weights.T.copy()), "cells": neuron,
                                "out": nir.Output(output_type={"output": np.array([n])})},
                         edges=[("in", "fc"), ("fc", "cells"), ("cells", "out")])
    spikes_in = rng.random((60, n_in)) < (0.3 if kind == "LIF" else 0.6)
    times = [list(np.flatnonzero(spikes_in[:, j]) * 0.5) for j in range(n_in)]
    net = import_nir(graph, dt=0.5, input_neuron=annsnn.Neuron(parameters="x = 0.0", equations="r = x", output="r",
                                                               name="Unused"))
    # drive the imported network from a spike source in place of its input population
    source = net.create_spike_source(times, name="source")
    cells = net.get_population("cells")
    weights_into = [p for p in net.projections if p.post is cells][0]
    net.connect(source, cells, weights=weights_into.w if hasattr(weights_into, "w") else None, name="from_source")
    net.projections.remove(weights_into)
    monitor = net.monitor(cells, "spike")
    net.simulate(60)
    expected, v = euler_oracle(kind, params, weights, spikes_in.astype(np.float32), 60, 0.5)
    np.testing.assert_array_equal(monitor.spike_raster()[:, 0], expected)
    np.testing.assert_allclose(cells.v[0], v, rtol=1e-5, atol=1e-6)
    assert expected.sum() > 5


def test_bad_and_unsupported_graphs_get_one_clear_error(tmp_path):
    graph = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([3])}),
                                "delay": nir.Delay(delay=np.ones(3)),
                                "out": nir.Output(output_type={"output": np.array([3])})},
                         edges=[("in", "delay"), ("delay", "out")], type_check=False)
    with pytest.raises(ConversionError, match="'delay' \\(Delay\\): this node type is not supported"):
        import_nir(graph)
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(ConversionError, match="cannot read NIR graph"):
        import_nir(bad)


def test_pytorch_style_names_round_trip(mnist, tmp_path):
    """PyTorch names ONNX nodes '/fc1/Gemm'; NIR node names are HDF5 groups and may not hold '/'."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Gemm", ["x", "w1"], ["h"], name="/fc1/Gemm", transB=1),
             helper.make_node("Relu", ["h"], ["r"], name="/relu/Relu"),
             helper.make_node("Gemm", ["r", "w2"], ["y"], name="/fc2/Gemm", transB=1)]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 784])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 10])],
                              [numpy_helper.from_array(rng.normal(0, 0.05, s).astype(np.float32), n)
                               for n, s in (("w1", (32, 784)), ("w2", (10, 32)))])
    path = tmp_path / "named.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    x_cal, x = mnist
    conv = annsnn.ANNtoSNNConverter(preset="annsnn", hidden_neuron="IF_subtract")
    conv.load_model(path, calibration_data=x_cal[:100].reshape(-1, 784), show_info=False)
    export_nir(conv, tmp_path / "named.nir")
    imported = import_nir(tmp_path / "named.nir", batch_size=2)
    assert [p.name for p in imported.populations] == ["x", "fc1_Gemm", "fc2_Gemm"]


def test_flatten_only_edge_follows_nirs_channel_first_order():
    c, h, w = 2, 2, 3
    graph = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([c, h, w])}),
                                "flat": nir.Flatten(input_type={"input": np.array([c, h, w])}, start_dim=0),
                                "acc": nir.I(r=np.ones(c * h * w, np.float32)),
                                "out": nir.Output(output_type={"output": np.array([c * h * w])})},
                         edges=[("in", "flat"), ("flat", "acc"), ("acc", "out")])
    net = import_nir(graph)
    image = np.arange(c * h * w, dtype=np.float32).reshape(c, h, w)  # NIR's (C, H, W) input
    net.populations[0].x = image.transpose(1, 2, 0).reshape(-1)       # the population holds (H, W, C)
    net.simulate(2)
    np.testing.assert_array_equal(net.get_population("acc").v[0], image.reshape(-1))  # flattened as NIR does
    with pytest.raises(ConversionError, match="input_neuron must be"):
        import_nir(graph, input_neuron="Poison")
