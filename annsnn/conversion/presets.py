"""Named converter settings: ``ANNtoSNNConverter(preset="annsnn")``.

* ``"reference"``: ANNarchy's converter as it behaves (CPN input, IaF reset to zero, model-based
  normalisation, spike-count read-out); calibration data, when given, chooses its weight scaling and
  whether convolution and pooling layers receive spikes or ANNarchy's trace of them.
* ``"annsnn"``: the recommended low-latency pipeline, chosen on the fidelity zoo
  (benchmarks/fidelity.py, README "Fidelity"): analog input, reset by subtraction (Rueckauer et al.
  2017) with signed spikes that take back earlier ones when later input cancels them (Wang et al.,
  IJCAI 2022; what closes the ResNets' gap), robust normalisation on the 99.9th percentile of calibration activations, membranes starting
  at half threshold (Bu et al., AAAI 2022), layer-wise bias calibration (Li et al., ICML 2021) and
  the output layer's integrated potential as the read-out (no quantisation of the last layer), and
  events delivered within the step they occur (a deep network answers from its first step instead of
  one step later per layer), and max pooling that passes the window's largest running spike count
  exactly instead of the current leader's spikes, and one normalisation scale per channel of every
  hidden layer (Kim et al., AAAI 2020), which lets weakly active channels of BatchNorm and residual
  networks fire at usable rates, and mean pooling read by a Dense layer folded into that layer's weights
  (one rounding to whole spikes fewer; global average pooling before a classifier).

The preset's channel-wise scales refine its data normalisation: with another normalisation passed next
to it they do not apply (passing ``channel_wise=True`` with one is an error).

Options passed explicitly next to a preset override it (ANNtoSNNConverter's signature marks the
preset-controlled options with DEFAULT).
"""
from annsnn.errors import ConversionError



class _Default:
    """Marks a converter option left out, so that the preset's value applies."""

    def __repr__(self):
        return "<preset's value>"


DEFAULT = _Default()

#: conv_trace's third value: convolution and pooling layers receive spikes, unless the model-based
#: scale search on calibration data finds that ANNarchy's spike trace agrees better with the ANN.
CHOOSE_TRACE = "calibrate"

#: The converter options a preset sets: the reference converter's defaults.
REFERENCE = dict(input_encoding="CPN", hidden_neuron="IaF", read_out="spike_count", normalization="model",
                 percentile=99.9, initial_potential=0.0, calibrate_bias=False, propagation="next_step",
                 max_pool="winner", channel_wise=False, calibrate_potential=False,
                 conv_trace=CHOOSE_TRACE, fold_mean_pool=False)
PRESET_FIELDS = tuple(REFERENCE)

PRESETS = {
    "reference": dict(REFERENCE),
    "annsnn": dict(REFERENCE, input_encoding="constant", hidden_neuron="IF_signed",
                   read_out="membrane_potential", normalization="robust", percentile=99.9, initial_potential=0.5,
                   calibrate_bias=True, propagation="same_step", max_pool="count", channel_wise=True,
                   conv_trace=False, fold_mean_pool=True),
}


def preset_options(name):
    if name not in PRESETS:
        raise ConversionError(f"unknown preset {name!r}; choose one of {', '.join(repr(p) for p in PRESETS)}")
    return dict(PRESETS[name])
