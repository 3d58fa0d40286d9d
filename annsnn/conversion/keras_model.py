"""Keras model → a plan of spiking layers, with precise errors for what cannot be converted."""
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from annsnn.errors import ConversionError
from .keras_import import import_keras  # noqa: F401  (imported from here by earlier callers)

# Layers that do not change what a spiking network computes at inference.
PASS_THROUGH = {"Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianDropout", "GaussianNoise",
                "AlphaDropout"}


@dataclass(frozen=True)
class LayerPlan:
    """One spiking population (and its incoming projection) derived from a Keras layer."""
    name: str
    keras_class: str
    kind: str                         # "input" | "dense" | "conv" | "pool" | "add" | "concat"
    shape: Tuple[int, ...]            # output shape without the batch axis
    depth: int                        # position among the model's layers, the Input layer being 0
    weights: Optional[np.ndarray]     # (pre, post) for dense, (KH, KW, C_in, C_out) for conv
    activation: str                   # "relu", "softmax", "linear"
    stride: Tuple[int, int] = (1, 1)
    padding: str = "valid"
    inputs: Tuple[str, ...] = ()      # names of the plans feeding this one
    operation: str = ""               # pooling: "max" | "mean"
    pool_size: Tuple[int, int] = (1, 1)
    bias: Optional[np.ndarray] = None # per output channel (folded BatchNorm included)
    output_layer: str = ""            # Keras layer whose output is this plan's activation
    folded: Tuple[str, ...] = ()      # BatchNormalization layers folded into this one
    ceiling: Optional[float] = None   # trained QCFS ceiling (or a bounded ReLU's bound): what one spike per step stands for
    count_include_pad: bool = False   # mean pooling: divide by the whole window, padded cells included

    @property
    def size(self):
        return int(np.prod(self.shape))


def load_keras(model_or_path):
    """A ``keras.Model`` from a model object or a .keras/.h5 path (errors name the file)."""
    if isinstance(model_or_path, (str, Path)):
        path = Path(model_or_path)
        if not path.is_file():  # before importing TensorFlow, which takes seconds
            raise ConversionError(f"model file not found: {path}")
    keras = import_keras()
    import annsnn.qcfs  # noqa: F401  (registers the QCFS layer for deserialisation)
    if isinstance(model_or_path, keras.Model):
        return model_or_path
    if not isinstance(model_or_path, (str, Path)):
        raise ConversionError(f"expected a path to a .keras file or a keras.Model, got {type(model_or_path).__name__}")
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as exc:  # Keras raises many types for unreadable files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConversionError(f"cannot read Keras model {path}: {first}") from None


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    if activation is None:
        return "linear"
    return getattr(activation, "__name__", str(activation))


def _input_shape(model):
    try:
        shape = model.inputs[0].shape
    except (AttributeError, IndexError, TypeError, ValueError):
        raise ConversionError("the model has no Input layer; start it with keras.Input(shape=...) so that the "
                              "input geometry is known") from None
    if len(model.inputs) != 1:
        raise ConversionError(f"the model has {len(model.inputs)} inputs; only single-input models convert")
    shape = tuple(shape)[1:]
    if any(s is None for s in shape):
        raise ConversionError(f"the Input layer has an undefined size {shape}; give every dimension")
    return tuple(int(s) for s in shape)


def _fail(layer, problem, remedy):
    raise ConversionError(f"layer '{layer.name}' ({type(layer).__name__}): {problem}; {remedy}")


def _check_activation(layer, name, last, allow_linear=False):
    allowed = {"relu"} | ({"softmax", "linear"} if last else set()) | ({"linear"} if allow_linear else set())
    if name not in allowed:
        where = "the last layer" if last else "a hidden layer"
        _fail(layer, f"activation '{name}' is not supported on {where}",
              "use relu (softmax or linear are accepted on the last layer only)")


