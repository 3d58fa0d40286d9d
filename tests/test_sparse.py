"""Sparse projections, connectivity patterns, delays and spike sources."""
import numpy as np
import pytest

import annsnn
from annsnn import InputError, NetworkError, models


def random_weights(n_pre, n_post, density, seed=0):
    rng = np.random.default_rng(seed)
    return ((rng.random((n_pre, n_post)) < density) * rng.normal(0.25, 0.2, (n_pre, n_post))).astype(np.float32)


@pytest.mark.parametrize("propagation", ["next_step", "same_step"])
def test_sparse_equals_dense_spike_for_spike(propagation):
    net = annsnn.Network(dt=1.0, batch_size=3, seed=4, propagation=propagation)
    source = net.create(60, models.Poisson)
    source.rates = np.linspace(50, 400, 60)
    dense_post, sparse_post = net.create(40, models.IaF), net.create(40, models.IaF)
    weights = random_weights(60, 40, 0.2)
    net.connect(source, dense_post, weights=weights)
    pre, post = np.nonzero(weights)
    sparse = net.connect_from_arrays(source, sparse_post, pre, post, weights[pre, post])
    # recurrent too: each layer onto itself with the same weights
    recurrent = random_weights(40, 40, 0.1, seed=1) * -0.5
    net.connect(dense_post, dense_post, weights=recurrent)
    pre, post = np.nonzero(recurrent)
    net.connect_from_arrays(sparse_post, sparse_post, pre, post, recurrent[pre, post])
    mon_dense, mon_sparse = net.monitor(dense_post, ["spike", "v"]), net.monitor(sparse_post, ["spike", "v"])
    net.simulate(150)
    np.testing.assert_array_equal(mon_dense.spike_raster(), mon_sparse.spike_raster())
    np.testing.assert_array_equal(mon_dense.get("v"), mon_sparse.get("v"))
    assert mon_dense.spike_raster().sum() > 100
    np.testing.assert_array_equal(sparse.to_dense(), weights)
    np.testing.assert_array_equal(sparse.fan_out(), (weights != 0).sum(axis=1))


def test_sparse_graded_source_equals_dense():
    net = annsnn.Network(dt=1.0, batch_size=2)
    analog = annsnn.Neuron(parameters="x = 0.0", equations="r = x", output="r", name="Analog")
    inp = net.create(30, analog)
    inp.x = np.random.default_rng(2).uniform(0, 1, (2, 30)) * (np.arange(30) % 3 != 0)
    a, b = net.create(20, models.IaF_Acc), net.create(20, models.IaF_Acc)
    weights = random_weights(30, 20, 0.3, seed=3)
    net.connect(inp, a, weights=weights)
    pre, post = np.nonzero(weights)
    net.connect_from_arrays(inp, b, pre, post, weights[pre, post])
    net.simulate(5)
    np.testing.assert_array_equal(a.v, b.v)
    assert np.abs(a.v).sum() > 0


def test_weights_are_zero_copy_views_in_storage_order():
    net = annsnn.Network()
    pre, post = net.create(4, models.Poisson), net.create(3, models.IaF)
    proj = net.connect_from_arrays(pre, post, [3, 0, 3, 1], [0, 2, 1, 1], [1.0, 2.0, 3.0, 4.0])
    np.testing.assert_array_equal(proj.pre_indices, [0, 1, 3, 3])
    np.testing.assert_array_equal(proj.post_indices, [2, 1, 0, 1])
    np.testing.assert_array_equal(proj.w, [2.0, 4.0, 1.0, 3.0])  # stable within a pre neuron
    proj.w[0] = 9.0
    assert proj.to_dense()[0, 2] == 9.0
    with pytest.raises(ValueError):
        proj.pre_indices[0] = 1
    with pytest.raises(InputError, match="one per synapse"):
        proj.w = np.ones(3)
    with pytest.raises(InputError, match="NaN"):
        proj.w = [1.0, np.nan, 1.0, 1.0]


def test_fixed_probability_is_seeded_has_the_right_density_and_no_self_connections():
    net = annsnn.Network(seed=3)
    pop = net.create(400, models.IaF)
    a = net.connect_fixed_probability(pop, pop, 0.05, seed=7, name="a")
    b = net.connect_fixed_probability(pop, pop, 0.05, seed=7, name="b")
    c = net.connect_fixed_probability(pop, pop, 0.05, seed=8, name="c")
    np.testing.assert_array_equal(a.post_indices, b.post_indices)
    assert not np.array_equal(a.post_indices, c.post_indices)
    expected = 0.05 * 400 * 399
    assert abs(a.size - expected) < 4 * np.sqrt(expected)
    assert not (a.pre_indices == a.post_indices).any()
    pairs = a.pre_indices.astype(np.int64) * 400 + a.post_indices
    assert len(np.unique(pairs)) == a.size, "no pair twice"
    with_self = net.connect_fixed_probability(pop, pop, 1.0, allow_self_connections=True, name="d")
    assert with_self.size == 400 * 400


