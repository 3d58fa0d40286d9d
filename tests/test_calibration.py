"""Calibration and low-latency methods, each against a hand computation on a tiny network:
init expressions (half-threshold start), same-step propagation, the model-scale search, bias
calibration, presets and the QCFS activation."""
import numpy as np
import pytest

import annsnn
from annsnn import EquationError, models

keras = pytest.importorskip("keras")

from annsnn import ANNtoSNNConverter, ConversionError  # noqa: E402
from annsnn.conversion.calibration import choose_model_scale  # noqa: E402
from annsnn.conversion.normalization import model_based_factors  # noqa: E402
from annsnn.qcfs import QCFS  # noqa: E402
from synthetic import blobs, train  # noqa: E402

L = keras.layers


@pytest.fixture(scope="module")
def biased_mlp():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    inputs = keras.Input(shape=(16,))
    h = L.Dense(24, activation="relu", name="h1")(inputs)
    h = L.Dense(12, activation="relu", name="h2")(h)
    model = keras.Model(inputs, L.Dense(4, activation="softmax", name="out")(h))
    x, _, x_test, y_test = train(model, blobs, rng, 800, 200, epochs=20, learning_rate=0.02)
    return model, x, x_test, y_test


# -- init= expressions: where a variable starts is a parameter (half threshold) ------------------------
def test_init_expression_of_parameters_sets_start_per_neuron():
    neuron = annsnn.Neuron(parameters="vt = 1.0 : population\nv0 = 0.0 : population\nscale = 1.0",
                           equations="dv/dt = g_exc : init = v0 * vt + scale", name="StartsAtV0")
    net = annsnn.Network(batch_size=2)
    pop = net.create(3, neuron)
    pop.vt, pop.v0, pop.scale = 2.0, 0.25, np.array([0.0, 1.0, 2.0])
    net.reset()
    np.testing.assert_array_equal(pop.v, [[0.5, 1.5, 2.5]] * 2)


@pytest.mark.parametrize("init, symbol", [("u", "u"), ("g_exc", "g_exc"), ("Uniform(0, 1)", None)])
def test_init_expression_refuses_variables_inputs_and_randomness(init, symbol):
    with pytest.raises(EquationError) as info:
        annsnn.Neuron(parameters="vt = 1.0", equations=f"du/dt = 0\ndv/dt = g_exc : init={init}", name="Bad")
    assert info.value.line == 2 and "init of 'v'" in str(info.value)
    if symbol:
        assert info.value.symbol == symbol


def test_half_threshold_start_by_hand():
    """IF_subtract, threshold 1, input 0.25 per step (exact in binary): from v0 = 0.5 it fires at steps
    3 and 7, from 0 at steps 5 and 9 (v after step t is v0 + t / 4 minus one per spike; v > 1 fires)."""
    def spike_steps(v0):
        net = annsnn.Network(batch_size=1)
        pop = net.create(1, models.IF_subtract)
        pop.bias, pop.v0 = 0.25, v0
        net.reset()
        monitor = net.monitor(pop, ["spike"])
        net.simulate(10)
        return (np.flatnonzero(monitor.spike_raster()[:, 0, 0]) + 1).tolist()

    def by_hand(v0):
        v, steps = v0, []
        for t in range(1, 11):
            v += 0.25
            if v > 1.0:
                v -= 1.0
                steps.append(t)
        return steps

    assert spike_steps(0.5) == by_hand(0.5) == [3, 7]
    assert spike_steps(0.0) == by_hand(0.0) == [5, 9]


def test_converter_initial_potential_starts_hidden_membranes_at_half_threshold(biased_mlp):
    model, x, _, _ = biased_mlp
    conv = ANNtoSNNConverter(input_encoding="constant", hidden_neuron="IF_subtract", normalization="robust",
                             initial_potential=0.5)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:200])
    for pop in conv.populations[1:]:
        np.testing.assert_array_equal(pop.v, 0.5 * pop.vt[0])
    with pytest.raises(ConversionError, match="initial_potential"):
        ANNtoSNNConverter(initial_potential=1.5)


