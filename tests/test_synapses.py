"""Synaptic dynamics and refractoriness in the equation syntax, checked against NumPy integrations."""
import numpy as np
import pytest

import annsnn
from annsnn import EquationError, Neuron, models


def spike_at(steps, n_neurons=1, dt=1.0):
    """Spike times (ms) that put one spike of each neuron on each of ``steps``."""
    return [[s * dt for s in steps] for _ in range(n_neurons)]


def test_input_with_an_ode_keeps_its_value_and_decays():
    """A spike adds its weight to g; g then decays exactly as the exponential integrator says."""
    synapse = Neuron(parameters="tau = 4.0 : population",
                     equations="tau * dg_exc/dt = -g_exc : exponential\nx = g_exc", name="Decay")
    net = annsnn.Network(dt=0.5)
    source = net.create_spike_source(spike_at([2, 9], dt=0.5))
    post = net.create(1, synapse)
    net.connect(source, post, weights=1.5)
    mon = net.monitor(post, ["g_exc", "x"])
    net.simulate(20)
    decay = np.float32(np.exp(np.float32(-0.5 / 4.0)))
    g, expected = np.float32(0.0), []
    for step in range(20):
        if step - 1 in (2, 9):  # a spike of step n arrives in the update of step n + 1
            g = np.float32(g + np.float32(1.5))
        g = np.float32(g * decay)
        expected.append(g)
    np.testing.assert_allclose(mon.get("g_exc")[:, 0, 0], expected, rtol=1e-6)
    assert mon.get("g_exc")[-1, 0, 0] > 0, "the input must persist between steps"


def test_input_without_an_ode_is_cleared_every_step():
    net = annsnn.Network(dt=1.0)
    source = net.create_spike_source(spike_at([3]))
    post = net.create(1, Neuron(equations="x = g_exc", name="Probe"))
    net.connect(source, post, weights=2.0)
    mon = net.monitor(post, ["x"])
    net.simulate(8)
    np.testing.assert_array_equal(mon.get("x")[:, 0, 0], [0, 0, 0, 0, 2, 0, 0, 0])


def test_factor_on_the_left_equals_division_on_the_right():
    left = Neuron(parameters="tau = 20.0", equations="tau * dv/dt = 1.0 - v", name="Left")
    right = Neuron(parameters="tau = 20.0", equations="dv/dt = (1.0 - v) / tau", name="Right")
    net = annsnn.Network(dt=0.1)
    a, b = net.create(3, left), net.create(3, right)
    a.tau = b.tau = [5.0, 10.0, 20.0]
    net.simulate(50)
    np.testing.assert_array_equal(a.v, b.v)
    assert (a.v > 0).all()


@pytest.mark.parametrize("equations, fragment", [
    ("g_exc = v", "give it dynamics with an ODE"),
    ("dv/dt = -v\ndg_exc/dt = -g_exc\ndg_exc/dt = 0", "declared twice"),
    ("dv/dt = -v : unless_refractory=1", "unknown equation flag"),
])
def test_bad_input_declarations_name_the_line(equations, fragment):
    with pytest.raises(EquationError, match=fragment) as info:
        Neuron(equations=equations, name="Bad")
    assert info.value.section == "equations"


@pytest.mark.parametrize("refractory, fragment", [("-1", "at least 0"), ("tau_unknown", "unknown symbol"),
                                                  ([5.0], "number of ms")])
def test_bad_refractory_periods_are_refused(refractory, fragment):
    with pytest.raises(EquationError, match=fragment):
        Neuron(equations="dv/dt = 1.0", spike="v > 1", reset="v = 0", refractory=refractory, name="Bad")


def test_refractory_needs_a_spike_condition():
    with pytest.raises(EquationError, match="needs a spike condition"):
        Neuron(equations="dv/dt = 1.0", refractory=2.0, name="Bad")


