"""Time-to-first-spike coding: the generated network against the mapping's NumPy oracle (simulated
event by event and step by step), at most one spike per neuron, the read-outs, options and errors, and
the simulator's ``active`` condition."""
import numpy as np
import pytest

keras = pytest.importorskip("keras")

import annsnn  # noqa: E402
from annsnn import ANNtoSNNConverter, ConversionError, EquationError, InputError, Neuron, models  # noqa: E402

from synthetic import bars, train  # noqa: E402
from ttfs_oracle import spike_steps  # noqa: E402

L = keras.layers
WINDOW = 16


@pytest.fixture(scope="module")
def cnn():
    """Conv (bias, same padding) -> max pool -> conv (stride 2, valid) -> Dense -> Dense."""
    keras.utils.set_random_seed(1)
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        L.Conv2D(4, 3, padding="same", activation="relu"),
        L.MaxPooling2D(2),
        L.Conv2D(6, 2, strides=2, activation="relu", use_bias=False),
        L.Flatten(),
        L.Dense(8, activation="relu"),
        L.Dense(4, activation="softmax"),
    ])
    x, _, x_test, _ = train(model, bars, np.random.default_rng(1), 600, 80, epochs=10, learning_rate=0.01)
    return model, x, x_test


@pytest.fixture(scope="module")
def residual():
    """conv -> [linear conv + skip] Add -> relu, concatenated with a side branch -> average pool -> Dense."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(8, 8, 1))
    stem = L.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    block = L.ReLU()(L.Add()([L.Conv2D(4, 3, padding="same")(stem), stem]))
    side = L.Conv2D(2, 3, padding="same", activation="relu")(inputs)
    pooled = L.AveragePooling2D(2)(L.Concatenate()([block, side]))
    model = keras.Model(inputs, L.Dense(3, activation="softmax")(L.Flatten()(pooled)))
    x, _, x_test, _ = train(model, bars, np.random.default_rng(0), 600, 80, epochs=12, learning_rate=0.01)
    return model, x, x_test


def _converted(model, x, **options):
    conv = ANNtoSNNConverter(coding="ttfs", ttfs_window=WINDOW, seed=1, **options)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:300])
    return conv


def _simulated_steps(conv, x):
    """Every population's spike step (-1: none) after simulating all windows."""
    conv.load_batch(x, 0)
    last = conv.schedule.duration("time_to_first_spike")
    conv.network.simulate(last)
    return {pop.name: np.rint(pop.ts[:len(x)] / conv.network.dt).astype(np.int64) for pop in conv.populations}


SIMULATIONS = ["event", "clock"]


@pytest.mark.parametrize("simulation", SIMULATIONS)
@pytest.mark.parametrize("channel_wise", [False, True])
@pytest.mark.parametrize("fixture", ["cnn", "residual"])
def test_spike_times_match_the_mapping(fixture, channel_wise, simulation, request):
    model, x, x_test = request.getfixturevalue(fixture)
    conv = _converted(model, x, read_out="membrane_potential", channel_wise=channel_wise,
                      ttfs_simulation=simulation)
    samples = conv._prepare(x_test[:conv.network.batch_size])
    simulated = _simulated_steps(conv, samples)
    expected, _ = spike_steps(conv.plans, conv.factors, conv.bias_factors, conv.lambdas, WINDOW, samples)
    compared = 0
    for name, steps in simulated.items():
        oracle = expected[name].reshape(len(samples), -1)
        differ = steps != oracle
        # equal, or one step apart where float32 sums land on a rounding boundary; no spike counts as a
        # spike when the window closes (the value 0), so a missing or extra spike far from it fails
        closes = conv.schedule.opens(name) + WINDOW
        gap = np.abs(np.where(steps < 0, closes, steps) - np.where(oracle < 0, closes, oracle))
        assert gap.max(initial=0) <= 1, name
        assert differ.mean() <= 0.01, f"{name}: {differ.sum()} of {differ.size} spike times differ"
        compared += steps.size
    assert compared > 1000 and any((s >= 0).any() for s in simulated.values())


