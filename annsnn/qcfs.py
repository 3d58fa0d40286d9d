"""Conversion-aware training: the QCFS activation (Bu et al., ICLR 2022, "Optimal ANN-SNN conversion
for high-accuracy and ultra-low-latency spiking neural networks").

Put ``QCFS()`` where a ReLU would go and train as usual::

    x = keras.layers.Dense(128)(x)
    x = annsnn.qcfs.QCFS(levels=8)(x)

It computes ``ceiling * clip(floor(x * L / ceiling + 1/2) / L, 0, 1)``: the activation an
integrate-and-fire neuron with threshold ``ceiling`` reports after L steps when its membrane starts
at half threshold. The floor passes gradients straight through; ``ceiling`` is trained (it receives
the gradient of the clip). The converter recognises the layer: the trained ceiling becomes the
layer's scale (its threshold in the spiking network) and the membranes start at half threshold, so
the SNN needs no percentile for that layer and reaches the ANN's accuracy within a few steps.
"""
from annsnn.conversion.keras_import import import_keras

keras = import_keras()
ops = keras.ops


@keras.saving.register_keras_serializable(package="annsnn")
class QCFS(keras.layers.Layer):
    """Quantisation-clip-floor-shift activation with a trainable ceiling (one per layer)."""

    def __init__(self, levels=8, initial_ceiling=4.0, **kwargs):
        super().__init__(**kwargs)
        if int(levels) != levels or levels < 1:
            raise ValueError(f"QCFS levels must be a positive integer, got {levels!r}")
        if not initial_ceiling > 0:
            raise ValueError(f"QCFS initial_ceiling must be positive, got {initial_ceiling!r}")
        self.levels, self.initial_ceiling = int(levels), float(initial_ceiling)

    def build(self, input_shape):
        self.ceiling = self.add_weight(name="ceiling", shape=(),
                                       initializer=keras.initializers.Constant(self.initial_ceiling),
                                       trainable=True)

    def call(self, inputs):
        fraction = ops.clip(inputs / self.ceiling, 0.0, 1.0)
        quantised = ops.floor(fraction * self.levels + 0.5) / self.levels
        # straight-through estimator: the forward pass quantises, the backward pass sees the clip
        return (fraction + ops.stop_gradient(quantised - fraction)) * self.ceiling

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return dict(super().get_config(), levels=self.levels, initial_ceiling=self.initial_ceiling)