def test_fixed_numbers_and_all_to_all():
    net = annsnn.Network(seed=1)
    pre, post = net.create(50, models.Poisson), net.create(30, models.IaF)
    by_pre = net.connect_fixed_number_pre(pre, post, 7)
    assert (np.bincount(by_pre.post_indices, minlength=30) == 7).all()
    by_post = net.connect_fixed_number_post(pre, post, 4)
    assert (np.bincount(by_post.pre_indices, minlength=50) == 4).all()
    full = net.connect_all_to_all(pre, post)
    assert full.size == 50 * 30 and (full.to_dense() == 1.0).all()
    recurrent = net.create(10, models.IaF)
    own = net.connect_fixed_number_pre(recurrent, recurrent, 9)
    assert not (own.pre_indices == own.post_indices).any()
    with pytest.raises(NetworkError, match="number must be an integer in"):
        net.connect_fixed_number_pre(recurrent, recurrent, 10)
    with pytest.raises(NetworkError, match="probability"):
        net.connect_fixed_probability(pre, post, 1.5)


def test_views_select_contiguous_neurons_and_self_pairs_follow_them():
    net = annsnn.Network(seed=2)
    pop = net.create(100, models.IaF)
    exc = net.connect_fixed_probability(pop[:80], pop, 1.0, name="exc")
    inh = net.connect_fixed_probability(pop[80:], pop[50:], 1.0, name="inh")
    assert exc.pre_indices.max() == 79 and exc.size == 80 * 99
    assert inh.pre_indices.min() == 80 and inh.post_indices.min() == 50 and inh.size == 20 * 49
    assert not (inh.pre_indices == inh.post_indices).any()
    np.testing.assert_array_equal(exc.fan_out()[80:], 0)
    with pytest.raises(NetworkError, match="only sparse projections"):
        net.connect(pop[:10], pop)
    with pytest.raises(NetworkError, match="contiguous"):
        pop[::2]


def test_from_sparse_matrix_and_bad_arrays():
    sparse = pytest.importorskip("scipy.sparse")
    net = annsnn.Network()
    pre, post = net.create(5, models.Poisson), net.create(4, models.IaF)
    matrix = sparse.random(5, 4, density=0.5, random_state=1, format="csr")
    proj = net.connect_from_sparse(pre, post, matrix)
    np.testing.assert_allclose(proj.to_dense(), matrix.toarray(), rtol=1e-7)
    with pytest.raises(NetworkError, match="shape"):
        net.connect_from_sparse(pre, post, matrix.T)
    with pytest.raises(NetworkError, match="out of range"):
        net.connect_from_arrays(pre, post, [0, 5], [0, 0])
    with pytest.raises(NetworkError, match="equal length"):
        net.connect_from_arrays(pre, post, [0, 1], [0])


def test_per_synapse_delays_match_a_numpy_oracle():
    dt = 0.5
    net = annsnn.Network(dt=dt, batch_size=2, seed=5)
    source = net.create(6, models.Poisson)
    source.rates = 150.0
    acc = net.create(3, models.IaF_Acc)
    pre, post = np.array([0, 1, 2, 3, 4, 5, 0]), np.array([0, 0, 1, 1, 2, 2, 2])
    delays = np.array([0.5, 1.0, 2.5, 0.7, 4.0, 10.0, 3.0])  # 0.7 ms rounds to 1 step
    weights = np.arange(1, 8, dtype=np.float32)
    proj = net.connect_from_arrays(source, acc, pre, post, weights, delays=delays)
    spikes, values = net.monitor(source, "spike"), net.monitor(acc, "v")
    net.simulate(40)
    steps = np.rint(delays / dt).astype(int)
    for item in range(2):
        oracle = np.zeros((40, 3))
        for k in range(len(pre)):
            for n in spikes.get("spike")[item].get(pre[k], []):
                if n + steps[k] < 40:
                    oracle[n + steps[k]:, post[k]] += weights[k] * dt  # IaF_Acc: v += dt * g
        np.testing.assert_allclose(values.get("v")[:, item], oracle, rtol=1e-6)
    assert proj.ring_slots == steps.max() + 1
    np.testing.assert_allclose(np.sort(proj.delays), np.sort(steps * dt))


