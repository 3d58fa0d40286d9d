"""Front-end behaviour of the compiled simulator: batching, randomness, monitors, stopping, numerics."""
import numpy as np
import pytest

import annsnn
from annsnn import Neuron, models


def poisson_chain(batch, seed=11):
    net = annsnn.Network(batch_size=batch, seed=seed)
    inp = net.create(50, models.Poisson, name="input")
    out = net.create(5, models.IaF_ReadOut, name="out")
    net.connect(inp, out, "exc", np.random.default_rng(0).uniform(0, 0.1, (50, 5)))
    return net, inp, out


def test_poisson_rate_within_three_standard_errors():
    net = annsnn.Network(batch_size=2, seed=5)
    pop = net.create(1000, models.Poisson, name="poisson")
    pop.rates = 50.0
    mon = net.monitor(pop, ["spike"])
    net.simulate(1000)
    p = 50.0 * net.dt / 1000.0
    n = 1000 * 1000
    for item in range(2):
        observed = mon.spike_counts()[item].sum() / n
        assert abs(observed - p) < 3 * np.sqrt(p * (1 - p) / n)


def test_batch_of_16_equals_16_single_runs():
    rates = np.random.default_rng(1).uniform(0, 200, (16, 50))
    net, inp, out = poisson_chain(16)
    inp.rates = rates
    mon = net.monitor(out, ["spike", "v"])
    net.simulate(200)
    batch_raster, batch_v = mon.spike_raster(), mon.get("v")
    single, _, _ = poisson_chain(1)
    s_inp, s_out = single.populations
    s_mon = single.monitor(s_out, ["spike", "v"])
    for item in range(16):
        single.reset()
        single.sample_ids = [item]
        s_inp.rates = rates[item]
        single.simulate(200)
        np.testing.assert_array_equal(s_mon.spike_raster()[:, 0], batch_raster[:, item])
        np.testing.assert_array_equal(s_mon.get("v")[:, 0], batch_v[:, item])
    assert batch_raster.sum() > 0


def test_seed_controls_randomness():
    runs = []
    for seed in (1, 1, 2):
        net, inp, out = poisson_chain(2, seed=seed)
        inp.rates = 100.0
        mon = net.monitor(inp, ["spike"])
        net.simulate(100)
        runs.append(mon.spike_raster())
    np.testing.assert_array_equal(runs[0], runs[1])
    assert (runs[0] != runs[2]).any()
    assert (runs[0][:, 0] != runs[0][:, 1]).any(), "batch items must draw independent numbers"


def test_two_phase_update_and_clamps():
    rotation = Neuron(equations="""
        dx/dt = y : init=1.0
        dy/dt = -x : init=0.0, min=-0.5
    """, name="rotation")
    net = annsnn.Network(dt=0.1, batch_size=1)
    pop = net.create(1, rotation)
    mon = net.monitor(pop, ["y"])
    net.simulate(30)
    x, y = np.float32(1.0), np.float32(0.0)
    dt = np.float32(0.1)
    for _ in range(30):
        x, y = x + dt * y, y + dt * (-x)  # both right-hand sides read the old state
        y = max(y, np.float32(-0.5))
    assert pop.x[0, 0] == x and pop.y[0, 0] == y
    recorded = mon.get("y")[:, 0, 0]
    assert recorded.min() == np.float32(-0.5) and (recorded == np.float32(-0.5)).sum() > 3, "min clamp holds"


def test_exponential_integrator_is_exact_for_linear_odes():
    leaky = Neuron(parameters="tau = 10.0 : population\nE = 2.0",
                   equations="dv/dt = (E - v) / tau : init=0.0, exponential", name="leaky")
    net = annsnn.Network(dt=1.0, batch_size=1)
    pop = net.create(3, leaky)
    pop.E = [1.0, 2.0, -1.0]
    net.simulate(25)
    expected = np.array([1.0, 2.0, -1.0]) * (1 - np.exp(-25 / 10.0))
    np.testing.assert_allclose(pop.v[0], expected, rtol=1e-5)


