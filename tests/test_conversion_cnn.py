"""Converting convolutional Keras models: structure, normalisation, agreement, unsupported options."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from annsnn import ANNtoSNNConverter, ConversionError  # noqa: E402
from annsnn.conversion.normalization import max_positive_input  # noqa: E402

from synthetic import bars, train  # noqa: E402

L = keras.layers


@pytest.fixture(scope="module")
def trained_cnn():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    inputs = keras.Input(shape=(8, 8, 1))
    h = L.Conv2D(6, 3, padding="same", use_bias=False, activation="relu")(inputs)
    h = L.MaxPooling2D(2)(h)
    h = L.Conv2D(8, 3, padding="valid", use_bias=False)(h)
    h = L.ReLU()(h)
    h = L.AveragePooling2D(2, strides=1)(h)
    h = L.Flatten()(h)
    outputs = L.Dense(3, use_bias=False, activation="softmax")(L.Dropout(0.2)(h))
    model = keras.Model(inputs, outputs)
    _, _, x_test, y_test = train(model, bars, rng, 600, 60, epochs=15, learning_rate=0.01)
    return model, x_test, y_test


def test_structure_and_normalised_kernels(trained_cnn):
    model, _, _ = trained_cnn
    conv = ANNtoSNNConverter(input_encoding="IB")
    net = conv.load_keras_model(model, show_info=False, scale_factor=[2.0, 3.0, 4.0, 5.0, 6.0])
    kinds = [type(p).__name__ for p in net.projections]
    assert kinds == ["ConvolutionProjection", "PoolingProjection", "ConvolutionProjection", "PoolingProjection",
                     "DenseProjection"]
    assert [p.geometry for p in net.populations] == [(8, 8, 1), (8, 8, 6), (4, 4, 6), (2, 2, 8), (1, 1, 8), (3,)]
    kernels = [l.get_weights()[0] for l in model.layers if isinstance(l, (L.Conv2D, L.Dense))]
    # reference scales 2, 3, 4, 5, 6 over conv, pool, conv, pool, dense; pools keep factor 1
    expected = [2 / max_positive_input(kernels[0]), 1.0, 4 / max_positive_input(kernels[1]), 1.0,
                6 / max_positive_input(kernels[2])]
    assert conv.factors == pytest.approx(expected)
    np.testing.assert_allclose(net.projections[0].w, kernels[0] * expected[0], rtol=1e-6)
    np.testing.assert_allclose(net.projections[2].w, kernels[1] * expected[2], rtol=1e-6)
    np.testing.assert_allclose(net.projections[4].w, kernels[2] * expected[4], rtol=1e-6)


@pytest.mark.parametrize("encoding", ["IB", "PSO"])
def test_spiking_cnn_agrees_with_the_ann(trained_cnn, encoding):
    model, x, y = trained_cnn
    conv = ANNtoSNNConverter(input_encoding=encoding, seed=1)
    conv.load_keras_model(model, show_info=False, scale_factor=6.0)
    predictions = np.array(conv.predict(x, duration_per_sample=200, progress=False))
    assert (predictions == y).mean() >= 0.9
    # synaptic events by hand from the last batch's spike counts: border neurons of a 'same' convolution
    # reach fewer post neurons, so the convolution's count is not spikes times a constant
    last = len(x) - (len(x) - 1) // conv.network.batch_size * conv.network.batch_size
    for k, proj in enumerate(conv.projections):
        by_hand = proj.pre.spike_counts[:last] @ proj.fan_out()
        np.testing.assert_array_equal(conv.synaptic_events[-last:, k], by_hand)
    assert len(set(conv.projections[0].fan_out())) > 1 and conv.synaptic_events[:, 0].sum() > 0


def test_conv_trace_feeds_convolution_and_pooling_the_spike_trace(trained_cnn):
    """conv_trace=True (ANNarchy's converter): populations read by a convolution or pooling keep a spike
    trace and those projections send it every step; the Dense read-out still receives spikes."""
    model, x, y = trained_cnn
    conv = ANNtoSNNConverter(input_encoding="IB", conv_trace=True, seed=1)
    net = conv.load_keras_model(model, show_info=False, scale_factor=6.0)
    assert [p.graded for p in net.projections] == ["mask"] * 4 + [None]
    # the last pooling layer feeds the Dense layer: no trace needed there
    assert [p.neuron.name for p in net.populations[:5]] == ["IB_trace"] + ["IaF_trace"] * 3 + ["IaF"]
    predictions = np.array(conv.predict(x, duration_per_sample=200, progress=False))
    assert (predictions == y).mean() >= 0.9
    result = conv.evaluate(x[:8], y[:8], 50, progress=False)
    assert result.synops_per_sample[net.projections[0].name] == 0  # traces are sent, not events
    assert result.snn_macs_per_sample[net.projections[0].name] > 0


def test_reference_calibration_decides_between_spikes_and_the_trace(trained_cnn, monkeypatch):
    """The reference preset's conv_trace="calibrate": with calibration data the scale search runs for
    spikes and for the trace; the trace wins only when strictly better, and the choice is what a
    rebuild from the recipe uses."""
    from annsnn.conversion import calibration
    model, x, _ = trained_cnn
    # agreement looked up, not simulated: 0.8 with spikes, 0.9 with the trace at raw gain 1/2 only
    monkeypatch.setattr(calibration, "agreement", lambda conv, x, duration, ref: 0.9 if conv.conv_trace and
                        conv.factors[0] == 0.5 else 0.8)
    conv = ANNtoSNNConverter(input_encoding="IB", seed=1)
    assert (conv.conv_trace_search, conv.conv_trace) == (True, False)  # spikes until calibration decides
    conv.load_keras_model(model, show_info=False, calibration_data=x[:20], calibration_duration=20)
    scores = conv.calibration["scale_agreement"]
    assert {"raw x 0.5", "raw x 0.5 + trace", "4 + trace"} <= set(scores) and scores["raw x 0.5 + trace"] == 0.9
    assert (conv.calibration["raw_weight_gain"], conv.calibration["conv_trace"]) == (0.5, True)
    assert [p.graded for p in conv.projections] == ["mask"] * 4 + [None]  # built with the choice
    assert conv.recipe().options["conv_trace"] is True
    # a tie keeps the spikes (faster)
    monkeypatch.setattr(calibration, "agreement", lambda conv, x, duration, ref: 0.8)
    tie = ANNtoSNNConverter(input_encoding="IB", seed=1)
    tie.load_keras_model(model, show_info=False, calibration_data=x[:20], calibration_duration=20)
    assert tie.calibration["conv_trace"] is False and [p.graded for p in tie.projections] == [None] * 5


def test_the_trace_choice_is_made_again_per_load_and_skips_analog_input(trained_cnn, monkeypatch):
    from annsnn.conversion import calibration
    from annsnn.nir_export import network_to_nir
    model, x, _ = trained_cnn
    monkeypatch.setattr(calibration, "agreement", lambda conv, x, duration, ref: 0.9 if conv.conv_trace else 0.8)
    conv = ANNtoSNNConverter(input_encoding="IB", seed=1)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:20], calibration_duration=20)
    assert conv.calibration["conv_trace"] is True
    pytest.importorskip("nir")
    with pytest.raises(ConversionError, match="ANNarchy's spike trace"):
        network_to_nir(conv.network)
    # loaded again without calibration data: spikes, as a fresh converter would
    conv.load_keras_model(model, show_info=False)
    assert "conv_trace" not in conv.calibration and [p.graded for p in conv.projections] == [None] * 5
    assert conv.recipe().options["conv_trace"] == "calibrate"
    # analog input is a value every step already: only the spiking layers read by a convolution get a trace
    analog = ANNtoSNNConverter(input_encoding="constant", seed=1)
    analog.load_keras_model(model, show_info=False, calibration_data=x[:20], calibration_duration=20)
    assert analog.calibration["conv_trace"] is True
    assert [p.graded for p in analog.projections] == ["r"] + ["mask"] * 3 + [None]


def test_conv_trace_values_and_the_search_outside_model_normalisation():
    assert not ANNtoSNNConverter(normalization="robust").conv_trace_search  # the preset's choice lapses
    with pytest.raises(ConversionError, match="decided by the model-based scale search"):
        ANNtoSNNConverter(normalization="robust", conv_trace="calibrate")
    with pytest.raises(ConversionError, match="conv_trace must be True, False or 'calibrate'"):
        ANNtoSNNConverter(conv_trace="yes")
    with pytest.raises(ConversionError, match="unknown normalization 'bogus'"):
        ANNtoSNNConverter(conv_trace="calibrate", normalization="bogus")
    assert ANNtoSNNConverter(conv_trace=np.True_).conv_trace is True  # numpy booleans as before
    assert not ANNtoSNNConverter(preset="annsnn").conv_trace_search
    assert ANNtoSNNConverter(conv_trace=True).conv_trace and not ANNtoSNNConverter(conv_trace=False).conv_trace_search


@pytest.mark.parametrize("layer, fragment", [
    (lambda: L.Conv2D(2, 3, dilation_rate=2, use_bias=False), "dilation_rate"),
    (lambda: L.Conv2D(2, 3, use_bias=False, activation="sigmoid"), "activation 'sigmoid'"),
    (lambda: L.MaxPooling2D(2, data_format="channels_first"), "channels_first"),
    (lambda: L.Conv2D(2, 3, groups=2, use_bias=False), "groups=2"),
])
def test_unsupported_options_name_layer_and_option(layer, fragment):
    inputs = keras.Input(shape=(8, 8, 2))
    h = layer()(inputs)
    model = keras.Model(inputs, L.Dense(2, use_bias=False)(L.Flatten()(h)))
    with pytest.raises(ConversionError, match=fragment):
        ANNtoSNNConverter().load_keras_model(model, show_info=False)


def test_dense_on_images_needs_flatten():
    inputs = keras.Input(shape=(4, 4, 1))
    model = keras.Model(inputs, L.Dense(2, use_bias=False)(inputs))
    with pytest.raises(ConversionError, match="add a Flatten layer"):
        ANNtoSNNConverter().load_keras_model(model, show_info=False)