def _spatial_input(layer, shape):
    if len(shape) != 3:
        _fail(layer, f"needs an (H, W, C) input, got {shape}", "put it before Flatten")
    if layer.get_config().get("data_format", "channels_last") != "channels_last":
        _fail(layer, "data_format 'channels_first' is not supported", "use channels_last (the Keras default)")


def _conv_plan(layer, depth, shape, last):
    from .. import convolution
    _spatial_input(layer, shape)
    cfg = layer.get_config()
    if tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1):
        _fail(layer, f"dilation_rate {tuple(cfg['dilation_rate'])} is not supported", "use dilation_rate=1")
    if cfg.get("groups", 1) != 1:
        _fail(layer, f"groups={cfg['groups']} is not supported", "use groups=1")
    if cfg["padding"] not in ("same", "valid"):
        _fail(layer, f"padding '{cfg['padding']}' is not supported", "use 'same' or 'valid'")
    if last:
        _fail(layer, "cannot be the last layer", "end the model with Flatten and a Dense layer")
    kernel = np.asarray(layer.get_weights()[0], dtype=np.float32)
    stride = tuple(int(s) for s in cfg["strides"])
    (oh, _), (ow, _) = (convolution.output_size(shape[0], kernel.shape[0], stride[0], cfg["padding"]),
                        convolution.output_size(shape[1], kernel.shape[1], stride[1], cfg["padding"]))
    activation = _activation_name(layer)
    _check_activation(layer, activation, False, allow_linear=True)
    return LayerPlan(layer.name, "Conv2D", "conv", (oh, ow, kernel.shape[3]), depth, kernel, activation,
                     stride=stride, padding=cfg["padding"], bias=_bias(layer), output_layer=layer.name)


def _pool_plan(layer, depth, shape):
    from .. import convolution
    _spatial_input(layer, shape)
    cls = type(layer).__name__
    if cls == "GlobalAveragePooling2D":
        if layer.get_config().get("keepdims"):
            _fail(layer, "keepdims=True is not supported", "use keepdims=False")
        return LayerPlan(layer.name, cls, "pool", (shape[2],), depth, None, "linear", stride=shape[:2],
                         padding="valid", operation="mean", pool_size=shape[:2], output_layer=layer.name)
    cfg = layer.get_config()
    pool = tuple(int(p) for p in cfg["pool_size"])
    stride = tuple(int(s) for s in (cfg.get("strides") or pool))
    if cfg["padding"] not in ("same", "valid"):
        _fail(layer, f"padding '{cfg['padding']}' is not supported", "use 'same' or 'valid'")
    (oh, _), (ow, _) = (convolution.output_size(shape[0], pool[0], stride[0], cfg["padding"]),
                        convolution.output_size(shape[1], pool[1], stride[1], cfg["padding"]))
    operation = "max" if cls == "MaxPooling2D" else "mean"
    return LayerPlan(layer.name, cls, "pool", (oh, ow, shape[2]), depth, None, "linear", stride=stride,
                     padding=cfg["padding"], operation=operation, pool_size=pool, output_layer=layer.name)


def _bias(layer):
    if not layer.use_bias:
        return None
    bias = np.asarray(layer.get_weights()[1], dtype=np.float32)
    return bias if bias.any() else None


def _fold_batch_norm(layer, previous):
    """BN(y) = gamma * (y - mean) / sqrt(var + eps) + beta, folded into the preceding kernel and bias."""
    if previous.kind not in ("dense", "conv") or previous.activation != "linear":
        _fail(layer, "can only be folded into a Dense or Conv2D layer with a linear activation right before it",
              "place BatchNormalization between the layer and its activation")
    cfg = layer.get_config()
    axis = cfg.get("axis", -1)
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    if axis not in (-1, len(previous.shape)):
        _fail(layer, f"normalises axis {axis}", "normalise the channel (last) axis")
    values = dict(zip([w.path.split("/")[-1] for w in layer.weights], layer.get_weights()))
    channels = previous.weights.shape[-1]
    gamma = values.get("gamma", np.ones(channels, np.float32))
    beta = values.get("beta", np.zeros(channels, np.float32))
    scale = gamma / np.sqrt(values["moving_variance"] + cfg["epsilon"])
    bias = previous.bias if previous.bias is not None else np.zeros(channels, np.float32)
    return replace(previous, weights=(previous.weights * scale).astype(np.float32),
                   bias=((bias - values["moving_mean"]) * scale + beta).astype(np.float32),
                   output_layer=layer.name, folded=previous.folded + (layer.name,))


