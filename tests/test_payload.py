"""Graded spikes: a projection that weights each spike by a variable of its pre neuron (``payload=``)."""
import numpy as np
import pytest

import annsnn
from annsnn import NetworkError, models

#: Spikes once, in step 0, where x > 0, carrying q = 2x (so a payload differs from the value sent).
ONCE = annsnn.Neuron(parameters="x = 0.0", equations="q = 2.0 * x", spike="x > 0.0 and t < 0.5", name="Once")
#: The same values sent every step as a graded output: what the payload projection must equal in step 0.
ANALOG = annsnn.Neuron(parameters="x = 0.0", equations="q = 2.0 * x", output="q", name="AnalogTwin")


def _values(shape, batch, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.1, 1.0, (batch,) + tuple(np.atleast_1d(shape)))
    return (x * (rng.random(x.shape) < 0.4)).reshape(batch, -1).astype(np.float32)


def _pair(geometry, connect, batch=3, seed=0):
    """The same projection from a once-spiking population with a payload and from its analog twin."""
    net = annsnn.Network(dt=1.0, batch_size=batch, propagation="same_step")
    spiking, analog = net.create(geometry, ONCE), net.create(geometry, ANALOG)
    x = _values(geometry, batch, seed)
    spiking.x, analog.x = x, x
    got = connect(net, spiking, dict(payload="q"))
    want = connect(net, analog, {})
    net.simulate(1)
    return got, want, x


@pytest.mark.parametrize("kind", ["dense", "sparse", "conv", "identity", "pool_mean", "pool_max"])
def test_payload_equals_the_graded_value_for_every_projection_kind(kind):
    rng = np.random.default_rng(1)
    weights = rng.normal(0.0, 0.5, (48, 20)).astype(np.float32)
    kernel = rng.normal(0.0, 0.5, (3, 3, 3, 4)).astype(np.float32)

    def connect(net, pre, payload):
        if kind == "dense":
            post = net.create(20, models.IaF_Acc)
            net.connect(pre, post, weights=weights, **payload)
        elif kind == "sparse":
            post = net.create(20, models.IaF_Acc)
            i, j = np.nonzero(np.abs(weights) > 0.4)
            net.connect_from_arrays(pre, post, i, j, weights[i, j], **payload)
        elif kind == "conv":
            post = net.create((4, 4, 4), models.IaF_Acc)
            net.connect_convolution(pre, post, kernel, padding="same", **payload)
        elif kind == "identity":
            post = net.create((4, 4, 5), models.IaF_Acc)
            net.connect_one_to_one(pre, post, weight=np.array([0.5, -1.0, 2.0], np.float32), channel_offset=1,
                                   **payload)
        else:
            post = net.create((2, 2, 3), models.IaF_Acc)
            net.connect_pooling(pre, post, "mean" if kind == "pool_mean" else "max", 2, **payload)
        return post

    got, want, x = _pair((4, 4, 3), connect)
    assert (x > 0).mean() > 0.2 and np.abs(want.v).sum() > 0
    np.testing.assert_allclose(got.v, want.v, rtol=1e-6, atol=1e-6)
    if kind == "dense":  # and both against NumPy
        np.testing.assert_allclose(got.v, (2 * x) @ weights, rtol=1e-5, atol=1e-5)


def test_payload_is_read_when_the_neuron_spikes():
    """q changes every step; each spike carries the q of its own step (next-step and same-step timing)."""
    for propagation in ("next_step", "same_step"):
        net = annsnn.Network(dt=1.0, batch_size=2, propagation=propagation)
        ticking = annsnn.Neuron(parameters="period = 2.0", equations="q = t + 1.0",
                                spike="(t + 0.5) % period < 1.0", name="Ticking")
        pre = net.create(3, ticking)
        pre.period = np.array([2.0, 3.0, 5.0])
        post = net.create(1, models.IaF_Acc)
        net.connect(pre, post, weights=np.array([[1.0], [10.0], [100.0]]), payload="q")
        steps = 12
        net.simulate(steps)
        # spikes at steps n with n % period == 0, carrying n + 1; next_step delivers the last one too late
        last = steps - 1 if propagation == "same_step" else steps - 2
        want = sum(w * sum(n + 1 for n in range(0, last + 1, p)) for w, p in ((1, 2), (10, 3), (100, 5)))
        np.testing.assert_allclose(post.v[:, 0], want)


def test_payload_errors_name_the_projection_and_the_variable():
    net = annsnn.Network()
    once, analog = net.create(4, ONCE), net.create(4, ANALOG)
    post = net.create(4, models.IaF_Acc)
    with pytest.raises(NetworkError, match="'p1'.*no variable 'nope'"):
        net.connect(once, post, payload="nope", name="p1")
    with pytest.raises(NetworkError, match="'p2'.*does not spike"):
        net.connect(analog, post, payload="q", name="p2")
    trace = net.create(4, models.with_spike_trace(models.IaF, 20.0))
    with pytest.raises(NetworkError, match="'p3'.*every step"):
        net.connect(trace, post, source="mask", payload="v", name="p3")