@pytest.mark.parametrize("propagation", ["next_step", "same_step"])
def test_uniform_delay_on_dense_equals_sparse_and_shifts_arrival(propagation):
    net = annsnn.Network(dt=1.0, batch_size=2, propagation=propagation)
    source = net.create_spike_source([[0, 5], [2], [7]])
    a, b, c = (net.create(2, models.IaF_Acc) for _ in range(3))
    weights = np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]], dtype=np.float32)
    net.connect(source, a, weights=weights, delays=4.0)
    pre, post = np.nonzero(weights)
    net.connect_from_arrays(source, b, pre, post, weights[pre, post], delays=4.0)
    net.connect(source, c, weights=weights)
    ma, mb, mc = (net.monitor(p, "v") for p in (a, b, c))
    net.simulate(20)
    np.testing.assert_array_equal(ma.get("v"), mb.get("v"))
    lag = 0 if propagation == "same_step" else 1
    # undelayed events arrive after `lag` steps, delayed ones after 4
    np.testing.assert_array_equal(ma.get("v")[4:], mc.get("v")[lag:20 - 4 + lag])
    np.testing.assert_array_equal(ma.get("v")[:4], 0.0)


def test_reset_drops_events_in_flight_and_short_delays_are_refused():
    net = annsnn.Network(dt=1.0)
    source = net.create_spike_source([[0]])
    acc = net.create(1, models.IaF_Acc)
    net.connect(source, acc, delays=5.0)
    net.simulate(3)
    net.reset()
    source.spike_times = [[100.0]]
    net.simulate(10)
    assert acc.v[0, 0] == 0.0
    with pytest.raises(InputError, match="shorter than one step"):
        net.connect(source, acc, delays=0.2)
    with pytest.raises(NetworkError, match="per-synapse delays need a sparse"):
        net.connect(source, acc, delays=[1.0])


def test_spike_source_spikes_on_the_grid_once_per_step():
    net = annsnn.Network(dt=0.5, batch_size=2)
    source = net.create_spike_source([[1.0, 3.0, 3.2], [], [0.0, 10.0]], name="times")
    mon = net.monitor(source, "spike")
    net.simulate(30)
    for item in range(2):
        recorded = mon.get("spike")[item]
        np.testing.assert_array_equal(recorded[0], [2, 6])
        np.testing.assert_array_equal(recorded[2], [0, 20])
        assert 1 not in recorded
    net.reset()
    assert list(net.simulate_until(100, source, "spiked : any")) == [1, 1]
    with pytest.raises(NetworkError, match="may only be 'spiked"):
        net.simulate_until(10, source, "not spiked")
    with pytest.raises(InputError, match="negative"):
        source.spike_times = [[-1.0], [], []]
    with pytest.raises(InputError, match="3 neurons"):
        source.spike_times = [[1.0]]


def test_memory_grows_with_synapses_not_with_pre_times_post():
    net = annsnn.Network(seed=1)
    pre, post = net.create(20_000, models.Poisson), net.create(20_000, models.IaF)
    proj = net.connect_fixed_number_pre(pre, post, 2)
    held = sum(array.nbytes for _, _, array in proj.buffer_fields()) + proj.pre_indices.nbytes
    assert proj.size == 40_000
    assert held <= 12 * proj.size + 8 * (pre.size + 1), held  # post index, weight (and pre index) per synapse
    assert held < 20_000 * 20_000 * 4 / 1000, "a dense matrix would be 1.6 GB"


def test_review_cases_delays_after_compiling_flat_times_and_disjoint_views():
    net = annsnn.Network(dt=1.0)
    source = net.create_spike_source([0.0, 2.0, 4.0])  # a flat list: one neuron with three times
    assert source.size == 1
    acc = net.create(1, models.IaF_Acc)
    proj = net.connect(source, acc)
    net.simulate(1)  # compiled without a delay
    proj.set_delay(3.0)  # rebuilds: the kernel must not keep the old (absent) ring
    net.reset()
    monitor = net.monitor(acc, "v")
    net.simulate(8)
    np.testing.assert_array_equal(monitor.get("v")[:, 0, 0], [0, 0, 0, 1, 1, 2, 2, 3])
    pop = net.create(100, models.IaF)
    full = net.connect_fixed_number_post(pop[:50], pop[50:], 50)  # disjoint: no self pair possible
    assert full.size == 50 * 50