def test_user_names_that_are_keywords_or_sympy_names():
    odd = Neuron(parameters="beta = 2.0\nE = 1.0\nlambda = 0.5\nint = 1.0 : population\nclass = 3.0",
                 equations="gamma = beta * E + lambda * int + class", name="odd")
    net = annsnn.Network(batch_size=1)
    pop = net.create(2, odd)
    net.simulate(1)
    np.testing.assert_array_equal(pop.gamma, np.full((1, 2), 5.5, np.float32))


def test_random_functions_statistics():
    noisy = Neuron(equations="u = Uniform(-1.0, 3.0)\nn = Normal(2.0, 0.5)", name="noisy")
    net = annsnn.Network(batch_size=2, seed=3)
    pop = net.create(20000, noisy)
    net.simulate(1)
    assert abs(pop.u.mean() - 1.0) < 0.03 and pop.u.min() >= -1.0 and pop.u.max() < 3.0
    assert abs(pop.n.mean() - 2.0) < 0.02 and abs(pop.n.std() - 0.5) < 0.02


def test_simulate_until_stops_each_item_at_its_own_step():
    ramp = Neuron(parameters="slope = 0.0", equations="dv/dt = slope", spike="v > 1.0", reset="v = 0",
                  name="ramp")
    net = annsnn.Network(batch_size=3)
    pop = net.create(2, ramp)
    pop.slope = [[0.5, 0.0], [0.1, 0.3], [0.0, 0.0]]
    steps = net.simulate_until(50, pop, "spiked : any")
    # v after n steps is n*slope; first spike where n*slope > 1
    assert steps.tolist() == [3, 4, -1]
    assert net.current_step.tolist() == [3, 4, 50]
    net.reset()
    assert net.simulate_until(50, pop, "v > 0.55 : all", items=2).tolist() == [-1, 6]


def test_monitor_subset_period_and_shapes():
    net, inp, out = poisson_chain(3)
    inp.rates = 300.0
    mon = net.monitor(inp, ["spike", "p"], neurons=[4, 7, 9], period=2)
    full = net.monitor(inp, ["spike"])
    net.simulate(10)
    net.simulate(6)
    assert mon.get("p").shape == (8, 3, 3)
    assert mon.steps().tolist() == list(range(0, 16, 2))
    np.testing.assert_array_equal(mon.spike_raster(), full.spike_raster()[::2][:, :, [4, 7, 9]])
    spikes = mon.get("spike")
    assert len(spikes) == 3 and set(spikes[0]) <= {4, 7, 9}
    net.reset()
    assert mon.get("p").shape == (0, 3, 3)


def test_population_attribute_shapes_and_errors():
    net = annsnn.Network(batch_size=2)
    pop = net.create((2, 3), models.IaF)
    assert pop.v.shape == (2, 6) and pop.vt.shape == (2,)
    pop.v = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(pop.v[1], np.arange(6))
    pop.vt = [0.5, 0.7]
    assert pop.get("v", shaped=True).shape == (2, 2, 3)
    view = pop.v
    pop.v = 0.25
    assert view[0, 0] == np.float32(0.25), "attributes are views, not copies"
    with pytest.raises(annsnn.InputError, match="NaN"):
        pop.v = np.nan
    with pytest.raises(annsnn.InputError, match="cannot write shape"):
        pop.v = np.zeros(5)
    with pytest.raises(AttributeError, match="no attribute 'w'"):
        pop.w = 1.0


def test_nan_is_reported_with_population_and_variable():
    blowup = Neuron(equations="dv/dt = v * v : init=1.0", name="blowup")
    net = annsnn.Network(batch_size=2)
    net.create(4, blowup, name="exploding")
    net.simulate(5)  # unchecked: no error, just values
    net.reset()
    with pytest.raises(annsnn.NumericalError, match="population 'exploding': variable 'v'"):
        net.simulate(200, check=True)


def test_network_misuse_errors():
    net = annsnn.Network()
    a = net.create(3, models.IaF, name="a")
    with pytest.raises(annsnn.NetworkError, match="already exists"):
        net.create(3, models.IaF, name="a")
    with pytest.raises(annsnn.NetworkError, match="no input 'g_inh'"):
        net.connect(a, a, "inh")
    with pytest.raises(annsnn.InputError, match="weights must be"):
        net.connect(a, a, "exc", np.ones((2, 2)))
    with pytest.raises(annsnn.NetworkError):
        annsnn.Network(batch_size=0)