def test_multi_spike_neuron_matches_a_numpy_oracle():
    """IF_multispike sends one event carrying n = floor(v / vt) and subtracts n thresholds (same step)."""
    rng = np.random.default_rng(0)
    batch, n0, n1, n2, steps = 2, 20, 15, 5, 12
    x = rng.random((batch, n0)).astype(np.float32)
    w1 = rng.normal(0.1, 0.3, (n0, n1)).astype(np.float32)
    w2 = rng.normal(0.1, 0.5, (n1, n2)).astype(np.float32)
    net = annsnn.Network(batch_size=batch, propagation="same_step")
    inp, h1, h2 = net.create(n0, models.Constant), net.create(n1, models.IF_multispike), net.create(n2, models.IF_multispike)
    p1, p2 = net.connect(inp, h1, weights=w1), net.connect(h1, h2, weights=w2)
    assert (p1.payload, p2.payload) == (None, "n")  # the neuron's declared payload is the default
    h1.vt, h1.v0 = 0.7, np.full(n1, 0.35)
    net.reset()
    inp.rates = x
    net.simulate(steps)
    v1, v2 = np.full((batch, n1), 0.35), np.zeros((batch, n2))
    c1, c2 = np.zeros_like(v1), np.zeros_like(v2)
    for _ in range(steps):
        v1 += x @ w1
        k1 = np.where(v1 >= 0.7, np.floor(v1 / 0.7), 0)
        v1 -= k1 * 0.7
        v2 += k1 @ w2
        k2 = np.where(v2 >= 1.0, np.floor(v2), 0)
        v2 -= k2
        c1, c2 = c1 + k1, c2 + k2
    assert c1.max() >= 3 and c2.max() >= 3  # bursts happen
    np.testing.assert_array_equal(h1.count, c1)
    np.testing.assert_array_equal(h2.count, c2)
    np.testing.assert_allclose(h2.v, v2, atol=1e-4)
    assert (h1.spike_counts <= steps).all()  # one event per step, whatever it carries


def test_a_declared_payload_must_be_a_variable_of_a_spiking_model():
    with pytest.raises(annsnn.EquationError, match="payload 'q' must be a variable of a spiking model"):
        annsnn.Neuron(parameters="x = 0.0", equations="q = x", payload="q", name="Silent")
    with pytest.raises(annsnn.EquationError, match="payload 'x'"):
        annsnn.Neuron(parameters="x = 0.0", equations="q = x", spike="q > 0", payload="x", name="OnParameter")
    import pickle
    assert pickle.loads(pickle.dumps(models.IF_multispike)).spec.payload == "n"


def test_count_rule_max_pooling_counts_a_payload_as_that_many_spikes():
    net = annsnn.Network(batch_size=2, propagation="same_step")
    pre = net.create((4, 4, 2), ONCE)
    x = np.random.default_rng(3).integers(0, 4, (2, 32)).astype(np.float32)  # payload q = 2x: 0, 2, 4, 6
    pre.x = x
    post = net.create((2, 2, 2), models.IaF_Acc)
    net.connect_pooling(pre, post, "max", 2, max_rule="count", payload="q")
    net.simulate(3)
    windows = (2 * x).reshape(2, 2, 2, 2, 2, 2).transpose(0, 1, 3, 5, 2, 4).reshape(2, 2, 2, 2, 4)
    np.testing.assert_array_equal(post.v.reshape(2, 2, 2, 2), windows.max(axis=-1))
    assert post.v.max() >= 6


def test_max_pooling_of_payloads_adds_the_largest_to_what_other_projections_deliver():
    """Dense (weight 5) and payload max pooling into one input: 5 + the window's largest payload, in either
    creation order and with a delay (the max is taken apart, then added)."""
    for pool_first, delayed in ((False, False), (True, False), (False, True)):
        net = annsnn.Network(batch_size=1, propagation="same_step")
        pre = net.create((2, 2, 1), ONCE)
        pre.x = np.array([[0.5, 1.0, 1.5, 0.25]], dtype=np.float32)  # payloads 1, 2, 3, 0.5
        post = net.create((1, 1, 1), models.IaF_Acc)

        def pool():
            net.connect_pooling(pre, post, "max", 2, payload="q", delays=2.0 if delayed else None)

        if pool_first:
            pool()
        net.connect(pre, post, weights=np.full((4, 1), 1.25, np.float32))
        if not pool_first:
            pool()
        net.simulate(4)
        assert float(post.v[0, 0]) == pytest.approx(5.0 + 3.0), (pool_first, delayed)


def test_spike_trace_and_counting_read_out_count_a_multi_spike_event_as_its_spikes():
    traced = models.with_spike_trace(models.IF_multispike, 20.0)
    assert traced.payload == "n" and "mask += n/mask_tau" in traced.reset
    counting = models.counting(models.IF_multispike, "MultiCount")
    assert counting.payload == "n" and "sc += n" in counting.reset
    with pytest.raises(annsnn.EquationError, match="cannot be combined with output"):
        annsnn.Neuron(parameters="x = 0.0", equations="q = x", spike="q > 0", output="q", payload="q", name="Both")
