"""ONNX model (as PyTorch exports it) → the same LayerPlans the Keras importer makes.

Read with the ``onnx`` package only (no torch, no onnxruntime). ONNX is channels-first (NCHW); annsnn's
populations are channels-last (H, W, C), so kernels are transposed, and the first Dense after a Flatten
has its rows re-ordered from (C, H, W) to (H, W, C) order. Linear ops, their bias, a following
BatchNormalization and the activation merge into one plan, as in the Keras importer. The ANN's own
activations (for calibration) come from ``onnx.reference.ReferenceEvaluator`` on the original graph.
"""
from dataclasses import replace
from pathlib import Path

import numpy as np

from annsnn.errors import ConversionError
from .keras_graph import check_plans
from .keras_model import LayerPlan

SUPPORTED = ("Gemm, MatMul (+ Add), Conv (group 1), Relu, Clip(0, .), MaxPool, AveragePool, GlobalAveragePool, "
             "Flatten, Reshape (to batch x features), BatchNormalization (folded), Add, Concat (channels), "
             "Identity, Dropout, Softmax (last), Transpose / Constant (of constants)")
PASS_THROUGH = {"Identity", "Dropout"}


def import_onnx():
    try:
        import onnx
    except ImportError:
        raise ConversionError("reading ONNX models needs the onnx package: pip install 'annsnn[onnx]'") from None
    return onnx


def load_onnx(model_or_path):
    """A checked ``onnx.ModelProto`` with inferred shapes, from a path or a model (errors name the file)."""
    onnx = import_onnx()
    if isinstance(model_or_path, (str, Path)):
        path = Path(model_or_path)
        if not path.is_file():
            raise ConversionError(f"model file not found: {path}")
        try:
            model = onnx.load(str(path))
            onnx.checker.check_model(model)
        except Exception as exc:  # onnx raises DecodeError, ValidationError, ...
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConversionError(f"cannot read ONNX model {path}: {first}") from None
    elif isinstance(model_or_path, onnx.ModelProto):
        model = model_or_path
    else:
        raise ConversionError(f"expected a path to an .onnx file or an onnx.ModelProto, got {type(model_or_path).__name__}")
    return onnx.shape_inference.infer_shapes(model)


def _fail(node, problem, remedy):
    raise ConversionError(f"ONNX node '{node.name or node.output[0]}' ({node.op_type}): {problem}; {remedy}")


class _Tensor:
    """What an ONNX tensor is to the importer: a plan's output, in channels-first or flattened form."""

    def __init__(self, plan, flat_from=None):
        self.plan = plan              # name of the plan whose activation this tensor holds
        self.flat_from = flat_from    # (H, W, C) when this is that plan's output flattened in C, H, W order


