"""Weight normalisation.

model (Diehl et al. 2015, the reference default): for each weighted layer,
factor = scale / max over post neurons of the sum of its positive incoming
weights; the default scale of the k-th converted layer is k + 1 (2, 3, ...).

data / robust (Diehl et al. 2015; Rueckauer et al. 2017): lambda_l is the
maximum (data) or the p-th percentile (robust) of the ANN's non-zero
activations of layer l over calibration data; weights are scaled by
lambda_{l-1} / lambda_l and biases by 1 / lambda_l, so that activations map
to at most about one spike per step. A layer trained with the QCFS activation uses its trained
ceiling as lambda instead (Bu et al., ICLR 2022).

channel-wise (Kim et al., AAAI 2020, "Spiking-YOLO"): the same, with one lambda per channel of every
hidden layer, so that a channel whose activations stay far below its layer's largest still fires at a
usable rate. A weight then scales by lambda_{l-1}[input channel] / lambda_l[output channel]. The output
layer keeps one lambda: a per-class scale would change which class wins.
"""
import numpy as np

from annsnn.errors import ConversionError

#: The normalisations whose scales come from calibration activations.
DATA_NORMALIZATIONS = ("data", "robust")


def default_scales(n_layers):
    return [float(k + 2) for k in range(n_layers)]


def resolve_scales(scale_factor, n_layers):
    if scale_factor is None:
        return default_scales(n_layers)
    if isinstance(scale_factor, (int, float, np.integer, np.floating)):
        scales = [float(scale_factor)] * n_layers
    else:
        try:
            scales = [float(s) for s in scale_factor]
        except (TypeError, ValueError):
            raise ConversionError(f"scale_factor must be None, a number or a list of numbers, "
                                  f"got {scale_factor!r}") from None
        if len(scales) != n_layers:
            raise ConversionError(f"scale_factor has {len(scales)} entries but the model has {n_layers} "
                                  "converted layers")
    if not all(np.isfinite(s) and s > 0 for s in scales):
        raise ConversionError(f"scale factors must be positive and finite, got {scales}")
    return scales


def max_positive_input(weights):
    """Largest sum of positive incoming weights over the post neurons; weights are (pre..., post)."""
    matrix = weights.reshape(-1, weights.shape[-1])
    return float(np.maximum(matrix, 0.0).sum(axis=0).max())


def model_based_factors(weight_list, scale_factor=None):
    """One factor per converted layer; ``weight_list`` holds (pre, post) or (KH, KW, C_in, C_out) arrays,
    or None for pooling layers, which keep factor 1 but use up a scale, as in the reference."""
    scales = resolve_scales(scale_factor, len(weight_list))
    factors = []
    for scale, weights in zip(scales, weight_list):
        if weights is None:
            factors.append(1.0)
            continue
        peak = max_positive_input(weights)
        factors.append(scale / peak if peak > 0 else 1.0)
    return factors


def expand_lambda(value, features):
    """A lambda (one number, or one per channel with channels innermost) as one value per feature."""
    value = np.asarray(value, dtype=np.float64)
    if value.ndim == 0:
        return np.full(features, float(value))
    if features % value.size:
        raise ConversionError(f"{value.size} per-channel scales do not tile {features} features")
    return np.tile(value, features // value.size)


def weight_factor(weights, source, target):
    """lambda_source / lambda_target shaped to multiply ``weights`` (..., in, out); a number when both are."""
    if np.ndim(source) == 0 and np.ndim(target) == 0:
        return float(source) / float(target)
    n_in, n_out = weights.shape[-2], weights.shape[-1]
    return (expand_lambda(source, n_in)[:, None] / expand_lambda(target, n_out)[None, :]).astype(np.float32)


def format_factor(factor):
    """A factor for tables: the number, or the range of a per-channel one ({"min", "max"} as well)."""
    if isinstance(factor, dict):
        return f"{factor['min']:.3g}..{factor['max']:.3g}"
    if np.ndim(factor) == 0:
        return f"{float(factor):.4f}"
    return format_factor(dict(min=float(np.min(factor)), max=float(np.max(factor))))


def data_based_factors(plans, activations, percentile=None, channel_wise=False):
    """(weight factors, bias factors, lambda per plan name) from calibration activations.

    ``activations`` holds one array per plan (the input first). Factors are aligned with plans[1:];
    pooling keeps lambda; Add and Concatenate get factor 1 (their inputs are weighted by
    lambda_input / lambda_merge in the converter). With ``channel_wise``, hidden layers' lambdas
    and the factors that use them are arrays (one per channel; (in, out) for weights).
    """
    def scale(values):
        values = np.asarray(values, dtype=np.float64).ravel()
        values = values[values > 0]
        if values.size == 0:
            return 1.0
        return float(values.max() if percentile is None else np.percentile(values, percentile))

    def channel_scales(values):
        values = np.asarray(values, dtype=np.float64)
        per_channel = values.reshape(-1, values.shape[-1])
        layer = scale(per_channel)
        # a channel never active on the calibration data keeps its layer's scale
        return np.array([scale(column) if (column > 0).any() else layer for column in per_channel.T])

    last = plans[-1].name
    lambdas = {plans[0].name: scale(activations[0])}
    previous = lambdas[plans[0].name]
    weight_factors, bias_factors = [], []
    for plan, activation in zip(plans[1:], activations[1:]):
        source = lambdas.get(plan.inputs[0], previous) if plan.inputs else previous
        if plan.kind == "pool":
            lambdas[plan.name] = source
            weight_factors.append(1.0)
            bias_factors.append(1.0)
        else:
            # a QCFS layer was trained to saturate at its ceiling: that is its scale, no percentile needed
            if plan.ceiling is not None:
                lambdas[plan.name] = plan.ceiling
            elif channel_wise and plan.name != last:
                lambdas[plan.name] = channel_scales(activation)
            else:
                lambdas[plan.name] = scale(activation)
            weight_factors.append(1.0 if plan.weights is None else weight_factor(plan.weights, source,
                                                                                 lambdas[plan.name]))
            bias_factors.append(1.0 / lambdas[plan.name])
        previous = lambdas[plan.name]
    return weight_factors, bias_factors, lambdas


def merge_weight(lambdas, source, merge, offset):
    """lambda_source / lambda_merge for the one-to-one projection of plan ``source`` into the Add or
    Concatenate plan ``merge`` (at channel ``offset``): one number, or one per source channel where
    either scale is per channel. 1 without data-based scales."""
    if not lambdas:
        return 1.0
    source_lambda, merge_lambda = lambdas[source.name], lambdas[merge.name]
    if np.ndim(source_lambda) == 0 and np.ndim(merge_lambda) == 0:
        return float(source_lambda) / float(merge_lambda)
    channels = source.shape[-1]
    target = expand_lambda(merge_lambda, merge.shape[-1])[offset:offset + channels]
    return expand_lambda(source_lambda, channels) / target
