"""Convolution and pooling projections against Keras layers (analog input) and spike-level oracles."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import annsnn  # noqa: E402
from annsnn import NetworkError, Neuron, models  # noqa: E402

PROBE = Neuron(equations="x = g_exc", name="probe")   # stores what arrived this step


def run_graded(x, connect, out_shape):
    """Inject x (B, H, W, C) as analog values for one delivery; return the post input (B, *out_shape)."""
    net = annsnn.Network(batch_size=x.shape[0])
    pre = net.create(x.shape[1:], models.Constant, name="pre")
    post = net.create(out_shape, PROBE, name="post")
    connect(net, pre, post)
    pre.rates = x.reshape(x.shape[0], -1)
    net.simulate(2)  # step 0 computes the input values, step 1 delivers them
    return post.get("x", shaped=True)


def close(got, expected):
    scale = max(np.abs(expected).max(), 1e-6)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("shape, kernel_size, channels", [((7, 9, 1), (3, 5), 2), ((6, 5, 3), (5, 5), 5),
                                                          ((8, 8, 2), (2, 3), 4)])
def test_convolution_matches_keras(padding, stride, shape, kernel_size, channels):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (3,) + shape).astype(np.float32)
    x[x < 0.3] = 0.0  # sparse, like images
    layer = keras.layers.Conv2D(channels, kernel_size, strides=stride, padding=padding, use_bias=False)
    expected = np.asarray(layer(x))
    kernel = layer.get_weights()[0]
    got = run_graded(x, lambda net, a, b: net.connect_convolution(a, b, kernel, stride=stride, padding=padding),
                     expected.shape[1:])
    close(got, expected)


@pytest.mark.parametrize("operation", ["max", "mean"])
@pytest.mark.parametrize("pool, stride, padding", [(2, None, "valid"), (3, 2, "valid"), (2, 1, "same"),
                                                   ((2, 3), None, "same"), (3, 3, "same")])
def test_pooling_matches_keras(operation, pool, stride, padding):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (2, 7, 9, 3)).astype(np.float32)
    cls = keras.layers.MaxPooling2D if operation == "max" else keras.layers.AveragePooling2D
    expected = np.asarray(cls(pool_size=pool, strides=stride, padding=padding)(x))
    got = run_graded(x, lambda net, a, b: net.connect_pooling(a, b, operation, pool, stride=stride,
                                                              padding=padding), expected.shape[1:])
    close(got, expected)


def test_global_average_pooling_matches_keras():
    x = np.random.default_rng(2).uniform(0, 1, (2, 5, 6, 4)).astype(np.float32)
    expected = np.asarray(keras.layers.GlobalAveragePooling2D()(x))
    got = run_graded(x, lambda net, a, b: net.connect_pooling(a, b, "mean", (5, 6)), (4,))
    close(got, expected)


def spiking_input(net, shape, rate):
    pre = net.create(shape, models.Poisson, name="pre")
    pre.rates = rate
    return pre, net.monitor(pre, ["spike"])


def test_convolution_of_spikes_equals_keras_convolution_of_the_raster():
    net = annsnn.Network(batch_size=2, seed=3)
    pre, spikes = spiking_input(net, (9, 8, 2), 300.0)
    kernel = np.random.default_rng(3).normal(0, 1, (3, 3, 2, 4)).astype(np.float32)
    post = net.create((5, 4, 4), PROBE, name="post")
    net.connect_convolution(pre, post, kernel, stride=2, padding="same")
    probe = net.monitor(post, ["x"])
    net.simulate(20)
    raster = spikes.spike_raster().astype(np.float32).reshape(20, 2, 9, 8, 2)
    layer = keras.layers.Conv2D(4, 3, strides=2, padding="same", use_bias=False)
    layer.build((None, 9, 8, 2))
    layer.set_weights([kernel])
    for step in range(1, 20):
        close(probe.get("x")[step].reshape(2, 5, 4, 4), np.asarray(layer(raster[step - 1])))


def test_max_pooling_of_spikes_gates_the_most_active_input():
    net = annsnn.Network(batch_size=2, seed=4)
    pre, spikes = spiking_input(net, (4, 6, 2), 0.0)
    pre.rates = np.random.default_rng(4).uniform(50, 600, (2, 48))
    post = net.create((2, 3, 2), PROBE, name="post")
    net.connect_pooling(pre, post, "max", 2)
    probe = net.monitor(post, ["x"])
    net.simulate(60)
    raster = spikes.spike_raster().reshape(60, 2, 4, 6, 2)
    counts = np.zeros((2, 4, 6, 2), np.int64)
    for step in range(1, 60):
        fired = raster[step - 1]
        counts += fired
        expected = np.zeros((2, 2, 3, 2), np.float32)
        for oy in range(2):
            for ox in range(3):
                window = counts[:, 2 * oy:2 * oy + 2, 2 * ox:2 * ox + 2, :].reshape(2, 4, 2)
                spiked = fired[:, 2 * oy:2 * oy + 2, 2 * ox:2 * ox + 2, :].reshape(2, 4, 2)
                winner = window.argmax(axis=1)  # first maximum in row-major window order
                expected[:, oy, ox, :] = np.take_along_axis(spiked, winner[:, None, :], axis=1)[:, 0, :]
        np.testing.assert_array_equal(probe.get("x")[step].reshape(2, 2, 3, 2), expected)
    net.reset()
    assert not net.projections[0]._count.any(), "reset clears the running counts"


def test_flatten_order_matches_keras():
    """A dense layer after (H, W, C) sees the Keras channels-last flattening."""
    x = np.random.default_rng(5).uniform(0, 1, (2, 3, 4, 2)).astype(np.float32)
    w = np.random.default_rng(6).normal(0, 1, (24, 5)).astype(np.float32)
    expected = x.reshape(2, -1) @ w
    net = annsnn.Network(batch_size=2)
    pre = net.create((3, 4, 2), models.Constant)
    post = net.create(5, PROBE)
    net.connect(pre, post, "exc", w)
    pre.rates = x
    net.simulate(2)
    close(post.x, expected)


def test_geometry_errors_are_precise():
    net = annsnn.Network()
    pre = net.create((8, 8, 1), models.IaF)
    with pytest.raises(NetworkError, match=r"produces \(8, 8, 4\)"):
        net.connect_convolution(pre, net.create((4, 4, 4), models.IaF), np.zeros((3, 3, 1, 4)))
    with pytest.raises(NetworkError, match="needs a \\(H, W, C\\) geometry"):
        net.connect_pooling(net.create(10, models.IaF), net.create(5, models.IaF))
    with pytest.raises(annsnn.InputError, match="kernel must have shape"):
        net.connect_convolution(pre, net.create((8, 8, 2), models.IaF), np.zeros((3, 3, 2, 2)))


def test_fan_out_counts_every_covering_window():
    net = annsnn.Network()
    pre = net.create((5, 5, 2), models.IaF)
    conv = net.connect_convolution(pre, net.create((5, 5, 3), models.IaF), np.zeros((3, 3, 2, 3)))
    pool = net.connect_pooling(pre, net.create((2, 2, 2), models.IaF), "max", 2)
    # brute force: an input reaches an output position when it lies in that position's window
    for proj, window, stride, pad, out, per in ((conv, 3, 1, 1, 5, 3), (pool, 2, 2, 0, 2, 1)):
        expected = np.zeros((5, 5), np.int64)
        for oy in range(out):
            for ox in range(out):
                y0, x0 = oy * stride - pad, ox * stride - pad
                expected[max(y0, 0):y0 + window, max(x0, 0):x0 + window] += per
        np.testing.assert_array_equal(proj.fan_out().reshape(5, 5, 2)[..., 0], expected)


@pytest.mark.parametrize("rule, expected", [("count", [1, 1, 2, 2, 3, 3, 4]), ("winner", [1, 1, 2, 3, 4, 4, 5])])
def test_max_pooling_rules_by_hand(rule, expected):
    """One 2x2 window: A fires at t = 0, 3, 6, B at t = 0, 2, 4, 6, the other two never. Running counts
    A 1,1,1,2,2,2,3 and B 1,1,2,2,3,3,4, so the window maximum is 1,1,2,2,3,3,4: the "count" rule delivers
    exactly its rises. "winner" passes the current leader's spikes (ties to the first in row-major order):
    A's spike at t = 3 ties B and passes, and at t = 6 B leads; it overshoots to 5."""
    clock = annsnn.Neuron(parameters="period = 1000.0\nphase = -1.0", equations="x = modulo(t, period)",
                          spike="x == phase", name="Clock")
    net = annsnn.Network(batch_size=1, propagation="same_step")
    pre = net.create((2, 2, 1), clock, name="pre")
    pre.period = np.array([3.0, 2.0, 1000.0, 1000.0])
    pre.phase = np.array([0.0, 0.0, -1.0, -1.0])
    post = net.create((1, 1, 1), annsnn.models.IaF_Acc, name="post")
    net.connect_pooling(pre, post, "max", 2, max_rule=rule)
    monitor = net.monitor(post, ["v"])
    net.simulate(7)
    assert monitor.get("v")[:, 0, 0].tolist() == expected
    with pytest.raises(annsnn.NetworkError, match="max_rule"):
        net.connect_pooling(pre, post, "max", 2, max_rule="loudest")


