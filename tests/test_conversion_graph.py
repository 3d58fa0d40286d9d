"""Functional graphs: residual Add and Concatenate branches, walked in topological order."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import annsnn  # noqa: E402
from annsnn import ANNtoSNNConverter, ConversionError, Neuron, models  # noqa: E402
from annsnn.conversion.keras_graph import plan_layers  # noqa: E402

from synthetic import bars, train  # noqa: E402

L = keras.layers


@pytest.fixture(scope="module")
def branchy():
    """conv -> relu -> [conv (linear) + skip] -> relu, concatenated with a second branch, then Dense."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(8, 8, 1))
    stem = L.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    residual = L.Conv2D(4, 3, padding="same")(stem)                # linear: fused into the Add
    block = L.ReLU()(L.Add()([residual, stem]))
    side = L.Conv2D(2, 3, padding="same", activation="relu")(inputs)
    merged = L.Concatenate()([block, side])
    pooled = L.AveragePooling2D(2)(merged)
    outputs = L.Dense(3, activation="softmax")(L.Flatten()(pooled))
    model = keras.Model(inputs, outputs)
    x, _, x_test, _ = train(model, bars, np.random.default_rng(0), 600, 60, epochs=12, learning_rate=0.01)
    return model, x, x_test


def test_plans_follow_the_graph(branchy):
    model, _, _ = branchy
    order = plan_layers(model)
    plans = {p.name: p for p in order}
    add = next(p for p in plans.values() if p.kind == "add")
    concat = next(p for p in plans.values() if p.kind == "concat")
    assert add.activation == "relu" and len(add.inputs) == 2 and concat.shape == (8, 8, 6)
    assert set(concat.inputs) == {add.name, next(p.name for p in plans.values()
                                                 if p.kind == "conv" and p.inputs == (order[0].name,)
                                                 and p.shape[-1] == 2)}


def test_branchy_network_converts_and_agrees(branchy):
    model, x, x_test = branchy
    conv = ANNtoSNNConverter(input_encoding="constant", hidden_neuron="IF_subtract", normalization="robust", seed=1)
    net = conv.load_keras_model(model, show_info=False, calibration_data=x[:200])
    kinds = sorted(type(p).__name__ for p in net.projections)
    assert kinds.count("OneToOneProjection") == 3  # skip into the Add, two branches into the Concatenate
    assert len(net.populations) == len(plan_layers(model)) - 1  # the linear residual conv has no population
    ann = model.predict(x_test, verbose=0).argmax(1)
    snn = np.array(conv.predict(x_test, 100, progress=False))
    assert (snn == ann).mean() >= 0.9


def test_one_to_one_with_channel_offset_is_exact():
    probe = Neuron(equations="x = g_exc", name="probe")
    net = annsnn.Network(batch_size=2)
    a = net.create((3, 4, 2), models.Constant, name="a")
    b = net.create((3, 4, 1), models.Constant, name="b")
    post = net.create((3, 4, 3), probe, name="post")
    net.connect_one_to_one(a, post, weight=0.5, channel_offset=0)
    net.connect_one_to_one(b, post, weight=2.0, channel_offset=2)
    va, vb = np.random.default_rng(0).uniform(size=(2, 3, 4, 2)), np.random.default_rng(1).uniform(size=(2, 3, 4, 1))
    a.rates, b.rates = va, vb
    net.simulate(2)
    expected = np.concatenate([0.5 * va, 2.0 * vb], axis=-1).astype(np.float32)
    np.testing.assert_allclose(post.get("x", shaped=True), expected, rtol=1e-6)
    with pytest.raises(annsnn.NetworkError, match="does not fit"):
        net.connect_one_to_one(a, post, channel_offset=2)


def test_unsupported_graphs_are_refused():
    inputs = keras.Input(shape=(4,))
    h = L.Dense(4, activation="relu")(inputs)
    both = L.Multiply()([h, h])
    with pytest.raises(ConversionError, match="Multiply"):
        ANNtoSNNConverter().load_keras_model(keras.Model(inputs, L.Dense(2)(both)), show_info=False)


def test_one_to_one_with_a_weight_per_channel_is_exact():
    probe = Neuron(equations="x = g_exc", name="probe")
    net = annsnn.Network(batch_size=2)
    a = net.create((3, 4, 2), models.Constant, name="a")
    post = net.create((3, 4, 3), probe, name="post")
    net.connect_one_to_one(a, post, weight=np.array([0.5, -3.0]), channel_offset=1)
    values = np.random.default_rng(2).uniform(size=(2, 3, 4, 2))
    a.rates = values
    net.simulate(2)
    expected = np.concatenate([np.zeros((2, 3, 4, 1)), values * np.array([0.5, -3.0])], axis=-1)
    np.testing.assert_allclose(post.get("x", shaped=True), expected.astype(np.float32), rtol=1e-6)
    with pytest.raises(annsnn.InputError, match="one per pre channel"):
        net.connect_one_to_one(a, post, weight=np.ones(3))


def test_channel_wise_normalisation_on_branches(branchy):
    """Per-channel lambdas meet in the Add (skip weighted per channel) and the Concatenate (each branch
    against its own channel range), and the Dense after the pooling reads them per flattened feature."""
    model, x, x_test = branchy
    conv = ANNtoSNNConverter(preset="annsnn", channel_wise=True, seed=1)
    conv.load_keras_model(model, show_info=False, calibration_data=x[:200])
    plans = {p.name: p for p in conv.plans}
    add = next(p for p in plans.values() if p.kind == "add")
    concat = next(p for p in plans.values() if p.kind == "concat")
    skip = next(p for p in conv.projections if p.name.startswith(f"{add.name}_from_"))
    source = skip.name[len(f"{add.name}_from_"):]
    np.testing.assert_allclose(skip.weight, conv.lambdas[source] / conv.lambdas[add.name], rtol=1e-5)
    branch = next(p for p in conv.projections if p.name == f"{concat.name}_from_{add.name}")
    np.testing.assert_allclose(branch.weight, conv.lambdas[add.name] / conv.lambdas[concat.name][:4], rtol=1e-5)
    ann = model.predict(x_test, verbose=0).argmax(1)
    snn = np.array(conv.predict(x_test, 64, progress=False))
    assert (snn == ann).mean() >= 0.9