def oracle_refractory(dt, steps, drive, tau_g, weight, input_steps, refractory_steps):
    """Euler in float32: v integrates drive + g, g decays, w counts time. After each spike v is held for
    refractory_steps steps, while g (a synaptic input) and w (unless_refractory) keep integrating."""
    f = np.float32
    v = g = w = f(0.0)
    left, spikes, trace = 0, [], []
    for step in range(steps):
        if step - 1 in input_steps:  # a spike of step n arrives in the update of step n + 1
            g = f(g + f(weight))
        refractory = left > 0
        next_v = f(v + f(f(dt) * f(f(drive) + g)))
        next_g = f(g + f(f(dt) * f(-g / f(tau_g))))
        w = f(w + f(f(dt) * f(1.0)))
        v = v if refractory else next_v
        g = next_g
        left = left - 1 if refractory else left
        if not refractory and v > 1.0:
            spikes.append(step)
            v = f(0.0)
            left = refractory_steps
        trace.append((v, g, w))
    return spikes, np.array(trace)


@pytest.mark.parametrize("dt, refractory", [(1.0, 3.0), (0.5, 2.4), (1.0, 0.0)])
def test_refractory_period_holds_v_lets_inputs_and_flagged_variables_run(dt, refractory):
    model = Neuron(parameters="drive = 0.3 : population\ntau_g = 4.0 : population",
                   equations="dv/dt = drive + g_exc\ndg_exc/dt = -g_exc / tau_g\ndw/dt = 1.0 : unless_refractory",
                   spike="v > 1.0", reset="v = 0.0", refractory=refractory, name="Refractory")
    net = annsnn.Network(dt=dt)
    inputs = {4, 11, 30}
    source = net.create_spike_source(spike_at(sorted(inputs), dt=dt))
    post = net.create(1, model)
    net.connect(source, post, weights=0.7)
    mon = net.monitor(post, ["v", "g_exc", "w", "spike"])
    net.simulate(60)
    rounded = int(np.floor(refractory / dt + 0.5))
    spikes, trace = oracle_refractory(dt, 60, 0.3, 4.0, 0.7, inputs, rounded)
    assert len(spikes) >= 3
    np.testing.assert_array_equal(mon.get("spike")[0].get(0, np.array([], dtype=int)), spikes)
    np.testing.assert_allclose(mon.get("v")[:, 0, 0], trace[:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mon.get("g_exc")[:, 0, 0], trace[:, 1], rtol=1e-5)
    np.testing.assert_allclose(mon.get("w")[:, 0, 0], trace[:, 2], rtol=1e-6)
    if rounded:
        first = spikes[0]
        held = mon.get("v")[first:first + rounded + 1, 0, 0]
        assert (held == 0.0).all() and mon.get("v")[first + rounded + 1, 0, 0] > 0


def test_refractory_period_per_neuron_from_a_parameter():
    model = Neuron(parameters="period = 0.0", equations="dv/dt = 0.5", spike="v > 1.0", reset="v = 0.0",
                   refractory="period", name="PerNeuron")
    net = annsnn.Network(dt=1.0)
    pop = net.create(3, model)
    pop.period = [0.0, 2.0, 5.0]
    net.simulate(30)
    # the first spike on step 2 (v = 1.5), then one every 3 steps plus the refractory steps
    np.testing.assert_array_equal(pop.spike_counts[0], [27 // 3 + 1, 27 // 5 + 1, 27 // 8 + 1])


def test_refractory_state_is_reset_with_the_network():
    model = Neuron(equations="dv/dt = 2.0", spike="v > 1.0", reset="v = 0.0", refractory=10.0, name="Reset")
    net = annsnn.Network(dt=1.0)
    pop = net.create(1, model)
    net.simulate(3)
    assert pop.spike_counts[0, 0] == 1
    net.reset()
    net.simulate(1)
    net.simulate(1)
    assert pop.spike_counts[0, 0] == 1, "after a reset the neuron is not refractory any more"


def test_review_cases_for_the_parser():
    with pytest.raises(EquationError, match="finite number of ms"):
        Neuron(equations="dv/dt = 1.0", spike="v > 1", reset="v = 0", refractory="1/0", name="Bad")
    Neuron(equations="dv/dt = 1.0", spike="v > 1", reset="v = 0", refractory=np.float32(2.0), name="Float32")
    assert Neuron(equations="dg_t/dt = -g_t\ndv/dt = g_t", name="InputT").spec.inputs == ("g_t",)
    with pytest.raises(EquationError, match="unknown symbol 'v'"):
        Neuron(equations="v * dv/dt = 1.0", name="FactorOfParameters")