# -- same-step propagation ------------------------------------------------------------------------------
@pytest.mark.parametrize("propagation, first_spikes", [("next_step", [1, 2, 3]), ("same_step", [1, 1, 1])])
def test_same_step_propagation_by_hand(propagation, first_spikes):
    """A chain input -> a -> b with weights 2: each spike drives the next neuron over threshold at once.
    With one step of delay per projection the chain answers at steps 1, 2, 3; without, all at step 1."""
    net = annsnn.Network(batch_size=1, propagation=propagation)
    source = net.create(1, models.IF_subtract, name="source")
    a = net.create(1, models.IF_subtract, name="a")
    b = net.create(1, models.IF_subtract, name="b")
    source.bias = 1.5
    net.connect(source, a, "exc", np.full((1, 1), 2.0, np.float32))
    net.connect(a, b, "exc", np.full((1, 1), 2.0, np.float32))
    monitors = [net.monitor(p, ["spike"]) for p in (source, a, b)]
    net.simulate(4)
    firsts = [int(np.flatnonzero(m.spike_raster()[:, 0, 0])[0]) + 1 for m in monitors]
    assert firsts == first_spikes


def test_same_step_keeps_a_step_of_delay_for_recurrent_projections():
    """b -> a goes backwards in creation order, so it is delivered a step later, as before."""
    net = annsnn.Network(batch_size=1, propagation="same_step")
    a = net.create(1, models.IF_subtract, name="a")
    b = net.create(1, models.IF_subtract, name="b")
    b.bias = 1.5
    net.connect(b, a, "exc", np.full((1, 1), 2.0, np.float32))
    monitor = net.monitor(a, ["spike"])
    net.simulate(3)
    assert int(np.flatnonzero(monitor.spike_raster()[:, 0, 0])[0]) + 1 == 2
    with pytest.raises(annsnn.NetworkError, match="propagation"):
        annsnn.Network(propagation="instant")


# -- model-based scale chosen on calibration data -----------------------------------------------------
def test_model_mode_without_calibration_runs_the_keras_weights(biased_mlp):
    model, _, _, _ = biased_mlp
    conv = ANNtoSNNConverter()
    conv.load_keras_model(model, show_info=False)
    np.testing.assert_array_equal(conv.projections[0].w, model.layers[1].get_weights()[0])


def test_model_scale_search_keeps_the_best_candidate(biased_mlp):
    model, x, _, _ = biased_mlp
    conv = ANNtoSNNConverter(input_encoding="IB", seed=3)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:120], calibration_duration=60)
    scores, scale, gain = (conv.calibration[k] for k in ("scale_agreement", "model_scale", "raw_weight_gain"))
    assert (scale is None) != (gain is None)  # one family won
    label = f"{scale:.3g}" if gain is None else "raw weights" if gain == 1.0 else f"raw x {gain:.3g}"
    assert scores[label] == max(scores.values())
    weights = [p.weights for p in conv.plans[1:]]
    expected = [gain] * 3 if scale is None else model_based_factors(weights, scale)
    assert conv.factors == pytest.approx(expected)
    np.testing.assert_allclose(conv.projections[0].w, conv.plans[1].weights * conv.factors[0], rtol=1e-6)
    # the search is reproducible: a second converter chooses the same
    again = ANNtoSNNConverter(input_encoding="IB", seed=3)
    again.load_keras_model(model, show_info=False, calibration_data=x[:120], calibration_duration=60)
    assert (again.calibration["model_scale"], again.calibration["raw_weight_gain"]) == (scale, gain)


def _fake_agreement(monkeypatch, model_table, raw_table):
    """Agreement looked up per candidate instead of simulated: the factors carry the candidate (a
    model-based scale s as [s, s, s], a raw-weight gain g as [-g, -g, -g])."""
    from annsnn.conversion import calibration
    monkeypatch.setattr(calibration, "_scale_factors", lambda conv, scaling: [
        scaling.value if scaling.family == "model" else -scaling.value] * 3)

    def agreement(conv, x, duration, ref):
        value = conv.factors[0]
        return model_table(value) if value > 0 else raw_table(-value)
    monkeypatch.setattr(calibration, "agreement", agreement)