@pytest.mark.parametrize("simulation", SIMULATIONS)
def test_at_most_one_spike_per_neuron_and_agreement(residual, simulation):
    model, x, x_test = residual
    conv = _converted(model, x, ttfs_simulation=simulation)
    predictions = np.array(conv.predict(x_test, None, progress=False))
    for pop in conv.populations:
        if pop.spec.spiking:
            assert pop.spike_counts.max() <= 1, pop.name
    ann = model.predict(x_test, verbose=0).argmax(1)
    assert (predictions == ann).mean() >= 0.95
    # the first output spike decides (a clock run stops there; an event run counts its clock step)
    assert (conv.stop_steps > conv.schedule.opens(conv.plans[-1].name)).all()
    assert (conv.stop_steps <= conv.schedule.clock_duration("time_to_first_spike")).all()


@pytest.mark.parametrize("fixture", ["cnn", "residual"])
def test_event_simulation_gives_the_clocks_spikes_decisions_and_counts(fixture, request):
    """One event-driven step against every step of every window: the same spike times (one step apart at
    most, where float sums round differently), predictions, decision steps and synaptic events."""
    model, x, x_test = request.getfixturevalue(fixture)
    runs = {}
    for simulation in SIMULATIONS:
        conv = _converted(model, x, ttfs_simulation=simulation)
        labels = model.predict(x_test, verbose=0).argmax(1)
        result = conv.evaluate(x_test, labels, None, progress=False)
        samples = conv._prepare(x_test[:conv.network.batch_size])
        runs[simulation] = conv, result, _simulated_steps(conv, samples)
    (event, event_result, event_steps), (clock, clock_result, clock_steps) = runs["event"], runs["clock"]
    assert event.steps_for(None) == 1 and event_result.steps == 1 and clock_result.steps > 2 * WINDOW
    assert event_result.predictions == clock_result.predictions
    assert event_result.mean_decision_steps == pytest.approx(clock_result.mean_decision_steps)
    np.testing.assert_array_equal(event.stop_steps, clock.stop_steps)
    # the clock's jump twins (residual inputs) are not needed: a lead is the integral up to the opening
    ramps = {name: n for name, n in clock_result.synops_per_sample.items() if not name.endswith("_jump")}
    assert event_result.synops_per_sample == pytest.approx(ramps)
    # priced as the same network: a lead stands for a ramp that hardware integrates, not a multiplication
    jumps = sum(n for name, n in clock_result.synops_per_sample.items() if name.endswith("_jump")) * 0.9e-6
    assert event_result.snn_energy_uj == pytest.approx(clock_result.snn_energy_uj - jumps)
    assert all(p.payload == "lead" for p in event.projections)
    for name, steps in event_steps.items():
        assert (steps != clock_steps[name]).mean() <= 0.01 and np.abs(steps - clock_steps[name]).max() <= 1, name


def test_event_simulation_is_the_default_at_a_finer_window(cnn):
    model, x, _ = cnn
    conv = ANNtoSNNConverter(coding="ttfs")
    assert conv.ttfs_simulation == "event" and conv.ttfs_window == 4096
    assert ANNtoSNNConverter(coding="ttfs", ttfs_simulation="clock").ttfs_window == 128
    with pytest.raises(ConversionError, match="ttfs_simulation must be one of"):
        ANNtoSNNConverter(coding="ttfs", ttfs_simulation="exact")
    with pytest.raises(ConversionError, match="ttfs_simulation applies to coding='ttfs' only"):
        ANNtoSNNConverter(ttfs_simulation="event")