def test_spike_counts_are_kept_by_the_kernel():
    net, inp, out = poisson_chain(2)
    inp.rates = 250.0
    mon = net.monitor(inp, ["spike"])
    net.simulate(40)
    np.testing.assert_array_equal(inp.spike_counts, mon.spike_counts())
    net.reset()
    assert not inp.spike_counts.any()


def test_monitor_step_range_spans_calls():
    net, inp, out = poisson_chain(2)
    inp.rates = 300.0
    ranged = net.monitor(inp, ["p"], start=5, stop=12, period=3)
    full = net.monitor(inp, ["p"])
    net.simulate(7)
    net.simulate(10)
    assert ranged.steps().tolist() == [5, 8, 11]
    np.testing.assert_array_equal(ranged.get("p"), full.get("p")[[5, 8, 11]])
    with pytest.raises(annsnn.NetworkError, match="start <= stop"):
        net.monitor(inp, ["p"], start=5, stop=2)


def test_monitor_helpers():
    net, inp, out = poisson_chain(2)
    inp.rates = 200.0
    mon = net.monitor(inp, ["spike"], neurons=[3, 5, 8])
    net.simulate(500)
    steps, neurons = mon.raster(item=1)
    raster = mon.spike_raster()[:, 1]
    assert len(steps) == raster.sum() and set(neurons) <= {3, 5, 8}
    assert mon.histogram().shape == (500, 2) and mon.histogram().sum() == mon.spike_counts().sum()
    np.testing.assert_allclose(mon.mean_rate(), mon.spike_counts() / 0.5)  # 500 steps of 1 ms
    assert abs(mon.mean_rate().mean() - 200.0) < 30


def _quantised_ib_network(deduplicate, batch=6, n=300, monitor_v=False, stop_early=False):
    rng = np.random.default_rng(11)
    net = annsnn.Network(batch_size=batch, seed=4)
    net.deduplicate = deduplicate
    source = net.create(n, models.IB, name="input")
    hidden = net.create(40, models.IaF_ReadOut if stop_early else models.IaF, name="hidden")
    net.connect(source, hidden, "exc", rng.uniform(-0.02, 0.06, (n, 40)).astype(np.float32))
    levels = rng.integers(0, 12, (batch, n)).astype(np.float32) * np.float32(2.5)  # many repeated values
    levels[0] = rng.uniform(0, 30, n)                                             # item 0: all distinct
    source.rates = levels
    source.set("v", np.where(np.arange(n) % 7 == 0, -60.0, -55.0))                # state takes part in groups
    monitors = [net.monitor(source, ["spike"]), net.monitor(hidden, ["spike"])]
    if monitor_v:
        monitors.append(net.monitor(source, ["v"]))
    if stop_early:
        # items stop at different steps (1 and 7 never); the next call goes on from there
        hidden.vt = np.where(np.isin(np.arange(batch), [1, 7]), 1e9, 1.0)
        stops = net.simulate_until(170, hidden, "sc >= 25 : any")
        assert (stops[[1, 7]] == -1).all() and len(set(stops.tolist())) > 3
    else:
        net.simulate(170)
    net.simulate(80)  # groups are formed anew per call; counts and state carry over
    return net, source, hidden, monitors


# 4,500 neurons: member bitmaps wider than 64 words; stop_early: grouped items stopped by another population
@pytest.mark.parametrize("n, batch, stop_early", [(300, 6, False), (4500, 6, False), (300, 12, True)])
def test_identical_input_neurons_update_as_one_with_identical_results(n, batch, stop_early):
    grouped = _quantised_ib_network(True, n=n, batch=batch, stop_early=stop_early)
    single = _quantised_ib_network(False, n=n, batch=batch, stop_early=stop_early)
    groups = grouped[1].update_groups
    assert groups[0] == 0, "all-distinct item: grouping not worth it"
    assert 0 < groups[1:].max() <= 24   # 12 rate levels x 2 initial v values
    assert (single[1].update_groups == 0).all()
    assert grouped[1].spike_counts.sum() > 1000
    for a, b in zip(grouped[3], single[3]):
        np.testing.assert_array_equal(a.spike_raster(), b.spike_raster())
    for name in ("v", "u"):
        np.testing.assert_array_equal(grouped[1].get(name), single[1].get(name))
    np.testing.assert_array_equal(grouped[1].spike_counts, single[1].spike_counts)
    np.testing.assert_array_equal(grouped[2].v, single[2].v)