def test_model_scale_search_prefers_the_middle_of_a_plateau(biased_mlp, monkeypatch):
    """Agreement 0.9 for every scale from 2 to 16: the middle of that plateau wins; a raw-weight gain
    wins only when strictly better than the model-based choice."""
    model, x, _, _ = biased_mlp
    conv = ANNtoSNNConverter(input_encoding="IB")
    conv.load_keras_model(model, show_info=False)
    raw = {"agreement": 0.5}
    _fake_agreement(monkeypatch, lambda s: 0.9 if 2 <= s <= 16 else 0.1, lambda g: raw["agreement"])
    chosen, scores = choose_model_scale(conv, x[:10], np.zeros(10, np.int64), 10)
    # the coarse best is 2 (the first of the plateau), refined at 1.41 and 2.83
    assert {k for k in scores if not k.startswith("raw")} == {"1", "2", "4", "8", "16", "32", "64", "1.41", "2.83"}
    assert (chosen.family, chosen.value) == ("model", 4.0)  # the middle of 2, 2.83, 4, 8, 16
    raw["agreement"] = 0.9
    assert choose_model_scale(conv, x[:10], np.zeros(10, np.int64), 10)[0].family == "model"  # a tie
    raw["agreement"] = 0.95
    assert choose_model_scale(conv, x[:10], np.zeros(10, np.int64), 10)[0].family == "raw"


def test_raw_weight_gain_search_refines_around_the_best_coarse_gain(biased_mlp, monkeypatch):
    """Gains 1/8 ... 2 are tried, then sqrt(2) either side of the best; agreement peaks at 0.35 here
    (the coarse best is 1/4, just nearer than 1/2), so the refinement around 1/4 finds 1/(2 sqrt 2)."""
    model, x, _, _ = biased_mlp
    conv = ANNtoSNNConverter(input_encoding="IB")
    conv.load_keras_model(model, show_info=False)
    _fake_agreement(monkeypatch, lambda s: 0.1, lambda g: 1.0 - abs(np.log2(g / 0.35)) / 10)
    chosen, scores = choose_model_scale(conv, x[:10], np.zeros(10, np.int64), 10)
    assert {k for k in scores if k.startswith("raw")} == {
        "raw x 0.125", "raw x 0.25", "raw x 0.5", "raw weights", "raw x 2", "raw x 0.177", "raw x 0.354"}
    assert (chosen.family, chosen.value) == ("raw", pytest.approx(2 ** -1.5))
    assert conv.factors == pytest.approx([-(2 ** -1.5)] * 3)  # conv is left built with the choice


def test_raw_weight_gain_scales_the_keras_weights(biased_mlp):
    """The chosen gain multiplies every layer's Keras weights, nothing else."""
    from annsnn.conversion.calibration import WeightScaling, _scale_factors
    model, x, _, _ = biased_mlp
    conv = ANNtoSNNConverter(input_encoding="IB")
    conv.load_keras_model(model, show_info=False)
    assert _scale_factors(conv, WeightScaling("raw", 0.5)) == [0.5, 0.5, 0.5]
    assert WeightScaling("raw", 1.0).label == "raw weights"


# -- bias calibration (Li et al. 2021) -----------------------------------------------------------------
def _channel_gaps(conv, x, activations, duration):
    gaps = {}
    for pop in conv.populations[1:]:
        plan = next(p for p in conv.plans if p.name == pop.name)
        if not pop.spec.spiking:
            continue
        act = activations[[p.name for p in conv.plans].index(plan.name)]
        target = np.clip(act / conv.lambdas[plan.name], 0, 1).mean(axis=0)
        gaps[plan.name] = np.abs(target - conv.layer_rates(x, duration, pop).mean(axis=0)).mean()
    return gaps


def test_bias_calibration_moves_each_layer_rate_toward_the_ann(biased_mlp):
    from annsnn.conversion.converter import calibration_activations
    model, x, _, _ = biased_mlp
    cal = x[:300]
    options = dict(input_encoding="constant", hidden_neuron="IF_subtract", normalization="robust", seed=2)
    plain = ANNtoSNNConverter(**options)
    plain.load_keras_model(model, show_info=False, calibration_data=cal)
    calibrated = ANNtoSNNConverter(calibrate_bias=True, **options)
    calibrated.load_keras_model(model, show_info=False, calibration_data=cal, calibration_duration=8)
    activations = calibration_activations(model, plain.plans, cal)
    before, after = _channel_gaps(plain, cal, activations, 8), _channel_gaps(calibrated, cal, activations, 8)
    assert set(before) == set(calibrated.bias_corrections) == {"h1", "h2", "out"}
    for name in before:
        assert after[name] < before[name], (name, before[name], after[name])
    # the correction is what the converter adds to the bias current of each neuron
    hidden = calibrated.populations[1]
    np.testing.assert_allclose(hidden.bias[0], plain.populations[1].bias[0] + calibrated.bias_corrections["h1"],
                               rtol=1e-5, atol=1e-6)