def _dense_plan(layer, depth, shape, last):
    kernel = np.asarray(layer.get_weights()[0], dtype=np.float32)
    if len(shape) != 1:
        _fail(layer, f"receives a {len(shape)}-D input {shape}", "add a Flatten layer before it")
    if kernel.shape[0] != shape[0]:
        _fail(layer, f"expects {kernel.shape[0]} inputs but receives {shape[0]}", "check the model")
    activation = _activation_name(layer)
    _check_activation(layer, activation, last, allow_linear=True)
    return LayerPlan(layer.name, "Dense", "dense", (kernel.shape[1],), depth, kernel, activation,
                     bias=_bias(layer), output_layer=layer.name)


def _activation_plan(layer, previous, last):
    cls = type(layer).__name__
    if cls == "QCFS":
        if last:
            _fail(layer, "QCFS cannot be the output activation", "end the model with a Dense layer (softmax/linear)")
        if previous.kind in ("input", "pool") or previous.activation != "linear":
            _fail(layer, "QCFS does not follow a linear layer", "put QCFS right after Dense, Conv2D or Add layers")
        weights = layer.get_weights()
        if len(weights) != 1 or np.asarray(weights[0]).size != 1:
            _fail(layer, "is a QCFS layer without one scalar ceiling", "use annsnn.qcfs.QCFS")
        ceiling = float(np.asarray(weights[0]).reshape(()))
        if not ceiling > 0:
            _fail(layer, f"its trained ceiling is {ceiling:g}", "a QCFS ceiling must stay positive")
        return replace(previous, activation="qcfs", ceiling=ceiling, output_layer=layer.name)
    name = "relu" if cls == "ReLU" else _activation_name(layer)
    if cls == "ReLU":
        cfg = layer.get_config()
        if cfg.get("max_value") is not None or cfg.get("negative_slope", 0) or cfg.get("threshold", 0):
            _fail(layer, "only a plain ReLU converts", "drop max_value, negative_slope and threshold")
    if previous.kind in ("input", "pool") or previous.activation != "linear":
        _fail(layer, f"activation '{name}' does not follow a linear layer",
              "put activations right after Dense, Conv2D or Add layers")
    _check_activation(layer, name, last)
    return replace(previous, activation=name, output_layer=layer.name)


def _merge_plan(layer, depth, sources):
    """Add (same shapes) or Concatenate (last axis) of the plans in ``sources`` [(plan name, shape)]."""
    cls = type(layer).__name__
    shapes = [shape for _, shape in sources]
    if cls == "Add":
        if any(s != shapes[0] for s in shapes):
            _fail(layer, f"adds tensors of different shapes {shapes}", "add tensors of one shape")
        shape = shapes[0]
    else:
        axis = layer.get_config().get("axis", -1)
        if axis not in (-1, len(shapes[0])):
            _fail(layer, f"concatenates along axis {axis}", "concatenate along the last (channel) axis")
        if any(s[:-1] != shapes[0][:-1] for s in shapes):
            _fail(layer, f"concatenates tensors of shapes {shapes}", "give every input the same leading shape")
        shape = shapes[0][:-1] + (sum(s[-1] for s in shapes),)
    return LayerPlan(layer.name, cls, "add" if cls == "Add" else "concat", shape, depth, None, "linear",
                     inputs=tuple(name for name, _ in sources), output_layer=layer.name)
