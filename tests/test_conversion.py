"""Converter on small Keras networks: normalisation, read-outs, and precise errors."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from annsnn import ANNtoSNNConverter, ConversionError, InputError  # noqa: E402
from annsnn.conversion.normalization import model_based_factors  # noqa: E402

layers = keras.layers


def mlp(weights, activations=None, use_bias=False, input_shape=None):
    inputs = keras.Input(shape=input_shape or (weights[0].shape[0],))
    x = inputs
    if input_shape is not None and len(input_shape) > 1:
        x = layers.Flatten()(x)
    activations = activations or ["relu"] * (len(weights) - 1) + ["softmax"]
    for w, act in zip(weights, activations):
        dense = layers.Dense(w.shape[1], use_bias=use_bias, activation=act)
        x = dense(x)
        dense.set_weights([w] + ([np.zeros(w.shape[1], np.float32)] if use_bias else []))
        x = layers.Dropout(0.5)(x) if act == "relu" else x
    return keras.Model(inputs, x)


@pytest.fixture(scope="module")
def easy_task():
    """4 classes, 16 inputs: class c lights up inputs 4c..4c+3. Hand-set weights solve it exactly."""
    rng = np.random.default_rng(0)
    w1 = np.full((16, 8), -0.1, np.float32)
    w2 = np.full((8, 4), -0.2, np.float32)
    for c in range(4):
        w1[4 * c:4 * c + 4, 2 * c:2 * c + 2] = 0.5
        w2[2 * c:2 * c + 2, c] = 1.0
    labels = rng.integers(0, 4, 64)
    x = np.zeros((64, 16), np.float32)  # a zero background, as in MNIST
    for i, c in enumerate(labels):
        x[i, 4 * c:4 * c + 4] = rng.uniform(0.6, 1.0, 4)
        x[i, rng.integers(0, 16)] = 0.3  # one distractor pixel
    model = mlp([w1, w2])
    assert (model.predict(x, verbose=0).argmax(1) == labels).all()
    return model, x, labels


def test_normalisation_factors_match_hand_computation():
    w1 = np.array([[1.0, -2.0], [3.0, 0.5], [-1.0, 1.0]], np.float32)   # positive column sums: 4.0, 1.5
    w2 = np.array([[0.2, -0.1, 0.3], [0.4, 0.6, -0.5]], np.float32)    # 0.6, 0.6, 0.3
    assert model_based_factors([w1, w2]) == pytest.approx([2 / 4.0, 3 / 0.6])
    assert model_based_factors([w1, w2], 5.0) == pytest.approx([5 / 4.0, 5 / 0.6])
    assert model_based_factors([w1, w2], [1.0, 2.0]) == pytest.approx([1 / 4.0, 2 / 0.6])
    with pytest.raises(ConversionError, match="2 converted layers"):
        model_based_factors([w1, w2], [1.0])


def test_normalised_weights_are_the_compiled_ones(easy_task):
    model, _, _ = easy_task
    conv = ANNtoSNNConverter(input_encoding="IB")
    net = conv.load_keras_model(model, show_info=False, scale_factor=[2.0, 3.0])  # the reference's depth + 1
    kernels = [l.get_weights()[0] for l in model.layers if isinstance(l, layers.Dense)]
    factors = model_based_factors(kernels)
    assert net.compiled
    for proj, kernel, factor in zip(net.projections, kernels, factors):
        np.testing.assert_allclose(proj.w, kernel * factor, rtol=1e-6)
    assert [round(float(p.vt[0]), 2) for p in net.populations[1:]] == [0.95, 1.0]  # hidden 1 - 0.05*depth


def test_membrane_potential_accumulates_the_linear_output():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.5, (12, 5)).astype(np.float32)
    model = mlp([w], ["linear"])
    x = rng.uniform(0, 1, (6, 12)).astype(np.float32)
    conv = ANNtoSNNConverter(input_encoding="constant", read_out="membrane_potential")
    conv.load_keras_model(model, show_info=False, scale_factor=1.0)
    steps = 50
    conv.predict(x, duration_per_sample=steps, progress=False)
    factor = conv.factors[0]
    linear = x @ w * factor
    # one synaptic delay: the input of step s arrives at step s + 1
    np.testing.assert_allclose(conv.scores, linear * (steps - 1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("read_out, k", [("spike_count", None), ("time_to_first_spike", None),
                                         ("time_to_k_spikes", 3), ("membrane_potential", None)])
@pytest.mark.parametrize("encoding", ["IB", "CPN", "PSO"])
def test_every_read_out_agrees_with_the_ann(easy_task, encoding, read_out, k):
    model, x, labels = easy_task
    conv = ANNtoSNNConverter(input_encoding=encoding, read_out=read_out, k=k, seed=2)
    conv.load_keras_model(model, show_info=False, batch_size=16)
    predictions = np.array(conv.predict(x, duration_per_sample=200, progress=False))
    assert (predictions == labels).mean() >= 0.95
    if read_out.startswith("time_to"):
        decided = conv.stop_steps >= 0
        assert decided.mean() >= 0.95 and (conv.stop_steps[decided] < 200).all()


def test_batch_size_does_not_change_results(easy_task):
    model, x, _ = easy_task
    results = []
    for batch in (5, 64):
        conv = ANNtoSNNConverter(input_encoding="CPN", seed=4)
        conv.load_keras_model(model, show_info=False, batch_size=batch)
        results.append((conv.predict(x, 100, progress=False), conv.scores.copy()))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_ties_are_seeded_and_multiple_lists_them(easy_task):
    model, x, _ = easy_task
    conv = ANNtoSNNConverter(input_encoding="IB", seed=3)
    conv.load_keras_model(model, show_info=False)
    silent = np.zeros((3, 16), np.float32)  # no input: every class ties at zero spikes
    first = conv.predict(silent, 20, progress=False)
    assert first == conv.predict(silent, 20, progress=False)
    assert conv.predict(silent, 20, multiple=True, progress=False) == [[0, 1, 2, 3]] * 3


def test_summary_is_printed(easy_task, capsys):
    model, _, _ = easy_task
    ANNtoSNNConverter().load_keras_model(model, show_info=True)
    out = capsys.readouterr().out
    assert "factor" in out and "Dense" in out and "0.95" in out


def test_image_and_flat_layouts_are_both_accepted(easy_task):
    model, x, labels = easy_task
    conv = ANNtoSNNConverter(input_encoding="PSO", seed=1)
    conv.load_keras_model(model, show_info=False)
    flat = conv.predict(x, 50, progress=False)
    assert conv.predict(x.reshape(-1, 4, 4), 50, progress=False) == flat


@pytest.mark.parametrize("bad, message", [
    (np.zeros((4, 15)), "must have 16 values"),
    (np.zeros(16), "leading sample axis"),
    (np.full((2, 16), np.nan), "NaN or inf"),
    (np.array([["a"] * 16]), "numeric"),
])
def test_wrong_samples_are_refused(easy_task, bad, message):
    model, _, _ = easy_task
    conv = ANNtoSNNConverter()
    conv.load_keras_model(model, show_info=False)
    with pytest.raises(InputError, match=message):
        conv.predict(bad, 10, progress=False)
    with pytest.raises(InputError, match="duration_per_sample"):
        conv.predict(np.zeros((1, 16)), -5, progress=False)


def test_unsupported_models_name_the_layer(tmp_path):
    rng = np.random.default_rng(0)
    w = [rng.normal(size=(6, 4)).astype(np.float32), rng.normal(size=(4, 3)).astype(np.float32)]
    cases = [(mlp(w, ["tanh", "softmax"]), "activation 'tanh'")]
    inputs = keras.Input(shape=(6,))
    cases.append((keras.Model(inputs, layers.Dense(3, use_bias=False)(layers.LayerNormalization()(inputs))),
                  "LayerNormalization"))
    cases.append((keras.Sequential([layers.Dense(3, use_bias=False)]), "no Input layer"))
    for model, fragment in cases:
        with pytest.raises(ConversionError, match=fragment):
            ANNtoSNNConverter().load_keras_model(model, show_info=False)
    with pytest.raises(ConversionError, match="not found"):
        ANNtoSNNConverter().load_keras_model(tmp_path / "missing.keras")
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"garbage")
    with pytest.raises(ConversionError, match="cannot read Keras model"):
        ANNtoSNNConverter().load_keras_model(corrupt)


def test_bad_options_are_refused():
    with pytest.raises(ConversionError, match="unknown input_encoding"):
        ANNtoSNNConverter(input_encoding="morse")
    with pytest.raises(ConversionError, match="unknown read_out"):
        ANNtoSNNConverter(read_out="vibes")
    with pytest.raises(ConversionError, match="needs an integer k"):
        ANNtoSNNConverter(read_out="time_to_k_spikes")
    with pytest.raises(ConversionError, match="unknown option"):
        ANNtoSNNConverter(max_freq=3)
    with pytest.raises(ConversionError, match="load_keras_model"):
        ANNtoSNNConverter().predict(np.zeros((1, 3)))


@pytest.mark.parametrize("encoding, read_out", [("IB", "spike_count"), ("PSO", "spike_count"),
                                                ("IB", "time_to_first_spike")])
def test_grouped_input_updates_do_not_change_predictions(encoding, read_out):
    """Deterministic encodings group pixels of equal intensity (also when items stop early, with
    time_to_first_spike); results equal the per-neuron path."""
    from annsnn.cli import bundled_model_path
    from annsnn.datasets import load_mnist
    (_, _), (x, _) = load_mnist()
    x = x[:96].astype(np.float32) / 255.0
    conv = ANNtoSNNConverter(input_encoding=encoding, read_out=read_out, seed=3)
    conv.load_keras_model(str(bundled_model_path("mlp")), show_info=False, batch_size=32)

    def run():
        predictions = conv.predict(x, 120, progress=False)
        return (predictions, conv.scores.copy(), conv.spike_totals.copy(), conv.stop_steps.copy(),
                conv.synaptic_events.copy(), conv.populations[0].v.copy())

    grouped = run()
    assert conv.populations[0].update_groups.min() > 0
    conv.network.deduplicate = False
    single = run()
    assert (conv.populations[0].update_groups == 0).all()
    assert grouped[0] == single[0]
    for a, b in zip(grouped[1:], single[1:]):
        np.testing.assert_array_equal(a, b)
    if read_out == "time_to_first_spike":
        assert 0 < np.median(grouped[3]) < 120  # items stopped early


def test_unprepared_samples_still_get_named_errors(easy_task):
    """simulate_samples is public (Dask workers call it): it checks what it writes itself."""
    conv = ANNtoSNNConverter(input_encoding="IB", seed=1)
    conv.load_keras_model(easy_task[0], show_info=False)
    bad = np.full((3, 16), 0.5, dtype=np.float32)
    bad[1, 4] = np.nan
    with pytest.raises(InputError, match="NaN written to 'rates'"):
        conv.simulate_samples(bad, 20)
    with pytest.raises(InputError, match="cannot write shape"):
        conv.simulate_samples(np.full((3, 15), 0.5, dtype=np.float32), 20)
    good = conv.simulate_samples(np.full((3, 16), 0.5), 20)  # float64: converted, same as float32
    np.testing.assert_array_equal(good.scores, conv.simulate_samples(np.full((3, 16), 0.5, np.float32), 20).scores)
