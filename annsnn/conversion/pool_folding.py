"""Folding mean pooling into the Dense layer that reads it (``fold_mean_pool=True``).

Mean pooling is linear, and so is a Dense layer (a Flatten between them only orders the features). Their
product is one Dense layer from the pooling's input: each pooled feature's weight row is spread over the
cells of its window, divided by the window's size. The spiking network then has no pooling population,
which would round the pooled value to whole spikes once more before the Dense layer reads it (global
average pooling before a ResNet's classifier; average pooling, Flatten, Dense in small CNNs). The cost:
a spike of the pooling's input reaches every Dense neuron instead of one pooling neuron.
"""
from dataclasses import replace

import numpy as np

from annsnn.convolution import axis_padding, output_size


def foldable(plan, plans):
    """A mean pooling of an image read by exactly one plan, a Dense layer with no other input."""
    readers = [p for p in plans if plan.name in p.inputs]
    return (plan.kind == "pool" and plan.operation == "mean" and len(readers) == 1
            and readers[0].kind == "dense" and tuple(readers[0].inputs) == (plan.name,))


def spread_over_windows(pool, source_shape, weights):
    """(H*W*C, post) Dense weights from the pooling's input that equal ``pool`` followed by ``weights``
    ((OH*OW*C, post), features channels-last)."""
    height, width, channels = source_shape
    (ph, pw), (sh, sw) = pool.pool_size, pool.stride
    (oh, top), (ow, left) = (output_size(height, ph, sh, axis_padding(pool.padding, 0)),
                             output_size(width, pw, sw, axis_padding(pool.padding, 1)))
    pooled = np.asarray(weights, dtype=np.float64).reshape(oh, ow, channels, -1)
    folded = np.zeros((height, width, channels, pooled.shape[-1]))
    for oy in range(oh):
        y0, y1 = max(oy * sh - top, 0), min(oy * sh - top + ph, height)
        for ox in range(ow):
            x0, x1 = max(ox * sw - left, 0), min(ox * sw - left + pw, width)
            cells = ph * pw if pool.count_include_pad else (y1 - y0) * (x1 - x0)
            folded[y0:y1, x0:x1] += pooled[oy, ox] / cells
    return folded.reshape(height * width * channels, -1).astype(np.asarray(weights).dtype)


def fold_mean_pooling(plans):
    """``plans`` without the foldable mean poolings, their Dense readers reading the pooling's input."""
    by_name = {plan.name: plan for plan in plans}
    folded = []
    for plan in plans:
        if foldable(plan, plans):
            continue
        if plan.kind == "dense" and len(plan.inputs) == 1 and foldable(by_name[plan.inputs[0]], plans):
            pool = by_name[plan.inputs[0]]
            source = by_name[pool.inputs[0]]
            plan = replace(plan, weights=spread_over_windows(pool, source.shape, plan.weights), inputs=pool.inputs)
        folded.append(plan)
    return folded
