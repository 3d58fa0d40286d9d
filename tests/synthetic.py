"""Small synthetic image tasks shared by the conversion tests."""
import numpy as np


def bars(n, rng):
    """8x8 images with a bright vertical bar in the left, middle or right third: 3 classes."""
    y = rng.integers(0, 3, n)
    x = np.zeros((n, 8, 8, 1), np.float32)
    for i, c in enumerate(y):
        x[i, rng.integers(0, 3):rng.integers(5, 8), [1, 4, 6][c], 0] = rng.uniform(0.7, 1.0)
    return x, y


def blobs(n, rng, classes=4, size=16):
    """16 values with a bright block of 4 at the class's position: 4 classes."""
    y = rng.integers(0, classes, n)
    x = rng.uniform(0, 0.2, (n, size)).astype(np.float32)
    for i, c in enumerate(y):
        x[i, c * 4:c * 4 + 4] += rng.uniform(0.5, 0.8, 4)
    return x, y


def train(model, make_data, rng, n_train, n_test, epochs, learning_rate):
    """Fit ``model`` on make_data(n_train, rng); it must classify make_data(n_test, rng) above 95 %.
    Returns x, y, x_test, y_test."""
    import keras
    model.compile(keras.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy")
    x, y = make_data(n_train, rng)
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    x_test, y_test = make_data(n_test, rng)
    assert (model.predict(x_test, verbose=0).argmax(1) == y_test).mean() > 0.95
    return x, y, x_test, y_test
