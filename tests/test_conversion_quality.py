"""Conversion beyond the reference: IF_subtract, analog input, data/robust normalisation, biases,
BatchNorm folding, evaluate() with accuracy-versus-time and SynOps."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from annsnn import ANNtoSNNConverter, ConversionError  # noqa: E402
from annsnn.conversion.keras_graph import plan_layers  # noqa: E402
from annsnn.conversion.normalization import data_based_factors  # noqa: E402
from synthetic import blobs, train  # noqa: E402

L = keras.layers


@pytest.fixture(scope="module")
def biased_bn_mlp():
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    inputs = keras.Input(shape=(16,))
    h = L.Dense(12)(inputs)
    h = L.BatchNormalization()(h)
    h = L.ReLU()(h)
    outputs = L.Dense(4, activation="softmax")(h)
    model = keras.Model(inputs, outputs)
    x, _, x_test, y_test = train(model, blobs, rng, 800, 80, epochs=20, learning_rate=0.02)
    return model, x, x_test, y_test


def test_batch_norm_folding_matches_keras_layer_by_layer(biased_bn_mlp):
    model, x, _, _ = biased_bn_mlp
    plans = plan_layers(model)
    hidden = plans[1]
    assert hidden.folded == ("batch_normalization",) and hidden.bias is not None
    probe = keras.Model(model.inputs, [model.get_layer(hidden.output_layer).output, model.output])
    after_relu, out = probe.predict(x[:50], verbose=0)
    np.testing.assert_allclose(np.maximum(x[:50] @ hidden.weights + hidden.bias, 0), after_relu, rtol=1e-4,
                               atol=1e-5)
    logits = after_relu @ plans[2].weights + plans[2].bias
    np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), out, rtol=1e-4, atol=1e-6)


def test_conv_batch_norm_folding_matches_keras():
    keras.utils.set_random_seed(2)
    inputs = keras.Input(shape=(6, 6, 2))
    h = L.Conv2D(3, 3, padding="same")(inputs)
    bn = L.BatchNormalization()
    h = bn(h)
    model = keras.Model(inputs, L.Dense(2)(L.Flatten()(L.ReLU()(h))))
    bn.set_weights([np.array(v, np.float32) for v in ([1.5, 0.5, 2.0], [0.1, -0.2, 0.3], [0.05, -0.1, 0.2],
                                                      [0.5, 2.0, 1.0])])
    x = np.random.default_rng(0).uniform(0, 1, (4, 6, 6, 2)).astype(np.float32)
    conv_plan = plan_layers(model)[1]
    expected = keras.Model(model.inputs, model.get_layer(conv_plan.output_layer).output).predict(x, verbose=0)
    folded = keras.layers.Conv2D(3, 3, padding="same")
    folded.build((None, 6, 6, 2))
    folded.set_weights([conv_plan.weights, conv_plan.bias])
    np.testing.assert_allclose(np.maximum(np.asarray(folded(x)), 0), expected, rtol=1e-4, atol=1e-5)


def test_biases_enter_as_constant_current_scaled_with_the_weights(biased_bn_mlp):
    model, _, x_test, _ = biased_bn_mlp
    plans = plan_layers(model)
    linear = keras.Model(model.inputs, L.Dense(4)(model.inputs[0]))
    linear.layers[-1].set_weights([plans[1].weights[:, :4], plans[1].bias[:4]])
    conv = ANNtoSNNConverter(input_encoding="constant", read_out="membrane_potential", normalization=None)
    conv.load_keras_model(linear, show_info=False)
    steps = 30
    conv.predict(x_test[:5], steps, progress=False)
    w, b = plans[1].weights[:, :4], plans[1].bias[:4]
    # the bias arrives from step 0, the input one synaptic delay later
    np.testing.assert_allclose(conv.scores, (steps - 1) * (x_test[:5] @ w) + steps * b, rtol=1e-4, atol=1e-4)


def test_data_and_robust_factors_match_hand_computation():
    from types import SimpleNamespace as P
    plans = [P(name="in", kind="input", inputs=(), weights=None, ceiling=None),
             P(name="d1", kind="dense", inputs=("in",), weights=np.ones((2, 2)), ceiling=None),
             P(name="p", kind="pool", inputs=("d1",), weights=None, ceiling=None),
             P(name="d2", kind="dense", inputs=("p",), weights=np.ones((2, 2)), ceiling=None)]
    acts = [np.array([0.0, 0.5, 1.0]), np.array([0.0, 2.0, 4.0, 8.0]), np.array([1.0]), np.array([1.0, 3.0, 6.0])]
    weights, biases, lambdas = data_based_factors(plans, acts)
    assert weights == pytest.approx([1.0 / 8.0, 1.0, 8.0 / 6.0]) and biases == pytest.approx([1 / 8.0, 1.0, 1 / 6.0])
    assert lambdas == {"in": 1.0, "d1": 8.0, "p": 8.0, "d2": 6.0}
    weights, _, _ = data_based_factors(plans, acts, percentile=50)
    assert weights == pytest.approx([0.75 / 4.0, 1.0, 4.0 / 3.0])  # medians of the non-zero values
    # a QCFS-trained layer's ceiling replaces its percentile
    plans[1] = P(**dict(vars(plans[1]), ceiling=5.0))
    weights, _, lambdas = data_based_factors(plans, acts, percentile=50)
    assert lambdas["d1"] == 5.0 and weights == pytest.approx([0.75 / 5.0, 1.0, 5.0 / 3.0])


def test_subtract_reset_analog_input_and_robust_normalisation_agree(biased_bn_mlp):
    model, x, x_test, y_test = biased_bn_mlp
    conv = ANNtoSNNConverter(input_encoding="constant", hidden_neuron="IF_subtract", normalization="robust", seed=3)
    with pytest.raises(ConversionError, match="needs calibration_data"):
        conv.load_keras_model(model, show_info=False)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:200])
    assert [p.neuron.name for p in conv.populations] == ["Constant", "IF_subtract", "IF_subtract_ReadOut"]
    ann = model.predict(x_test, verbose=0).argmax(1)
    snn = np.array(conv.predict(x_test, 50, progress=False))
    assert (snn == ann).mean() >= 0.95


def test_evaluate_curve_and_synops(biased_bn_mlp):
    model, x, x_test, y_test = biased_bn_mlp
    conv = ANNtoSNNConverter(input_encoding="IB", hidden_neuron="IF_subtract", normalization="data", seed=4)
    net = conv.load_keras_model(model, show_info=False, calibration_data=x[:200])
    monitors = [net.monitor(p, ["spike"]) for p in conv.populations]
    result = conv.evaluate(x_test[:20], y_test[:20], 60)  # one batch: the monitors see every sample
    assert len(result.accuracy_curve) == 60 and all(0 <= a <= 1 for a in result.accuracy_curve)
    assert result.accuracy_curve[-1] >= result.accuracy_curve[0]
    # SynOps by hand: each spike of a pre neuron reaches every post neuron of a dense layer
    spikes = [m.spike_counts()[:20].sum() for m in monitors]
    assert result.synops_per_sample == pytest.approx(
        {conv.projections[0].name: spikes[0] * 12 / 20, conv.projections[1].name: spikes[1] * 4 / 20})
    assert result.macs_per_sample == {conv.projections[0].name: 16 * 12, conv.projections[1].name: 12 * 4}
    assert result.snn_energy_uj == pytest.approx(result.total_synops * 0.9e-6)
    assert "Horowitz" in str(result) and "pJ" in result.energy_assumption


def test_analog_input_is_counted_as_multiply_accumulates(biased_bn_mlp):
    """Analog input sends each non-zero value every step: non-zero inputs x fan-out x steps MACs, at
    the MAC's energy; the spiking layers' events stay accumulates."""
    model, x, x_test, y_test = biased_bn_mlp
    conv = ANNtoSNNConverter(input_encoding="constant", hidden_neuron="IF_subtract", normalization="robust", seed=4)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:200])
    samples = x_test[:20].copy()
    samples[:, :5] = 0.0  # some inputs silent
    result = conv.evaluate(samples, y_test[:20], 30, progress=False)
    first, second = (p.name for p in conv.projections)
    nonzero = (samples.reshape(20, -1) != 0).sum(axis=1).mean()
    assert result.snn_macs_per_sample[first] == pytest.approx(nonzero * 12 * 30)
    assert result.snn_macs_per_sample[second] == 0 and result.synops_per_sample[first] == 0
    assert result.snn_energy_uj == pytest.approx((result.total_synops * 0.9 + result.total_snn_macs * 4.6) * 1e-6)
    assert "SNN MACs/sample" in str(result)


def test_cumulative_counts_behind_the_curve_are_monotone(biased_bn_mlp):
    model, x, x_test, y_test = biased_bn_mlp
    conv = ANNtoSNNConverter(input_encoding="constant", hidden_neuron="IF_subtract", normalization="robust", seed=5)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:200])
    result = conv.evaluate(x_test[:40], y_test[:40], 100)
    curve = np.array(result.accuracy_curve)
    assert curve[0] <= 0.3, "at step 1 nothing has reached the output yet: chance level"
    assert curve[-1] >= 0.9 and abs(curve[-1] - result.accuracy) <= 0.05
    with pytest.raises(Exception, match="labels must be"):
        conv.evaluate(x_test[:4], y_test[:3], 10)


def test_bias_needs_a_neuron_that_carries_it(biased_bn_mlp):
    import annsnn
    plain = annsnn.Neuron(parameters="vt = 1 : population", equations="dv/dt = g_exc", spike="v > vt",
                          reset="v = 0", name="plain")
    with pytest.raises(ConversionError, match="no per-neuron 'bias'"):
        ANNtoSNNConverter(hidden_neuron=plain).load_keras_model(biased_bn_mlp[0], show_info=False)