def test_windows_and_duration(cnn):
    model, x, x_test = cnn
    conv = _converted(model, x, read_out="membrane_potential", ttfs_simulation="clock")
    windows = conv.schedule.windows
    names = [p.name for p in conv.plans]
    assert [windows[n] for n in names] == [0, 1, 1, 2, 3, 4]  # max pooling shares its input's window
    assert conv.steps_for(None) == 4 * WINDOW and conv.steps_for(10_000) == 4 * WINDOW
    # the evaluation curve follows the read-out: its last step is the accuracy
    spiking = _converted(model, x, ttfs_simulation="clock")
    labels = model.predict(x_test, verbose=0).argmax(1)
    curve = spiking.evaluate(x_test, labels, None, progress=False)
    assert curve.accuracy_curve[-1] == pytest.approx(curve.accuracy) and curve.accuracy >= 0.95
    with pytest.raises(InputError, match=f"at least {4 * WINDOW}"):
        conv.predict(x_test[:2], 4 * WINDOW - 1)
    result = conv.evaluate(x_test, np.zeros(len(x_test), dtype=np.int64), None, progress=False)
    assert result.steps == 4 * WINDOW and result.total_synops > 0
    assert result.mean_decision_steps == 4 * WINDOW


@pytest.mark.parametrize("simulation", SIMULATIONS)
def test_membrane_read_out_is_the_output_layers_input(cnn, simulation):
    """At the output window's opening the membrane holds L dt (W a + b) - dt/2 exactly (a: the
    oracle's quantised last hidden layer)."""
    model, x, x_test = cnn
    conv = _converted(model, x, read_out="membrane_potential", ttfs_simulation=simulation)
    samples = conv._prepare(x_test[:16])
    conv.predict(samples, None, progress=False)
    _, values = spike_steps(conv.plans, conv.factors, conv.bias_factors, conv.lambdas, WINDOW, samples)
    last, hidden = conv.plans[-1], conv.plans[-2]
    expected = WINDOW * (values[hidden.name] @ (last.weights * conv.factors[-1]) + last.bias * conv.bias_factors[-1]) - 0.5
    np.testing.assert_allclose(conv.scores, expected, rtol=1e-4, atol=1e-3)


def test_default_duration_covers_long_schedules(cnn):
    """predict() without a duration simulates every window, even beyond the rate default of 1000 steps."""
    model, x, x_test = cnn
    conv = ANNtoSNNConverter(coding="ttfs", ttfs_window=300, ttfs_simulation="clock", seed=1)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:300])
    predictions = conv.predict(x_test[:20], progress=False)
    assert conv.steps_for(None) == 1500 and (conv.stop_steps > 1200).all() and len(predictions) == 20


def test_recipe_rebuild_predicts_the_same(cnn):
    model, x, x_test = cnn
    conv = _converted(model, x)
    first = conv.predict(x_test, None, progress=False)
    again = ANNtoSNNConverter.from_recipe(conv.recipe())
    assert again.coding == "ttfs" and again.predict(x_test, None, progress=False) == first


def test_rate_options_and_bad_values_are_refused():
    with pytest.raises(ConversionError, match="hidden_neuron apply to rate coding only"):
        ANNtoSNNConverter(coding="ttfs", hidden_neuron="IaF")
    with pytest.raises(ConversionError, match="needs normalization 'data' or 'robust'"):
        ANNtoSNNConverter(coding="ttfs", normalization="model")
    with pytest.raises(ConversionError, match="does not apply to coding='ttfs'"):
        ANNtoSNNConverter(coding="ttfs", read_out="spike_count")
    with pytest.raises(ConversionError, match="unknown coding"):
        ANNtoSNNConverter(coding="phase")
    with pytest.raises(ConversionError, match="ttfs_window"):
        ANNtoSNNConverter(coding="ttfs", ttfs_window=1)
    with pytest.raises(ConversionError, match="applies to coding='ttfs' only"):
        ANNtoSNNConverter(ttfs_window=64)
    with pytest.raises(ConversionError, match="k \\(time_to_k_spikes\\)"):
        ANNtoSNNConverter(coding="ttfs", k=2)
    model = keras.Sequential([keras.Input(shape=(4,)), L.Dense(3, activation="relu"), L.Dense(2)])
    with pytest.raises(ConversionError, match="all zeros"):
        ANNtoSNNConverter(coding="ttfs").load_keras_model(model, show_info=False, calibration_data=np.zeros((5, 4)))
    with pytest.raises(ConversionError, match="calibration_duration applies to rate coding only"):
        ANNtoSNNConverter(coding="ttfs").load_keras_model(model, show_info=False, calibration_data=np.ones((5, 4)),
                                                          calibration_duration=16)
    with pytest.raises(ConversionError, match="calibration maxima"):
        ANNtoSNNConverter(coding="ttfs").load_keras_model(model, show_info=False, calibration_data=np.ones((5, 4)),
                                                          scale_factor=4)
    conv = ANNtoSNNConverter(coding="ttfs", channel_wise=False)
    conv.load_keras_model(model, show_info=False, calibration_data=np.random.default_rng(0).uniform(size=(20, 4)))
    assert set(conv.calibration["ttfs_scales"]) == {p.name for p in conv.plans}
    for preset in ("reference", "annsnn"):  # TTFS's own defaults, whatever the preset
        conv = ANNtoSNNConverter(coding="ttfs", preset=preset)
        assert conv.normalization == "data" and conv.channel_wise and conv.read_out.mode == "time_to_first_spike"
    assert not ANNtoSNNConverter(coding="ttfs", channel_wise=False).channel_wise


