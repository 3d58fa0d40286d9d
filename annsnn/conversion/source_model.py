"""The trained network a conversion starts from: its LayerPlans and the ANN's own activations.

Each format has an importer (keras_graph.py, onnx_model.py) that makes the plans; calibration needs the
ANN's activation of every plan on the user's data, which each format computes with its own runtime
(Keras; ONNX's reference evaluator). Everything downstream sees only a SourceModel.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List

import numpy as np

from annsnn.errors import ConversionError

FORMATS = ("keras", "onnx")


@dataclass
class SourceModel:
    format: str       # "keras" | "onnx"
    model: Any        # the keras.Model or onnx.ModelProto
    plans: List       # LayerPlans, the input first

    @property
    def input_shape(self):
        """The input of one sample, channels-last: (features,) or (H, W, C)."""
        return self.plans[0].shape

    def predict_classes(self, x, batch=512):
        """The ANN's class decisions on ``x`` (N, *input_shape)."""
        if self.format == "keras":
            return self.model.predict(x, verbose=0, batch_size=batch).argmax(1)
        from .onnx_model import onnx_outputs
        return np.concatenate([onnx_outputs(self.model, self.plans, x[i:i + batch]).argmax(1)
                               for i in range(0, len(x), batch)])

    def activations(self, x):
        """The ANN's activation of every plan on ``x`` (N, *input shape), channels-last, the input first;
        a softmax layer contributes its logits (what the spiking output layer represents)."""
        if self.format == "keras":
            return keras_activations(self.model, self.plans, x)
        from .onnx_model import onnx_activations
        return onnx_activations(self.model, self.plans, x)


def format_of(model_or_path):
    """'onnx' for .onnx files and onnx.ModelProto objects, 'keras' otherwise."""
    if isinstance(model_or_path, SourceModel):
        return model_or_path.format
    if isinstance(model_or_path, (str, Path)):
        return "onnx" if str(model_or_path).lower().endswith(".onnx") else "keras"
    return "onnx" if type(model_or_path).__name__ == "ModelProto" else "keras"


def open_model(model_or_path, format=None):
    """A SourceModel from a path or a model object; ``format`` (FORMATS) defaults to the file's."""
    if isinstance(model_or_path, SourceModel):
        return model_or_path
    format = format or format_of(model_or_path)
    if format == "keras":
        from .keras_graph import plan_layers
        from .keras_model import load_keras
        model = load_keras(model_or_path)
        return SourceModel("keras", model, plan_layers(model))
    if format == "onnx":
        from .onnx_model import load_onnx, plan_onnx
        model = load_onnx(model_or_path)
        return SourceModel("onnx", model, plan_onnx(model))
    raise ConversionError(f"model format must be one of {', '.join(FORMATS)}, got {format!r}")


def keras_activations(keras_model, plans, x):
    """Every plan's activation from one Keras forward pass (see SourceModel.activations)."""
    from .keras_import import import_keras
    keras = import_keras()
    outputs = [keras_model.get_layer(plan.output_layer).output for plan in plans[1:]]
    probe = keras.Model(keras_model.inputs, outputs)
    # called eagerly batch by batch: predict() would trace a new function for every probe model
    batches = [probe([x[start:start + 256]], training=False) for start in range(0, len(x), 256)]
    batches = [batch if isinstance(batch, (list, tuple)) else [batch] for batch in batches]
    values = [x] + [np.concatenate([np.asarray(batch[k]) for batch in batches])
                    for k in range(len(outputs))]
    for index, plan in enumerate(plans):
        if plan.activation == "softmax":
            logits = values[index - 1].reshape(len(x), -1) @ plan.weights
            values[index] = logits + (plan.bias if plan.bias is not None else 0.0)
    return values