def test_bias_calibration_needs_data_and_a_data_normalisation(biased_mlp):
    model, x, _, _ = biased_mlp
    with pytest.raises(ConversionError, match="calibration_data"):
        ANNtoSNNConverter(preset="annsnn").load_keras_model(model, show_info=False)
    with pytest.raises(ConversionError, match="normalization 'data' or 'robust'"):
        ANNtoSNNConverter(calibrate_bias=True)  # refused before any work is done
    with pytest.raises(ConversionError, match="'v0'"):
        ANNtoSNNConverter(initial_potential=0.5, hidden_neuron=annsnn.Neuron(
            parameters="vt = 1.0 : population", equations="dv/dt = g_exc", spike="v > vt", reset="v = 0",
            name="NoStart"))


def test_bias_calibration_with_a_spiking_encoding_targets_the_encoding_rate(biased_mlp):
    """With CPN input every rate runs at the encoding's gain (about 0.1): calibration must aim there."""
    from annsnn.conversion.converter import calibration_activations
    model, x, _, _ = biased_mlp
    cal = x[:200]
    options = dict(input_encoding="CPN", hidden_neuron="IF_subtract", normalization="robust", seed=2)
    plain = ANNtoSNNConverter(**options)
    plain.load_keras_model(model, show_info=False, calibration_data=cal)
    calibrated = ANNtoSNNConverter(calibrate_bias=True, **options)
    calibrated.load_keras_model(model, show_info=False, calibration_data=cal, calibration_duration=64)
    gain = calibrated.bias_gain
    activations = calibration_activations(model, plain.plans, cal)
    hidden = calibrated.populations[1]
    target = np.clip(gain * activations[1] / calibrated.lambdas["h1"], 0, 1).mean()
    before = abs(target - plain.layer_rates(cal, 64, plain.populations[1]).mean())
    after = abs(target - calibrated.layer_rates(cal, 64, hidden).mean())
    assert after < before


# -- presets ---------------------------------------------------------------------------------------------
def test_presets_and_explicit_overrides():
    conv = ANNtoSNNConverter(preset="annsnn")
    assert (conv.options["input_encoding"], conv.options["hidden_neuron"], conv.options["read_out"],
            conv.options["normalization"], conv.initial_potential, conv.calibrate_bias, conv.propagation) == (
        "constant", "IF_signed", "membrane_potential", "robust", 0.5, True, "same_step")
    assert conv.max_pool == "count" and ANNtoSNNConverter().max_pool == "winner"
    assert conv.fold_mean_pool and not ANNtoSNNConverter().fold_mean_pool
    override = ANNtoSNNConverter(preset="annsnn", calibrate_bias=False, initial_potential=0.0)
    assert (override.calibrate_bias, override.initial_potential) == (False, 0.0)
    reference = ANNtoSNNConverter()
    assert (reference.options["input_encoding"], reference.options["normalization"], reference.calibrate_bias,
            reference.propagation) == ("CPN", "model", False, "next_step")
    with pytest.raises(ConversionError, match="unknown preset"):
        ANNtoSNNConverter(preset="fast")


def test_recommended_preset_follows_the_ann_at_short_durations(biased_mlp):
    model, x, x_test, y_test = biased_mlp
    ann = model.predict(x_test, verbose=0).argmax(1)
    conv = ANNtoSNNConverter(preset="annsnn", seed=1)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:300])
    assert (np.asarray(conv.predict(x_test, 16, progress=False)) == ann).mean() >= 0.97


def test_a_run_far_from_the_calibration_duration_says_how_to_calibrate_for_it(biased_mlp, caplog):
    model, x, x_test, _ = biased_mlp
    conv = ANNtoSNNConverter(preset="annsnn", seed=1)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:100], calibration_duration=16)
    with caplog.at_level("INFO", logger="annsnn.conversion"):
        conv.predict(x_test[:4], 24, progress=False)
        assert "calibration_duration" not in caplog.text  # within a factor of two
        conv.predict(x_test[:4], 64, progress=False)
    assert "bias calibration ran 16 steps per sample and this run 64" in caplog.text
    assert "calibration_duration=64" in caplog.text
    # the reference's scale search (its choice of scaling and trace depends on the duration) says so too
    reference = ANNtoSNNConverter(input_encoding="IB", seed=1)
    reference.load_keras_model(model, show_info=False, calibration_data=x[:20], calibration_duration=20)
    caplog.clear()
    with caplog.at_level("INFO", logger="annsnn.conversion"):
        reference.predict(x_test[:4], 100, progress=False)
    assert "the scale search ran 20 steps per sample and this run 100" in caplog.text


