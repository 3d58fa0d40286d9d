"""ONNX import: plans whose graded (analog) simulation in annsnn's engine equals ONNX's reference evaluator."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

import annsnn  # noqa: E402
from annsnn import ConversionError  # noqa: E402
from annsnn.conversion.onnx_model import plan_onnx  # noqa: E402

#: An analog unit: its graded output is the ReLU (or identity) of its summed input plus bias.
RELU = annsnn.Neuron(parameters="bias = 0.0", equations="r = max(g_exc + bias, 0.0)", output="r", name="AnalogRelu")
LINEAR = annsnn.Neuron(parameters="bias = 0.0", equations="r = g_exc + bias", output="r", name="AnalogLinear")
SOURCE = annsnn.Neuron(parameters="x = 0.0", equations="r = x", output="r", name="AnalogInput")


def analog_outputs(plans, x):
    """Every plan's output after one step of a same_step network of analog units (channels-last)."""
    net = annsnn.Network(batch_size=len(x), propagation="same_step")
    pops = {}
    for plan in plans:
        neuron = SOURCE if plan.kind == "input" else RELU if plan.activation == "relu" else LINEAR
        pop = pops[plan.name] = net.create(plan.shape, neuron, name=plan.name)
        if plan.kind == "input":
            pop.x = x
        elif plan.kind == "dense":
            net.connect(pops[plan.inputs[0]], pop, weights=plan.weights)
        elif plan.kind == "conv":
            net.connect_convolution(pops[plan.inputs[0]], pop, plan.weights, stride=plan.stride, padding=plan.padding)
        elif plan.kind == "pool":
            net.connect_pooling(pops[plan.inputs[0]], pop, plan.operation, plan.pool_size, stride=plan.stride,
                                padding=plan.padding, count_include_pad=plan.count_include_pad)
        else:
            offset = 0
            for name in plan.inputs:
                net.connect_one_to_one(pops[name], pop, channel_offset=offset)
                offset += pops[name].geometry[-1] if plan.kind == "concat" else 0
        if plan.bias is not None:
            pop.bias = np.tile(plan.bias, pop.size // plan.bias.size)
    net.simulate(1)
    return {name: pop.get("r", shaped=True) for name, pop in pops.items()}


def reference(model, x, names):
    """ONNX's own values of tensors ``names`` (channels-last where 4-D)."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    del probe.graph.output[:]
    probe.graph.output.extend([helper.make_empty_tensor_value_info(n) for n in names])
    values = ReferenceEvaluator(probe).run(None, {"x": x.astype(np.float32)})
    return [v.transpose(0, 2, 3, 1) if v.ndim == 4 else v for v in values]


def model_of(nodes, weights, input_shape, output="y"):
    rng = np.random.default_rng(0)
    initializers = [numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name)
                    for name, shape in weights.items()]
    graph = helper.make_graph(nodes, "test", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, *input_shape])],
                              [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return onnx.shape_inference.infer_shapes(model)


def check_against_reference(model, input_shape, n=3):
    x = np.random.default_rng(1).uniform(0, 1, (n, *input_shape)).astype(np.float32)
    plans = plan_onnx(model)
    nhwc = x.transpose(0, 2, 3, 1) if len(input_shape) == 3 else x
    got = analog_outputs(plans, nhwc)
    expected = reference(model, x, [p.output_layer for p in plans[1:]])
    for plan, value in zip(plans[1:], expected):
        np.testing.assert_allclose(got[plan.name].reshape(value.shape), value, rtol=1e-5, atol=1e-5,
                                   err_msg=plan.name)
    return plans


@pytest.mark.parametrize("stride, pads", [(1, [1, 1, 1, 1]), (2, [1, 1, 1, 1]), (2, [0, 1, 2, 0]), (1, [0, 0, 0, 0])])
def test_conv_pool_flatten_gemm_matches_reference(stride, pads):
    nodes = [helper.make_node("Conv", ["x", "k1", "b1"], ["c1"], strides=[stride, stride], pads=pads, name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p1"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "w2", "b2"], ["y"], transB=1, name="fc")]
    oh, ow = (((11 + pads[axis] + pads[axis + 2] - 3) // stride + 1) // 2 for axis in (0, 1))
    model = model_of(nodes, {"k1": (4, 2, 3, 3), "b1": (4,), "w2": (5, 4 * oh * ow), "b2": (5,)}, (2, 11, 11))
    plans = check_against_reference(model, (2, 11, 11))
    assert [p.kind for p in plans] == ["input", "conv", "pool", "dense"]


def test_batch_norm_matmul_add_avgpool_count_include_pad_and_global_pool():
    bn = {"s": (3,), "bb": (3,), "m": (3,), "v": (3,)}
    nodes = [helper.make_node("Conv", ["x", "k1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c1", "s", "bb", "m", "v"], ["n1"], name="bn"),
             helper.make_node("Relu", ["n1"], ["r1"]),
             helper.make_node("AveragePool", ["r1"], ["a1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1],
                              count_include_pad=1),
             helper.make_node("Conv", ["a1", "k2"], ["c2"]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("GlobalAveragePool", ["r2"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("MatMul", ["f", "w3"], ["m3"]),
             helper.make_node("Add", ["m3", "b3"], ["y"])]
    model = model_of(nodes, {"k1": (3, 1, 3, 3), **bn, "k2": (4, 3, 3, 3), "w3": (4, 6), "b3": (6,)}, (1, 9, 9))
    for init in model.graph.initializer:  # a variance must be positive
        if init.name == "v":
            init.CopyFrom(numpy_helper.from_array(np.array([0.5, 1.0, 2.0], np.float32), "v"))
    plans = check_against_reference(model, (1, 9, 9))
    assert plans[1].folded and plans[-1].bias is not None and plans[2].count_include_pad


def test_residual_add_and_channel_concat():
    nodes = [helper.make_node("Conv", ["x", "k1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "k2"], ["c2"], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "r1"], ["s"]),
             helper.make_node("Relu", ["s"], ["r2"]),
             helper.make_node("Concat", ["r2", "r1"], ["cat"], axis=1),
             helper.make_node("Flatten", ["cat"], ["f"]),
             helper.make_node("Gemm", ["f", "w"], ["y"])]
    model = model_of(nodes, {"k1": (3, 2, 3, 3), "k2": (3, 3, 3, 3), "w": (6 * 5 * 5, 4)}, (2, 5, 5))
    plans = check_against_reference(model, (2, 5, 5))
    assert [p.kind for p in plans].count("add") == 1 and [p.kind for p in plans].count("concat") == 1


def test_flatten_order_is_channels_first_on_purpose():
    """A layout slip (reading the flattened image as H, W, C) would pass an MLP test and fail this one."""
    nodes = [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ["f", "w"], ["y"])]
    model = model_of(nodes, {"w": (3 * 2 * 2, 2)}, (3, 2, 2))
    x = np.arange(12, dtype=np.float32).reshape(1, 3, 2, 2) / 12
    plans = plan_onnx(model)
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    np.testing.assert_allclose(x.transpose(0, 2, 3, 1).reshape(1, -1) @ plans[-1].weights, expected, rtol=1e-6)
    assert not np.allclose(x.reshape(1, -1) @ plans[-1].weights, expected)


@pytest.mark.parametrize("node, weights, fragment", [
    (helper.make_node("Sigmoid", ["x"], ["y"], name="squash"), {}, r"'squash' \(Sigmoid\): this operation is not supported"),
    (helper.make_node("Conv", ["x", "k"], ["y"], group=2, name="grouped"), {"k": (2, 1, 3, 3)}, "group=2"),
    (helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[2, 2], ceil_mode=1, name="ceil"), {}, "ceil_mode"),
])
def test_unsupported_nodes_name_the_node_and_the_fix(node, weights, fragment):
    model = model_of([node], weights, (2, 5, 5))
    with pytest.raises(ConversionError, match=fragment):
        plan_onnx(model)


def test_bad_files_get_one_clear_error(tmp_path):
    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ConversionError, match="cannot read ONNX model .*broken.onnx"):
        annsnn.ANNtoSNNConverter().load_onnx_model(bad)
    with pytest.raises(ConversionError, match="not found"):
        annsnn.ANNtoSNNConverter().load_model(tmp_path / "missing.onnx")


PYTORCH_CONVERTED = ["test_Conv2d", "test_Conv2d_no_bias", "test_Conv2d_padding", "test_Conv2d_strided", "test_Linear",
                     "test_Linear_no_bias", "test_MaxPool2d", "test_AvgPool2d", "test_AvgPool2d_stride",
                     "test_BatchNorm2d_eval", "test_BatchNorm2d_momentum_eval"]


@pytest.mark.parametrize("case", PYTORCH_CONVERTED)
def test_old_pytorch_exports_in_the_onnx_wheel(case):
    """PyTorch exports that ship with the onnx wheel (backend test data), with their own inputs and outputs."""
    from pathlib import Path
    folder = Path(onnx.__file__).parent / "backend" / "test" / "data" / "pytorch-converted" / case
    if not folder.is_dir():
        pytest.skip(f"{case} is not in this onnx wheel")
    model = onnx.shape_inference.infer_shapes(onnx.load(str(folder / "model.onnx")))
    tensors = []
    for name in ("input_0.pb", "output_0.pb"):
        proto = onnx.TensorProto()
        proto.ParseFromString((folder / "test_data_set_0" / name).read_bytes())
        tensors.append(numpy_helper.to_array(proto))
    x, expected = tensors
    plans = plan_onnx(model, classifier=False)
    got = analog_outputs(plans, x.transpose(0, 2, 3, 1) if x.ndim == 4 else x)[plans[-1].name]
    got = got.transpose(0, 3, 1, 2) if got.ndim == 4 else got
    np.testing.assert_allclose(got.reshape(expected.shape), expected, rtol=1e-5, atol=1e-5)


def test_cli_info_lists_every_unsupported_node(tmp_path, capsys):
    from annsnn.cli import main
    nodes = [helper.make_node("Sigmoid", ["x"], ["a"], name="first"), helper.make_node("Tanh", ["a"], ["y"], name="second")]
    path = tmp_path / "squash.onnx"
    onnx.save(model_of(nodes, {}, (4,)), str(path))
    assert main(["info", str(path)]) == 1
    out = capsys.readouterr().out
    assert "2 node(s)" in out and "first" in out and "Sigmoid" in out and "second" in out and "Tanh" in out


def test_linear_hidden_layers_and_shared_outputs_are_refused():
    linear = [helper.make_node("Gemm", ["x", "w1"], ["h"], name="hidden"),
              helper.make_node("Gemm", ["h", "w2"], ["y"], name="out")]
    with pytest.raises(ConversionError, match="hidden activation must be relu"):
        plan_onnx(model_of(linear, {"w1": (4, 3), "w2": (3, 2)}, (4,)))
    shared = [helper.make_node("Conv", ["x", "k"], ["c"], pads=[1, 1, 1, 1], name="conv"),
              helper.make_node("Relu", ["c"], ["r"], name="act"),
              helper.make_node("Add", ["c", "r"], ["s"], name="sum"),
              helper.make_node("Flatten", ["s"], ["f"]), helper.make_node("Gemm", ["f", "w"], ["y"])]
    with pytest.raises(ConversionError, match="'act' \\(Relu\\): Relu follows a layer whose output is also read"):
        plan_onnx(model_of(shared, {"k": (2, 1, 3, 3), "w": (2 * 4 * 4, 3)}, (1, 4, 4)))


def test_concat_along_negative_channel_axis():
    nodes = [helper.make_node("Conv", ["x", "k1"], ["a"]), helper.make_node("Relu", ["a"], ["ra"]),
             helper.make_node("Conv", ["x", "k2"], ["b"]), helper.make_node("Relu", ["b"], ["rb"]),
             helper.make_node("Concat", ["ra", "rb"], ["cat"], axis=-3),
             helper.make_node("Flatten", ["cat"], ["f"]), helper.make_node("Gemm", ["f", "w"], ["y"])]
    check_against_reference(model_of(nodes, {"k1": (2, 1, 3, 3), "k2": (3, 1, 3, 3), "w": (5 * 3 * 3, 2)}, (1, 5, 5)),
                            (1, 5, 5))
    nodes[4] = helper.make_node("Concat", ["ra", "rb"], ["cat"], axis=0, name="batch")
    with pytest.raises(ConversionError, match="concatenates along another axis"):
        plan_onnx(model_of(nodes, {"k1": (2, 1, 3, 3), "k2": (3, 1, 3, 3), "w": (5 * 3 * 3, 2)}, (1, 5, 5)))
