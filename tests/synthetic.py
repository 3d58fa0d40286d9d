"""Small synthetic image tasks shared by the conversion tests."""
import numpy as np


def bars(n, rng):
    """8x8 images with a bright vertical bar in the left, middle or right third: 3 classes."""
    y = rng.integers(0, 3, n)
    x = np.zeros((n, 8, 8, 1), np.float32)
    for i, c in enumerate(y):
        x[i, rng.integers(0, 3):rng.integers(5, 8), [1, 4, 6][c], 0] = rng.uniform(0.7, 1.0)
    return x, y