# -- QCFS ------------------------------------------------------------------------------------------------
def test_qcfs_forward_and_gradient_by_hand():
    import tensorflow as tf
    layer = QCFS(levels=4, initial_ceiling=2.0)
    x = tf.constant([[-1.0, 0.2, 0.3, 0.8, 1.9, 3.0]])
    with tf.GradientTape() as tape:
        y = layer(x)
        loss = tf.reduce_sum(y)
    # 2 * clip(floor(x * 4 / 2 + 0.5) / 4, 0, 1)
    np.testing.assert_allclose(y.numpy(), [[0.0, 0.0, 0.5, 1.0, 2.0, 2.0]], atol=1e-6)
    (grad,) = tape.gradient(loss, [layer.ceiling])
    # straight-through floor: d/dc [c * clip(x / c)] + the quantisation residual q - x / c in range;
    # -0.1 + 0.1 + 0.1 + 0.05 for 0.2, 0.3, 0.8, 1.9 and 1 for the clipped 3.0 (as Bu et al.'s code)
    assert float(grad) == pytest.approx(1.15, abs=1e-5)


@pytest.fixture(scope="module")
def qcfs_mlp(tmp_path_factory):
    keras.utils.set_random_seed(4)
    rng = np.random.default_rng(4)
    inputs = keras.Input(shape=(16,))
    h = QCFS(levels=4, name="q1")(L.Dense(24, name="d1")(inputs))
    h = QCFS(levels=4, name="q2")(L.Dense(12, name="d2")(h))
    model = keras.Model(inputs, L.Dense(4, activation="softmax")(h))
    x, _, x_test, y_test = train(model, blobs, rng, 800, 200, epochs=20, learning_rate=0.02)
    path = tmp_path_factory.mktemp("qcfs") / "qcfs.keras"
    model.save(path)
    return path, model, x, x_test


def test_converter_uses_the_trained_qcfs_ceiling_and_half_threshold_start(qcfs_mlp):
    path, model, x, x_test = qcfs_mlp
    conv = ANNtoSNNConverter(input_encoding="constant", hidden_neuron="IF_subtract", normalization="robust")
    conv.load_keras_model(str(path), show_info=False, calibration_data=x[:200])  # a saved file loads too
    ceilings = {layer.name: float(layer.ceiling.numpy()) for layer in model.layers if isinstance(layer, QCFS)}
    by_name = {p.name: p for p in conv.plans}
    assert [by_name["d1"].ceiling, by_name["d2"].ceiling] == pytest.approx([ceilings["q1"], ceilings["q2"]])
    assert [conv.lambdas["d1"], conv.lambdas["d2"]] == pytest.approx([ceilings["q1"], ceilings["q2"]])
    for pop in conv.populations[1:3]:
        np.testing.assert_array_equal(pop.v, 0.5 * pop.vt[0])
    ann = model.predict(x_test, verbose=0).argmax(1)
    snn = ANNtoSNNConverter(preset="annsnn", seed=1)
    snn.load_keras_model(str(path), show_info=False, calibration_data=x[:200])
    assert (np.asarray(snn.predict(x_test, 8, progress=False)) == ann).mean() >= 0.97


def test_qcfs_refused_where_it_cannot_convert():
    inputs = keras.Input(shape=(4,))
    model = keras.Model(inputs, QCFS(name="last_q")(L.Dense(3)(inputs)))
    with pytest.raises(ConversionError, match="last_q"):
        ANNtoSNNConverter().load_keras_model(model, show_info=False)
    with pytest.raises(ValueError, match="levels"):
        QCFS(levels=0)