def test_projections_can_send_a_spike_trace_instead_of_spikes():
    """models.with_spike_trace keeps mask: x 1/tau decay per step, + 1/tau per spike (by hand from the
    raster); convolution and max pooling from source="mask" receive that trace (ANNarchy's converter)."""
    tau = 5.0
    net = annsnn.Network(batch_size=2, seed=6)
    pre = net.create((4, 4, 2), models.with_spike_trace(models.Poisson, tau=tau), name="pre")
    pre.rates = 400.0
    spikes, masks = net.monitor(pre, ["spike"]), net.monitor(pre, ["mask"])
    kernel = np.random.default_rng(6).normal(0, 1, (3, 3, 2, 3)).astype(np.float32)
    conv_post = net.create((4, 4, 3), PROBE, name="conv_post")
    pool_post = net.create((2, 2, 2), PROBE, name="pool_post")
    net.connect_convolution(pre, conv_post, kernel, source="mask")
    net.connect_pooling(pre, pool_post, "max", 2, source="mask")
    conv_probe, pool_probe = net.monitor(conv_post, ["x"]), net.monitor(pool_post, ["x"])
    net.simulate(12)
    raster = spikes.spike_raster().astype(np.float64).reshape(12, 2, 4, 4, 2)
    mask, expected = np.zeros((2, 4, 4, 2)), []
    for step in range(12):
        mask = mask - mask / tau + raster[step] / tau
        expected.append(mask.copy())
    np.testing.assert_allclose(masks.get("mask").reshape(12, 2, 4, 4, 2), expected, rtol=1e-4, atol=1e-6)
    layer = keras.layers.Conv2D(3, 3, padding="same", use_bias=False)
    layer.build((None, 4, 4, 2))
    layer.set_weights([kernel])
    for step in range(1, 12):  # a step's delivery carries the trace at the end of the step before
        close(conv_probe.get("x")[step].reshape(2, 4, 4, 3), np.asarray(layer(expected[step - 1].astype(np.float32))))
        close(pool_probe.get("x")[step].reshape(2, 2, 2, 2),
              expected[step - 1].reshape(2, 2, 2, 2, 2, 2).max(axis=(2, 4)))
    with pytest.raises(NetworkError, match="no variable 'trace'"):
        net.connect_convolution(pre, conv_post, kernel, source="trace")