class _Importer:
    def __init__(self, model):
        from onnx import numpy_helper
        self.graph = model.graph
        self.constants = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in self.graph.initializer}
        self.plans, self.tensors, self.depth = {}, {}, 0
        self.to_array = numpy_helper.to_array
        self.consumers = {}
        for node in self.graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    # -- helpers -----------------------------------------------------------------------
    def attributes(self, node):
        from onnx import helper
        return {a.name: helper.get_attribute_value(a) for a in node.attribute}

    def constant(self, node, index, what):
        name = node.input[index] if index < len(node.input) else ""
        if name not in self.constants:
            _fail(node, f"its {what} ('{name}') is not a constant", "export the model with its weights as initializers")
        return self.constants[name]

    def source(self, node, index=0):
        name = node.input[index]
        if name not in self.tensors:
            _fail(node, f"input '{name}' does not come from a layer annsnn converts",
                  f"supported: {SUPPORTED}")
        return self.tensors[name]

    def add_plan(self, node, plan):
        self.plans[plan.name] = plan
        self.tensors[node.output[0]] = _Tensor(plan.name)
        return plan

    def new_plan(self, node, kind, shape, inputs, **fields):
        self.depth += 1
        name = node.name or node.output[0]
        return self.add_plan(node, LayerPlan(name, node.op_type, kind, tuple(int(s) for s in shape), self.depth,
                                             fields.pop("weights", None), "linear", inputs=tuple(inputs),
                                             output_layer=node.output[0], **fields))

    def update(self, node, plan, **changes):
        """Merge an op into the plan that produced its input; the op's output is now that plan's."""
        plan = replace(plan, output_layer=node.output[0], **changes)
        return self.add_plan(node, plan)

    def spatial(self, node, tensor):
        plan = self.plans[tensor.plan]
        if tensor.flat_from is not None or len(plan.shape) != 3:
            _fail(node, f"needs an image input (N, C, H, W), got a plan of shape {plan.shape}",
                  "put it before Flatten")
        return plan

    def linear_tail(self, node, what):
        """The plan an op merges into: a Dense or Conv without activation whose output nothing else reads
        (merging would change what the other readers see)."""
        readers = self.consumers.get(node.input[0], [])
        if len(readers) > 1:
            _fail(node, f"{what} follows a layer whose output is also read by "
                  f"{', '.join(r.name or r.op_type for r in readers if r is not node)}", "apply it on a single path")
        tensor = self.source(node)
        plan = self.plans[tensor.plan]
        if plan.kind not in ("dense", "conv", "add") or plan.activation != "linear" or tensor.flat_from is not None:
            _fail(node, f"{what} does not follow a linear layer (Gemm, MatMul, Conv or Add)",
                  "place it right after one")
        return plan

    # -- the walk ----------------------------------------------------------------------------
    def run(self, classifier):
        inputs = [i for i in self.graph.input if i.name not in self.constants]
        if len(inputs) != 1:
            raise ConversionError(f"the ONNX model has {len(inputs)} inputs; only single-input models convert")
        dims = [d.dim_value for d in inputs[0].type.tensor_type.shape.dim][1:]
        if not dims or any(d <= 0 for d in dims) or len(dims) not in (1, 3):
            raise ConversionError(f"ONNX input '{inputs[0].name}' has shape {dims} after the batch axis; "
                                  "expected (features,) or (C, H, W) with fixed sizes")
        shape = tuple(dims) if len(dims) == 1 else (dims[1], dims[2], dims[0])
        first = LayerPlan(inputs[0].name, "Input", "input", shape, 0, None, "linear", output_layer=inputs[0].name)
        self.plans[first.name] = first
        self.tensors[first.name] = _Tensor(first.name)
        for node in self.graph.node:
            handler = getattr(self, "op_" + node.op_type, None)
            if handler is None:
                _fail(node, "this operation is not supported", f"supported: {SUPPORTED}")
            handler(node)
        outputs = [o.name for o in self.graph.output]
        if len(outputs) != 1 or outputs[0] not in self.tensors:
            raise ConversionError(f"the ONNX model must have one output produced by a converted layer, got {outputs}")
        last = self.plans[self.tensors[outputs[0]].plan]
        plans = list(self.plans.values())
        for plan in plans:
            if plan.activation == "softmax" and plan is not last:
                raise ConversionError(f"layer '{plan.name}': softmax is accepted on the last layer only")
        if classifier:  # what a spiking read-out needs: ReLU hidden layers and a dense layer at the end
            check_plans(plans, last.name)
        return plans

    # constants
    def op_Constant(self, node):
        attributes = self.attributes(node)
        if "value" not in attributes:
            _fail(node, "only tensor constants ('value') are supported", "export plain tensors")
        self.constants[node.output[0]] = self.to_array(attributes["value"]).astype(np.float64)

    def op_Transpose(self, node):
        value = self.constant(node, 0, "input")
        perm = self.attributes(node).get("perm")
        self.constants[node.output[0]] = np.transpose(value, perm)

    def op_Identity(self, node):
        if node.input[0] in self.constants:
            self.constants[node.output[0]] = self.constants[node.input[0]]
        else:
            self.tensors[node.output[0]] = self.source(node)

    op_Dropout = op_Identity

    # linear layers
    def _dense(self, node, weights, bias):
        tensor = self.source(node)
        pre = self.plans[tensor.plan]
        if tensor.flat_from is None and len(pre.shape) != 1:
            _fail(node, f"receives an image of shape {pre.shape}", "add a Flatten before it")
        if weights.shape[0] != pre.size:
            _fail(node, f"expects {weights.shape[0]} inputs but receives {pre.size}", "check the model")
        if tensor.flat_from is not None:  # rows in ONNX's (C, H, W) order -> annsnn's (H, W, C)
            h, w, c = tensor.flat_from
            weights = weights.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1)
        return self.new_plan(node, "dense", (weights.shape[1],), [tensor.plan],
                             weights=weights.astype(np.float32), bias=None if bias is None else bias.astype(np.float32))

    def op_Gemm(self, node):
        a = self.attributes(node)
        if a.get("transA", 0):
            _fail(node, "transA=1 is not supported", "export x @ W with the data as the first input")
        weights = self.constant(node, 1, "weight") * a.get("alpha", 1.0)
        weights = weights.T if a.get("transB", 0) else weights
        bias = self.constant(node, 2, "bias").reshape(-1) * a.get("beta", 1.0) if len(node.input) > 2 and node.input[2] else None
        if bias is not None and bias.size not in (1, weights.shape[1]):
            _fail(node, f"its bias has {bias.size} values for {weights.shape[1]} outputs", "use one bias per output")
        self._dense(node, weights, None if bias is None else np.broadcast_to(bias, (weights.shape[1],)).copy())

    def op_MatMul(self, node):
        weights = self.constant(node, 1, "weight")
        if weights.ndim != 2:
            _fail(node, f"its weight has shape {weights.shape}", "use a 2-D weight matrix")
        self._dense(node, weights, None)

    def op_Conv(self, node):
        plan_in = self.spatial(node, self.source(node))
        a = self.attributes(node)
        kernel = self.constant(node, 1, "weight")  # (C_out, C_in, KH, KW)
        if a.get("group", 1) != 1:
            _fail(node, f"group={a['group']} is not supported", "use group=1 (no depthwise convolutions yet)")
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            _fail(node, f"dilations {a['dilations']} are not supported", "use dilation 1")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            _fail(node, f"auto_pad={a['auto_pad']} is not supported", "export explicit pads")
        if kernel.ndim != 4 or kernel.shape[1] != plan_in.shape[2]:
            _fail(node, f"its kernel {kernel.shape} does not fit {plan_in.shape[2]} input channels", "check the model")
        stride = tuple(a.get("strides", [1, 1]))
        pads = a.get("pads", [0, 0, 0, 0])
        padding = ((pads[0], pads[2]), (pads[1], pads[3]))
        from annsnn.convolution import output_size
        out = [output_size(plan_in.shape[i], kernel.shape[2 + i], stride[i], padding[i])[0] for i in (0, 1)]
        bias = self.constant(node, 2, "bias").astype(np.float32) if len(node.input) > 2 and node.input[2] else None
        self.new_plan(node, "conv", (out[0], out[1], kernel.shape[0]), [plan_in.name],
                      weights=kernel.transpose(2, 3, 1, 0).astype(np.float32), stride=stride, padding=padding,
                      bias=bias)

    def op_BatchNormalization(self, node):
        gamma, beta, mean, var = (self.constant(node, i, what) for i, what in
                                  ((1, "scale"), (2, "bias"), (3, "mean"), (4, "variance")))
        scale = gamma / np.sqrt(var + self.attributes(node).get("epsilon", 1e-5))
        tensor = self.source(node)
        plan = self.plans[tensor.plan]
        if plan.kind not in ("dense", "conv") or plan.activation != "linear" or tensor.flat_from is not None:
            # nothing to fold into: a per-channel affine map of its own (a diagonal 1x1 convolution)
            if len(plan.shape) != 3 or tensor.flat_from is not None:
                _fail(node, "follows no Gemm or Conv and has no image input", "place it after a Gemm or Conv")
            kernel = np.diag(scale)[None, None].astype(np.float32)
            self.new_plan(node, "conv", plan.shape, [plan.name], weights=kernel, padding="valid",
                          bias=(beta - mean * scale).astype(np.float32))
            return
        bias = plan.bias if plan.bias is not None else np.zeros(plan.weights.shape[-1])
        self.update(node, plan, weights=(plan.weights * scale).astype(np.float32),
                    bias=((bias - mean) * scale + beta).astype(np.float32), folded=plan.folded + (node.name,))

    def op_Add(self, node):
        constant = [i for i, name in enumerate(node.input) if name in self.constants]
        if len(constant) == 1:  # a bias after MatMul or Conv
            plan = self.linear_tail(node, "a constant Add (bias)")
            value = self.constants[node.input[constant[0]]]
            channels = plan.shape[-1]
            if value.size not in (1, channels):
                _fail(node, f"adds {value.size} values to {channels} channels", "add one bias per output channel")
            bias = np.broadcast_to(value.reshape(-1), (channels,)).astype(np.float32)
            self.update(node, plan, bias=bias if plan.bias is None else (plan.bias + bias).astype(np.float32))
            return
        sources = [self.source(node, i) for i in range(len(node.input))]
        shapes = [self.plans[t.plan].shape for t in sources]
        if any(t.flat_from is not None for t in sources) or any(s != shapes[0] for s in shapes):
            _fail(node, f"adds tensors of shapes {shapes}", "add tensors of one shape")
        self.new_plan(node, "add", shapes[0], [t.plan for t in sources])

    def op_Concat(self, node):
        sources = [self.source(node, i) for i in range(len(node.input))]
        shapes = [self.plans[t.plan].shape for t in sources]
        if self.attributes(node).get("axis") not in (1, -len(shapes[0])) or any(t.flat_from for t in sources):
            _fail(node, "concatenates along another axis than the channels", "concatenate along axis 1")
        if any(s[:-1] != shapes[0][:-1] for s in shapes):
            _fail(node, f"concatenates tensors of shapes {shapes}", "give every input the same spatial shape")
        self.new_plan(node, "concat", shapes[0][:-1] + (sum(s[-1] for s in shapes),), [t.plan for t in sources])

    # activations
    def op_Relu(self, node):
        self.update(node, self.linear_tail(node, "Relu"), activation="relu")

    def op_Clip(self, node):
        a = self.attributes(node)
        low = a.get("min", self.constant(node, 1, "min") if len(node.input) > 1 and node.input[1] else None)
        high = a.get("max", self.constant(node, 2, "max") if len(node.input) > 2 and node.input[2] else None)
        if low is None or float(np.asarray(low)) != 0.0:
            _fail(node, f"clips below at {low}", "only Clip(0, max) (a ReLU, bounded or not) converts")
        # a bounded ReLU: spiking neurons saturate at the layer's scale, which calibration sets
        self.update(node, self.linear_tail(node, "Clip"), activation="relu",
                    ceiling=None if high is None else float(np.asarray(high)))

    def op_Softmax(self, node):
        self.update(node, self.linear_tail(node, "Softmax"), activation="softmax")

    # pooling and reshaping
    def _pool(self, node, operation):
        plan_in = self.spatial(node, self.source(node))
        a = self.attributes(node)
        pool = tuple(a["kernel_shape"])
        stride = tuple(a.get("strides", pool))
        pads = a.get("pads", [0, 0, 0, 0])
        padding = ((pads[0], pads[2]), (pads[1], pads[3]))
        if any(d != 1 for d in a.get("dilations", [1, 1])):
            _fail(node, f"dilations {a['dilations']} are not supported", "use dilation 1")
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            _fail(node, f"auto_pad={a['auto_pad']} is not supported", "export explicit pads")
        from annsnn.convolution import output_size
        out = [output_size(plan_in.shape[i], pool[i], stride[i], padding[i])[0] for i in (0, 1)]
        if a.get("ceil_mode", 0):
            ceil = [-(-(plan_in.shape[i] + sum(padding[i]) - pool[i]) // stride[i]) + 1 for i in (0, 1)]
            if ceil != out:
                _fail(node, "ceil_mode=1 changes the output size here", "export with ceil_mode=False")
        include_pad = bool(a.get("count_include_pad", 0)) and operation == "mean" and any(pads)
        self.new_plan(node, "pool", (out[0], out[1], plan_in.shape[2]), [plan_in.name], stride=stride,
                      padding=padding, operation=operation, pool_size=pool, count_include_pad=include_pad)

    def op_MaxPool(self, node):
        if len(node.output) > 1 and node.output[1]:
            _fail(node, "returns indices", "export without return_indices")
        self._pool(node, "max")

    def op_AveragePool(self, node):
        self._pool(node, "mean")

    def op_GlobalAveragePool(self, node):
        plan_in = self.spatial(node, self.source(node))
        h, w, c = plan_in.shape
        self.new_plan(node, "pool", (c,), [plan_in.name], stride=(h, w), padding="valid", operation="mean",
                      pool_size=(h, w))

    def _flatten(self, node):
        tensor = self.source(node)
        plan = self.plans[tensor.plan]
        flat = tensor.flat_from or (plan.shape if len(plan.shape) == 3 else None)
        self.tensors[node.output[0]] = _Tensor(tensor.plan, flat_from=flat)

    def op_Flatten(self, node):
        if self.attributes(node).get("axis", 1) != 1:
            _fail(node, f"flattens from axis {self.attributes(node)['axis']}", "flatten from axis 1")
        self._flatten(node)

    def op_Reshape(self, node):
        target = self.constant(node, 1, "shape").astype(np.int64)
        size = self.plans[self.source(node).plan].size
        batch_kept = len(target) == 2 and ((target[0] in (-1, 0) and target[1] in (-1, size)) or
                                           (target[0] >= 1 and target[1] == size))
        if not batch_kept:
            _fail(node, f"reshapes to {target.tolist()}", "only reshapes to (batch, features) convert")
        self._flatten(node)


def plan_onnx(model, classifier=True):
    """LayerPlans in the graph's (topological) order, the input first; raises ConversionError naming the node.
    ``classifier`` demands what a spiking read-out needs: a Gemm/MatMul layer at the end."""
    return _Importer(model).run(classifier)


def onnx_activations(model, plans, x):
    """The ONNX model's own activation of every plan on ``x`` (N, *plans[0].shape), channels-last, the
    input first; a softmax layer contributes its logits (what the spiking output layer represents)."""
    import onnx
    from onnx.reference import ReferenceEvaluator
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    wanted = [plan.output_layer for plan in plans[1:]]
    logits = {p.output_layer: p for p in plans if p.activation == "softmax"}
    for node in probe.graph.node:  # read a softmax layer's input (the logits) instead of its output
        if node.op_type == "Softmax" and node.output[0] in logits:
            wanted[wanted.index(node.output[0])] = node.input[0]
    del probe.graph.output[:]
    probe.graph.output.extend([onnx.helper.make_empty_tensor_value_info(name) for name in wanted])
    evaluator = ReferenceEvaluator(probe)
    feed = x if len(plans[0].shape) == 1 else x.transpose(0, 3, 1, 2)
    results = evaluator.run(None, {plans[0].output_layer: np.ascontiguousarray(feed, dtype=np.float32)})
    values = [x]
    for plan, value in zip(plans[1:], results):
        value = np.asarray(value)
        values.append(value.transpose(0, 2, 3, 1) if value.ndim == 4 and len(plan.shape) == 3 else
                      value.reshape(len(x), *plan.shape))
    return values


def onnx_outputs(model, plans, x):
    """The ONNX model's output on ``x`` (N, *plans[0].shape, channels-last)."""
    from onnx.reference import ReferenceEvaluator
    feed = x if len(plans[0].shape) == 1 else x.transpose(0, 3, 1, 2)
    return np.asarray(ReferenceEvaluator(model).run(None, {plans[0].output_layer: np.ascontiguousarray(
        feed, dtype=np.float32)})[0]).reshape(len(x), -1)


def unsupported_nodes(model):
    """(node name, op type) of every node the importer has no rule for (what `annsnn info` lists)."""
    return [(node.name or node.output[0], node.op_type) for node in model.graph.node
            if not hasattr(_Importer, "op_" + node.op_type)]