# -- biases follow the input encoding's rate --------------------------------------------------------------
def test_encoding_gain_by_hand():
    from annsnn.conversion.calibration import encoding_gain
    assert encoding_gain(models.Constant, 1.0, seed=1) == 1.0  # analog input: the value itself each step
    # Poisson at max_f = 100 Hz, dt = 1 ms: 0.1 spikes per step per unit of input (1000 steps x 21 levels)
    assert encoding_gain(models.Poisson, 100.0, seed=1) == pytest.approx(0.1, abs=0.005)
    regular = annsnn.Neuron(parameters="rates = 0.0", equations="dv/dt = rates / 1000.0 : init=0.0",
                            spike="v >= 1.0", reset="v -= 1.0", name="Regular")
    # a regular encoding fires floor(steps * rate / 1000) times: 200 Hz gives 0.2 per unit
    assert encoding_gain(regular, 200.0, seed=1) == pytest.approx(0.2, abs=0.002)


def test_biases_are_scaled_by_the_encoding_gain(biased_mlp):
    model, _, _, _ = biased_mlp
    conv = ANNtoSNNConverter(input_encoding="CPN", seed=1)
    conv.load_keras_model(model, show_info=False)
    gain = conv.calibration["encoding_gain"]
    assert gain == pytest.approx(0.1, abs=0.005)
    np.testing.assert_allclose(conv.populations[1].bias[0], model.get_layer("h1").get_weights()[1] * gain, rtol=1e-5)


