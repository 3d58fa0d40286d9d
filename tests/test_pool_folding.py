"""fold_mean_pool: a mean pooling read by a Dense layer becomes part of that layer's weights."""
import numpy as np
import pytest

from annsnn import ANNtoSNNConverter, ConversionError
from annsnn.conversion.keras_model import LayerPlan
from annsnn.conversion.pool_folding import fold_mean_pooling, foldable, spread_over_windows
from synthetic import bars, train


def _pool(size, stride, padding, include_pad=False, shape=(1, 1, 3)):
    return LayerPlan("pool", "AveragePooling2D", "pool", shape, 2, None, "linear", stride=stride, padding=padding,
                     inputs=("conv",), operation="mean", pool_size=size, count_include_pad=include_pad)


@pytest.mark.parametrize("size, stride, padding", [((2, 2), (2, 2), "valid"), ((3, 3), (2, 2), "same"),
                                                   ((2, 3), (1, 2), "valid"), ((7, 5), (7, 5), "valid")])
def test_folded_weights_equal_keras_pooling_then_dense(size, stride, padding):
    import keras
    rng = np.random.default_rng(0)
    x = rng.random((4, 7, 5, 3)).astype(np.float32)
    pooled = np.asarray(keras.layers.AveragePooling2D(size, stride, padding)(x)).reshape(4, -1)
    weights = rng.normal(size=(pooled.shape[1], 6)).astype(np.float32)
    folded = spread_over_windows(_pool(size, stride, padding), (7, 5, 3), weights)
    np.testing.assert_allclose(x.reshape(4, -1) @ folded, pooled @ weights, rtol=1e-5, atol=1e-5)


def test_count_include_pad_divides_edge_windows_by_the_whole_window():
    # 3x3 image, one channel, 2x2 windows with stride 2 and padding (0, 1): the right and bottom windows
    # hold 2 or 1 image cells but divide by 4, as ONNX's count_include_pad does
    x = np.arange(1.0, 10.0).reshape(1, 9)
    weights = np.eye(4)
    folded = spread_over_windows(_pool((2, 2), (2, 2), ((0, 1), (0, 1)), include_pad=True, shape=(2, 2, 1)),
                                 (3, 3, 1), weights)
    np.testing.assert_allclose(x @ folded, [[(1 + 2 + 4 + 5) / 4, (3 + 6) / 4, (7 + 8) / 4, 9 / 4]])


def lines(n, rng):
    """8x8 images with one horizontal, vertical or diagonal line anywhere: 3 classes a pooled detector finds."""
    y = rng.integers(0, 3, n)
    x = np.zeros((n, 8, 8, 1), np.float32)
    for i, c in enumerate(y):
        k, value = rng.integers(1, 7), rng.uniform(0.7, 1.0)
        if c == 0:
            x[i, k, 1:7, 0] = value
        elif c == 1:
            x[i, 1:7, k, 0] = value
        else:
            x[i, np.arange(1, 7), np.arange(1, 7) if k % 2 else np.arange(6, 0, -1), 0] = value
    return x, y


def _model(head):
    import keras
    from keras import layers
    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    if head == "global":
        x = layers.GlobalAveragePooling2D(name="pool")(x)
    else:
        x = layers.Flatten()(layers.AveragePooling2D(2, name="pool")(x))
    return keras.Model(inp, layers.Dense(3, activation="softmax", name="out")(x))


@pytest.mark.parametrize("head", ["global", "flatten"])
def test_the_preset_folds_mean_pooling_into_the_classifier(head):
    import keras
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    model = _model(head)
    x, y, x_test, y_test = train(model, lines if head == "global" else bars, rng, 600, 200, 12, 0.01)
    folded = ANNtoSNNConverter(preset="annsnn", seed=0)
    folded.load_keras_model(model, calibration_data=x[:300], show_info=False)
    kept = ANNtoSNNConverter(preset="annsnn", fold_mean_pool=False, seed=0)
    kept.load_keras_model(model, calibration_data=x[:300], show_info=False)
    assert [p.name for p in folded.populations] == [folded.plans[0].name, "conv", "out"]
    assert "pool" in [p.name for p in kept.populations]
    assert folded.options["fold_mean_pool"] and not kept.options["fold_mean_pool"]
    ann = model.predict(x_test, verbose=0).argmax(1)
    agreement = (np.asarray(folded.predict(x_test, duration_per_sample=64, progress=False)) == ann).mean()
    assert agreement >= 0.97
    # a rebuilt copy (what a worker runs) keeps the folded plans
    copy = ANNtoSNNConverter.from_recipe(folded.recipe())
    assert [p.name for p in copy.populations] == [p.name for p in folded.populations]


def test_only_a_mean_pooling_read_by_one_dense_layer_folds():
    plans = [LayerPlan("in", "InputLayer", "input", (4, 4, 1), 0, None, "linear"),
             LayerPlan("conv", "Conv2D", "conv", (4, 4, 2), 1, np.ones((3, 3, 1, 2)), "relu", inputs=("in",)),
             _pool((2, 2), (2, 2), "valid", shape=(2, 2, 2)),
             LayerPlan("out", "Dense", "dense", (3,), 3, np.ones((8, 3)), "softmax", inputs=("pool",))]
    assert [p.name for p in fold_mean_pooling(plans)] == ["in", "conv", "out"]
    assert fold_mean_pooling(plans)[-1].weights.shape == (32, 3)
    as_max = [plans[0], plans[1], LayerPlan(**dict(vars(plans[2]), operation="max")), plans[3]]
    assert not foldable(as_max[2], as_max) and len(fold_mean_pooling(as_max)) == 4
    conv_reader = plans[:3] + [LayerPlan("c2", "Conv2D", "conv", (1, 1, 3), 3, np.ones((2, 2, 2, 3)), "relu",
                                         inputs=("pool",))]
    assert not foldable(conv_reader[2], conv_reader)


def test_time_to_first_spike_coding_refuses_the_rate_option():
    with pytest.raises(ConversionError, match="fold_mean_pool"):
        ANNtoSNNConverter(coding="ttfs", fold_mean_pool=True)