def test_monitoring_a_variable_turns_grouping_off():
    net, source, _, monitors = _quantised_ib_network(True, monitor_v=True)
    assert (source.update_groups == 0).all()
    reference = _quantised_ib_network(False, monitor_v=True)[3]
    np.testing.assert_array_equal(monitors[2].get("v"), reference[2].get("v"))


def test_spiking_population_with_graded_output_is_not_grouped():
    """Its values go to projections every step, so its rows must stay current."""
    ramp = Neuron(parameters="rates = 0.0", equations="dv/dt = rates : init=0", spike="v > 1", reset="v = 0",
                  output="v", name="GradedRamp")

    def run(deduplicate):
        net = annsnn.Network(batch_size=2, seed=1)
        net.deduplicate = deduplicate
        source = net.create(40, ramp, name="source")
        target = net.create(3, models.IaF_Acc, name="target")
        net.connect(source, target, "exc", np.full((40, 3), 0.01, dtype=np.float32))
        source.rates = np.repeat([0.1, 0.3], 20).astype(np.float32)  # 2 distinct neurons per item
        net.simulate(50)
        return source, target

    grouped, single = run(True), run(False)
    assert (grouped[0].update_groups == 0).all()
    np.testing.assert_array_equal(grouped[1].v, single[1].v)


def test_state_and_weight_buffers_start_on_cache_lines():
    # a weight row off a 64-byte boundary makes every vector load of dense propagation a split load
    net = annsnn.Network(batch_size=3)
    inp = net.create(37, models.IB, name="input")
    hidden = net.create((5, 5, 2), models.IaF, name="hidden")
    net.connect(inp, hidden, "exc", np.ones((37, 50)))
    pooled = net.create((2, 2, 2), models.IaF, name="pooled")
    net.connect_pooling(hidden, pooled, "max", 2)
    conv_out = net.create((2, 2, 3), models.IaF, name="conv_out")
    net.connect_convolution(pooled, conv_out, np.ones((3, 3, 2, 3)))
    fields = [(name, array) for name, _, array in net._buffer_fields()
              if name.startswith(("pop", "proj"))]
    assert len(fields) > 20
    assert [name for name, array in fields if array.ctypes.data % 64] == []
    inp.rates = np.arange(37.0)
    np.testing.assert_array_equal(inp.rates[2], np.arange(37.0))  # views still write through


def test_random_draws_of_a_neuron_do_not_depend_on_population_size():
    # populations of 50 and 64: neuron 49 is in the scalar-sized tail of one and a full vector of the other
    def spikes(size):
        net = annsnn.Network(batch_size=2, seed=21)
        pop = net.create(size, models.Poisson, name="input")
        pop.rates = 300.0
        mon = net.monitor(pop, ["spike"])
        net.simulate(200)
        return mon.spike_raster()[:, :, :50]

    small, large = spikes(50), spikes(64)
    assert small.sum() > 2000
    np.testing.assert_array_equal(small, large)
    assert not (small[:, :, 48] == small[:, :, 0]).all()


@pytest.mark.parametrize("deduplicate", [True, False])
def test_spike_lists_of_dense_firing_are_complete(deduplicate):
    # 17 to 64 spikes per 64 neurons: every path of the spike-list compaction, grouped and per neuron
    # (300 neurons: a masked tail of 12)
    net = annsnn.Network(batch_size=2)
    net.deduplicate = deduplicate
    pop = net.create(300, models.IaF, name="busy")
    pattern = np.zeros((2, 300), dtype=np.float32)
    pattern[0] = 5.0                                  # all fire every step
    pattern[1, np.arange(300) % 3 != 0] = 5.0         # two in three fire every step
    pop.bias = pattern
    mon = net.monitor(pop, ["spike"])
    net.simulate(7)
    raster = mon.spike_raster()
    np.testing.assert_array_equal(raster, np.broadcast_to(pattern > 0, raster.shape))
    np.testing.assert_array_equal(pop.spike_counts, 7 * (pattern > 0))
    assert (pop.update_groups > 0).all() == deduplicate