# -- channel-wise normalisation (Kim et al. 2020) ------------------------------------------------------
def test_channel_wise_factors_by_hand(biased_mlp):
    from annsnn.conversion.converter import calibration_activations
    model, x, _, _ = biased_mlp
    cal = x[:200]
    conv = ANNtoSNNConverter(input_encoding="constant", hidden_neuron="IF_subtract", normalization="data",
                             channel_wise=True, seed=2)
    conv.load_keras_model(model, show_info=False, calibration_data=cal)
    h1, h2, out = (calibration_activations(model, conv.plans, cal)[k] for k in (1, 2, 3))
    lam_in = float(cal.max())
    # one per neuron (a Dense layer's channels); a neuron never active keeps its layer's
    lam_h1, lam_h2 = (np.where(a.max(axis=0) > 0, a.max(axis=0), a.max()) for a in (h1, h2))
    lam_out = float(out[out > 0].max())               # the output layer keeps one: classes compete
    np.testing.assert_allclose(conv.lambdas["h1"], lam_h1, rtol=1e-5)
    assert np.ndim(conv.lambdas["out"]) == 0 and conv.lambdas["out"] == pytest.approx(lam_out, rel=1e-5)
    (w1, b1), (w2, b2), (w3, b3) = (model.get_layer(n).get_weights() for n in ("h1", "h2", "out"))
    expected = [w1 * lam_in / lam_h1[None, :], w2 * lam_h1[:, None] / lam_h2[None, :], w3 * lam_h2[:, None] / lam_out]
    for projection, weights in zip(conv.projections, expected):
        np.testing.assert_allclose(projection.w, weights, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(conv.populations[1].bias[0], b1 / lam_h1, rtol=1e-5)
    np.testing.assert_allclose(conv.populations[3].bias[0], b3 / lam_out, rtol=1e-5)
    # every hidden channel's largest calibration activation now maps to one spike per step
    for activation, lam in ((h1, lam_h1), (h2, lam_h2)):
        active = activation.max(axis=0) > 0
        np.testing.assert_allclose((activation / lam).max(axis=0)[active], 1.0, rtol=1e-5)


def test_channel_wise_needs_a_data_normalisation():
    with pytest.raises(ConversionError, match="channel_wise needs normalization"):
        ANNtoSNNConverter(normalization="model", channel_wise=True)


# -- potential calibration: the gap split into a steady bias and a start charge ------------------------
def test_potential_calibration_splits_the_gap_by_hand(biased_mlp, monkeypatch):
    """With SNN rates that fall short of the ANN's by steady + charge / T, the fit returns exactly
    that steady part as the bias correction and that charge as the start potential."""
    from annsnn.conversion.calibration import calibrate_biases
    from annsnn.conversion.converter import calibration_activations
    model, x, _, _ = biased_mlp
    cal = x[:50]
    # targets are clipped at one spike per step, as fake_rates assumes
    conv = ANNtoSNNConverter(preset="annsnn", hidden_neuron="IF_subtract", calibrate_bias=False, seed=2)
    conv.load_keras_model(model, show_info=False, calibration_data=cal)
    activations = calibration_activations(model, conv.plans, cal)
    names = [p.name for p in conv.plans]
    steady = {name: np.linspace(-0.05, 0.1, conv.plans[names.index(name)].shape[-1]) for name in ("h1", "h2", "out")}
    charge = {name: np.linspace(0.8, -0.3, conv.plans[names.index(name)].shape[-1]) for name in ("h1", "h2", "out")}

    def fake_rates(x_, steps, population):
        plan = conv.plans[names.index(population.name)]
        target = np.clip(activations[names.index(plan.name)] / conv.lambdas[plan.name], 0, 1)
        return target - (steady[plan.name] + charge[plan.name] / steps)

    monkeypatch.setattr(conv, "layer_rates", fake_rates)
    v0_before = {p.name: p.v0[0].copy() for p in conv.populations[1:] if "v0" in p.attributes()}
    biases, potentials = calibrate_biases(conv, cal, activations, 8, bias=True, potential=True)
    for name in ("h1", "h2"):  # the output accumulator has no v0 to charge
        np.testing.assert_allclose(biases[name], steady[name], atol=1e-5)
        np.testing.assert_allclose(potentials[name], charge[name], atol=1e-4)
        population = conv.network.get_population(name)
        np.testing.assert_allclose(population.v0[0], v0_before[name] + charge[name], atol=1e-4)
    # only the start potential: the whole gap at the calibration duration becomes a charge
    monkeypatch.setattr(conv, "layer_rates", fake_rates)
    conv.rebuild()
    biases, potentials = calibrate_biases(conv, cal, activations, 8, bias=False, potential=True)
    assert biases == {}
    np.testing.assert_allclose(potentials["h1"], 8 * steady["h1"] + charge["h1"], atol=1e-4)


def test_potential_calibration_follows_the_ann_at_both_durations(biased_mlp):
    from annsnn.conversion.converter import calibration_activations
    model, x, _, _ = biased_mlp
    cal = x[:300]
    options = dict(preset="annsnn", seed=2)
    bias_only = ANNtoSNNConverter(**options)
    bias_only.load_keras_model(model, show_info=False, calibration_data=cal, calibration_duration=8)
    both = ANNtoSNNConverter(calibrate_potential=True, **options)
    both.load_keras_model(model, show_info=False, calibration_data=cal, calibration_duration=8)
    assert set(both.potential_corrections) == {"h1", "h2"} and both.calibration["potential_corrections"]
    activations = calibration_activations(model, both.plans, cal)
    # the long run is where a bias fitted to a short one over-drives
    long_gap = lambda conv: sum(_channel_gaps(conv, cal, activations, 32).values())  # noqa: E731
    assert long_gap(both) <= long_gap(bias_only) * 1.05
    with pytest.raises(ConversionError, match="calibrate_potential needs normalization"):
        ANNtoSNNConverter(calibrate_potential=True)


def test_preset_channel_scales_step_aside_for_model_normalisation(biased_mlp):
    model, x, _, _ = biased_mlp
    conv = ANNtoSNNConverter(preset="annsnn", normalization="model", calibrate_bias=False, seed=2)
    assert conv.channel_wise is False
    conv.load_keras_model(model, show_info=False)
    assert all(np.ndim(f) == 0 for f in conv.factors)
    with pytest.raises(ConversionError, match="channel_wise=False"):
        ANNtoSNNConverter(preset="annsnn", normalization="model", calibrate_bias=False, channel_wise=True)


def test_hidden_neuron_with_a_shared_start_potential(biased_mlp):
    """A user's neuron may keep v0 per population: the half-threshold start still applies; potential
    calibration, which needs one start per channel, is refused up front."""
    model, x, x_test, _ = biased_mlp
    shared = annsnn.Neuron(parameters="vt = 1.0 : population\nv0 = 0.0 : population\nbias = 0.0",
                           equations="dv/dt = g_exc + bias : init=v0", spike="v > vt", reset="v -= vt",
                           name="SharedStart")
    conv = ANNtoSNNConverter(preset="annsnn", hidden_neuron=shared, seed=2)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:100])
    assert conv.populations[1].v0.shape == (conv.batch_size,) and conv.populations[1].v0[0] == 0.5
    assert len(conv.predict(x_test[:10], 16, progress=False)) == 10
    with pytest.raises(ConversionError, match="per-neuron 'v0'"):
        ANNtoSNNConverter(preset="annsnn", hidden_neuron=shared, calibrate_potential=True)
