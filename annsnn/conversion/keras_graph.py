"""Walk a Keras model's graph in topological order and turn it into LayerPlans.

Sequential models are chains; functional models are read from their config's inbound nodes, so
branches joined by Add or Concatenate convert. Pass-through layers (Dropout, Flatten) alias their
input; activations and BatchNormalization merge into the linear layer before them.
"""
from collections import Counter
from dataclasses import replace

import numpy as np

from annsnn.errors import ConversionError
from .keras_model import (PASS_THROUGH, LayerPlan, _activation_plan, _conv_plan, _dense_plan, _fail,
                          _fold_batch_norm, _input_shape, _merge_plan, _pool_plan)

SUPPORTED = ("InputLayer, Dense, Conv2D, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, Add, "
             "Concatenate, Flatten, Dropout, BatchNormalization, Activation/ReLU (relu; softmax on the last layer), "
             "annsnn.qcfs.QCFS")


def _histories(node):
    """Layer names in the keras_history entries of a config fragment, in order."""
    if isinstance(node, dict):
        history = node.get("config", {}).get("keras_history") if isinstance(node.get("config"), dict) else None
        if history:
            return [history[0]]
        return [name for value in node.values() for name in _histories(value)]
    if isinstance(node, (list, tuple)):
        return [name for value in node for name in _histories(value)]
    return []


def inbound_layers(model):
    """{layer name: names of the layers feeding it}; a Sequential model is a chain."""
    layers = [l for l in model.layers if type(l).__name__ != "InputLayer"]
    entries = model.get_config().get("layers", [])
    if not any(entry.get("inbound_nodes") for entry in entries):
        names = ["__input__"] + [l.name for l in layers]
        return {name: [previous] for previous, name in zip(names, names[1:])}, "__input__"
    inbound = {entry["config"]["name"]: _histories(entry.get("inbound_nodes", [])) for entry in entries}
    inputs = [entry["config"]["name"] for entry in entries if entry.get("class_name") == "InputLayer"]
    return inbound, inputs[0]


def plan_layers(model):
    """LayerPlans in topological order, the input first; raises ConversionError naming the layer."""
    input_shape = _input_shape(model)
    inbound, input_name = inbound_layers(model)
    consumers = Counter(name for names in inbound.values() for name in names)
    layers = [l for l in model.layers if type(l).__name__ != "InputLayer"]
    output_name = layers[-1].name if layers else None
    first = LayerPlan(getattr(model.inputs[0], "name", "input") or "input", "InputLayer", "input", input_shape, 0,
                      None, "linear")
    plans = {first.name: first}
    source = {input_name: (first.name, input_shape)}  # keras layer -> (plan name, shape it delivers)
    for depth, layer in enumerate(layers, start=1):
        cls, last = type(layer).__name__, layer.name == output_name
        try:
            sources = [source[name] for name in inbound[layer.name]]
        except KeyError:
            _fail(layer, "its inputs could not be traced to the model input", "build it with the functional API")
        if cls in ("Add", "Concatenate"):
            plans[layer.name] = _merge_plan(layer, depth, sources)
            source[layer.name] = (layer.name, plans[layer.name].shape)
            continue
        if len(sources) != 1:
            _fail(layer, f"has {len(sources)} inputs", "only Add and Concatenate may join branches")
        (key, shape), = sources
        if cls in PASS_THROUGH:
            source[layer.name] = (key, shape)
        elif cls == "Flatten":
            source[layer.name] = (key, (int(np.prod(shape)),))
        elif cls in ("Activation", "ReLU", "QCFS", "BatchNormalization"):
            if consumers[inbound[layer.name][0]] > 1:
                _fail(layer, "follows a layer whose output is also used elsewhere", "apply it on a single path")
            merge = _fold_batch_norm if cls == "BatchNormalization" else None
            plans[key] = merge(layer, plans[key]) if merge else _activation_plan(layer, plans[key], last)
            source[layer.name] = (key, shape)
        elif cls in ("Conv2D", "Dense", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D"):
            if cls == "Conv2D":
                plan = _conv_plan(layer, depth, shape, last)
            elif cls == "Dense":
                plan = _dense_plan(layer, depth, shape, last)
            else:
                plan = _pool_plan(layer, depth, shape)
            plans[layer.name] = replace(plan, inputs=(key,))
            source[layer.name] = (layer.name, plan.shape)
        else:
            _fail(layer, "this layer type is not supported", f"supported: {SUPPORTED}")
    result = list(plans.values())
    check_plans(result, source.get(output_name, ("", ()))[0] if output_name else "")
    return result


def check_plans(plans, output_key):
    """What conversion needs of any importer's plans: a Dense layer at the end and ReLU hidden layers."""
    if len(plans) < 2 or not any(p.kind == "dense" for p in plans):
        raise ConversionError("the model has no Dense layer to convert")
    last = plans[-1]
    if last.kind != "dense" or len(last.shape) != 1 or last.name != output_key:
        raise ConversionError(f"the model must end with a Dense layer (its neurons are the classes); "
                              f"'{output_key}' does not")
    fused = {p.name for p in plans if fused_into_add(p, plans)}
    for plan in plans[1:-1]:
        # pooling and merges of non-negative (ReLU) inputs stay non-negative without an activation
        if plan.kind in ("pool", "concat") or plan.name in fused or (
                plan.kind == "add" and not fused & set(plan.inputs)):
            continue
        if plan.activation not in ("relu", "qcfs"):
            raise ConversionError(f"layer '{plan.name}' ({plan.keras_class}): hidden activation must be relu, "
                                  f"got '{plan.activation}'; spiking rates approximate ReLU only")


def fused_into_add(plan, plans):
    """A linear Dense/Conv2D read only by Add layers needs no population: it projects into the Add."""
    readers = [p for p in plans if plan.name in p.inputs]
    return (plan.kind in ("dense", "conv") and plan.activation == "linear" and readers
            and all(p.kind == "add" for p in readers))
