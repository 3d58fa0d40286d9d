"""Write a sequential Keras model as the ONNX graph PyTorch would export for it (channels-first).

    python examples/keras_to_onnx.py annsnn/data/models/cnn.keras cnn.onnx

The ONNX model computes the same function in NCHW layout: kernels become (C_out, C_in, KH, KW), 'same'
padding becomes explicit pads, and the Dense layer after Flatten gets its rows in (C, H, W) order, as a
PyTorch model flattening an NCHW tensor has them. Converting the result through annsnn's ONNX importer
must give the network the Keras importer gives (tests/test_onnx_keras_agree.py). Covers Dense, Conv2D,
MaxPooling2D, AveragePooling2D, Flatten, Dropout and relu/softmax activations.
"""
import sys

import numpy as np


def export(keras_model, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    nodes, weights = [], []
    shape = tuple(keras_model.inputs[0].shape[1:])  # channels-last, as Keras holds it
    spatial = len(shape) == 3
    onnx_shape = [None, shape[2], shape[0], shape[1]] if spatial else [None, *shape]
    current, flat_from = "x", None

    def add(op, inputs, **attributes):
        nonlocal current
        name = f"{op.lower()}{len(nodes)}"
        nodes.append(helper.make_node(op, [current] + inputs, [name], name=name, **attributes))
        current = name

    def constant(name, value):
        weights.append(numpy_helper.from_array(np.asarray(value, dtype=np.float32), name))
        return name

    for layer in keras_model.layers:
        kind, config = type(layer).__name__, layer.get_config()
        if kind in ("InputLayer", "Dropout"):
            continue
        if kind == "Flatten":
            flat_from = shape
            add("Flatten", [], axis=1)
            shape = (int(np.prod(shape)),)
            continue
        if kind == "Conv2D":
            kernel = layer.get_weights()[0]
            pads = _pads(shape, kernel.shape[:2], config["strides"], config["padding"])
            inputs = [constant(f"{layer.name}_w", kernel.transpose(3, 2, 0, 1))]
            if layer.use_bias:
                inputs.append(constant(f"{layer.name}_b", layer.get_weights()[1]))
            add("Conv", inputs, strides=list(config["strides"]), pads=pads)
            shape = tuple(layer.output.shape[1:])
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            pool, strides = config["pool_size"], config["strides"] or config["pool_size"]
            pads = _pads(shape, pool, strides, config["padding"])
            add("MaxPool" if kind == "MaxPooling2D" else "AveragePool", [], kernel_shape=list(pool),
                strides=list(strides), pads=pads)
            shape = tuple(layer.output.shape[1:])
        elif kind == "Dense":
            kernel = layer.get_weights()[0]
            if flat_from is not None:  # Keras flattened (H, W, C); the ONNX graph flattens (C, H, W)
                h, w, c = flat_from
                kernel = kernel.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
                flat_from = None
            inputs = [constant(f"{layer.name}_w", kernel)]
            if layer.use_bias:
                inputs.append(constant(f"{layer.name}_b", layer.get_weights()[1]))
            add("Gemm", inputs)
            shape = (kernel.shape[1],)
        else:
            raise ValueError(f"layer '{layer.name}' ({kind}) is not covered by this exporter")
        activation = config.get("activation", "linear")
        if activation == "relu":
            add("Relu", [])
        elif activation == "softmax":
            add("Softmax", [], axis=1)
        elif activation != "linear":
            raise ValueError(f"layer '{layer.name}': activation {activation} is not covered")
    graph = helper.make_graph(nodes, keras_model.name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, onnx_shape)],
                              [helper.make_tensor_value_info(current, TensorProto.FLOAT, [None, shape[0]])], weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="annsnn examples")
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return model


def _pads(shape, window, strides, padding):
    """ONNX pads [top, left, bottom, right] of Keras' 'same' or 'valid' on an (H, W, C) input."""
    if padding == "valid":
        return [0, 0, 0, 0]
    before, after = [], []
    for size, k, s in zip(shape[:2], window, strides):
        total = max((-(-size // s) - 1) * s + k - size, 0)
        before.append(total // 2)
        after.append(total - total // 2)
    return before + after


if __name__ == "__main__":
    import keras
    export(keras.models.load_model(sys.argv[1], compile=False), sys.argv[2])
    print(f"wrote {sys.argv[2]}")