def test_active_condition_skips_whole_steps():
    counter = Neuron(parameters="start = 2.0 : population\nstop = 5.0 : population",
                     equations="dv/dt = 1.0 : init=0.0", spike="v > -1.0", name="windowed",
                     active="t > start and t < stop")
    listener = Neuron(equations="heard = heard + g_exc : init=0.0", name="listener")
    net = annsnn.Network(batch_size=2, propagation="same_step")
    pop = net.create(3, counter)
    post = net.create(1, listener)
    net.connect(pop, post, weights=np.ones((3, 1)))
    pop.stop = np.array([5.0, 4.0])  # per item
    net.simulate(10)
    np.testing.assert_array_equal(pop.v, [[2.0] * 3, [1.0] * 3])  # steps t=3, 4 (item 1: t=3)
    np.testing.assert_array_equal(pop.spike_counts, [[2] * 3, [1] * 3])
    np.testing.assert_array_equal(post.heard, [[6.0], [3.0]])  # no stale spikes while inactive


def test_inputs_wait_for_an_inactive_population():
    """Spikes sent to a population before its active window are integrated on its first active step."""
    source = Neuron(equations="n = n + 1.0 : init=0.0", spike="n < 3.5", name="early")  # n = 1, 2, 3: steps 0, 1, 2
    late = Neuron(parameters="start = 4.0 : population", equations="total = total + g_exc : init=0.0",
                  name="late", active="t > start")
    net = annsnn.Network(batch_size=1, propagation="same_step")
    pre, post = net.create(2, source), net.create(1, late)
    net.connect(pre, post, weights=np.ones((2, 1)))
    net.simulate(4)
    assert post.total[0, 0] == 0.0 and post.g_exc[0, 0] == 6.0  # 3 steps x 2 neurons, held
    net.simulate(2)
    assert post.total[0, 0] == 6.0 and post.g_exc[0, 0] == 0.0


def test_active_survives_pickling_and_enters_the_generated_code():
    import pickle
    again = pickle.loads(pickle.dumps(models.TTFS))
    assert again == models.TTFS and again.spec.active is not None
    net = annsnn.Network(batch_size=1)
    net.create(2, models.TTFS)
    assert "not active this step" in "".join(net.generate().values())


def test_active_condition_must_be_population_level():
    with pytest.raises(EquationError, match="per neuron"):
        Neuron(parameters="w = 1.0", equations="dv/dt = w", active="w > 0", name="bad")
    with pytest.raises(EquationError, match="active"):
        Neuron(equations="dv/dt = 1", active="t +", name="bad2")
    with pytest.raises(EquationError, match="cannot be combined with output"):
        Neuron(equations="r = 1.0", output="r", active="t > 1", name="bad3")
    with pytest.raises(EquationError, match="expected text"):
        Neuron(equations="dv/dt = 1", active=3, name="bad4")
    assert models.TTFS.spec.active is not None
