"""A converted network → a NIR graph (Neuromorphic Intermediate Representation, Pedersen et al. 2024).

Populations become neuron nodes (IF for the integrate-and-fire models, I for the membrane read-out),
their input population an Input node; projections become the edge nodes between them: dense → Affine
(or Linear), convolution → Conv2d with symmetric padding, mean pooling → SumPool2d with the 1/k² folded
into the pooled neurons' resistance r, one-to-one (residual) → Scale. NIR is channels-first: kernels go
as (C_out, C_in, kH, kW), images as (C, H, W), and a Flatten precedes a dense layer fed by an image,
whose weight columns are re-ordered to (C, H, W).

NIR has no field for the reset rule, dt, start potentials or the lower bound of the membrane: annsnn
writes them into metadata (graph: ``dt``, ``reset``, ``propagation``, ``input_neuron``; node: ``reset``,
``v0``, ``v_min``). Other importers are known to differ on IF nodes: some reset to v_reset (zero),
some subtract the threshold; read the metadata or check.
"""
import numpy as np

from .errors import ConversionError

#: annsnn neuron model → (NIR node kind, reset rule).
NEURON_NODES = {"IaF": ("IF", "zero"), "IaF_ReadOut": ("IF", "zero"), "IF_subtract": ("IF", "subtract"),
                "IF_subtract_ReadOut": ("IF", "subtract"), "IaF_Acc": ("I", "")}
INPUT_NEURONS = ("Constant", "Poisson", "IB", "PSO")


def _nir():
    try:
        import nir
    except ImportError:
        raise ConversionError("NIR export and import need the nir package: pip install 'annsnn[nir]'") from None
    return nir


def _first_item(array, name, what):
    """A per-neuron (B, N) or shared (B,) buffer as item 0's values, checked equal across items."""
    if not (array == array[:1]).all():
        raise ConversionError(f"population '{name}': {what} differs between batch items; NIR holds one network")
    return array[0]


def _channels_first(values, geometry):
    """(N,) values of a (H, W, C) population in NIR's (C, H, W) order; 1-D populations unchanged."""
    values = np.asarray(values, dtype=np.float32)
    if len(geometry) == 3:
        return values.reshape(geometry).transpose(2, 0, 1)
    return values.reshape(geometry)


def _neuron_node(nir, pop):
    kind, reset = NEURON_NODES.get(pop.neuron.name, (None, None))
    if kind is None:
        hint = (" (its spikes carry a payload, which NIR's nodes cannot; convert with "
                "ANNtoSNNConverter(..., hidden_neuron='IF_subtract') to export)" if pop.spec.payload else "")
        raise ConversionError(f"population '{pop.name}' (neuron '{pop.neuron.name}') has no NIR counterpart"
                              f"{hint}; exportable neurons: {', '.join(NEURON_NODES)}")
    shape = pop.geometry
    ones = _channels_first(np.ones(pop.size), shape)
    metadata = {}
    if "v0" in pop.attributes():
        metadata["v0"] = _channels_first(_first_item(pop.v0, pop.name, "v0"), shape)
    lower = [eq.lower for eq in pop.spec.equations if eq.name == "v"]
    if lower and lower[0] is not None:
        metadata["v_min"] = float(lower[0])
    if kind == "I":
        return nir.I(r=ones, metadata=metadata)
    threshold = float(_first_item(pop.vt, pop.name, "vt"))
    v_reset = float(_first_item(pop.vr, pop.name, "vr")) if "vr" in pop.attributes() else 0.0
    metadata["reset"] = reset
    return nir.IF(r=ones, v_threshold=ones * threshold, v_reset=ones * v_reset, metadata=metadata)


def _bias_of(pop, shape_kind):
    """The population's constant input current: per neuron for Affine, per channel for Conv2d."""
    if "bias" not in pop.attributes():
        return None
    bias = _first_item(pop.bias, pop.name, "bias").astype(np.float32)
    if shape_kind == "conv":
        per_channel = bias.reshape(-1, pop.geometry[-1])
        if not (per_channel == per_channel[:1]).all():
            raise ConversionError(f"population '{pop.name}': its bias differs within a channel; NIR's Conv2d "
                                  "holds one bias per output channel")
        return per_channel[0]
    return bias


def _symmetric_padding(proj):
    """The (top, left) padding of a projection, refused where NIR's symmetric padding cannot state it."""
    h, w = proj.pre.geometry[:2]
    window = proj._window()
    padding = []
    for axis, size in enumerate((h, w)):
        before = proj.pad[axis]
        if (size + 2 * before - window[axis]) // proj.stride[axis] + 1 != proj.out[axis]:
            raise ConversionError(f"projection '{proj.name}': its padding on axis {axis} ({before} before, more or "
                                  "less after) cannot be stated in NIR, whose padding is symmetric; Keras' 'same' "
                                  "padding at stride 2 is the usual cause: use 'valid' or odd sizes")
        padding.append(before)
    return tuple(padding)


def _edge_nodes(nir, proj, r_scale, node_name):
    """[(node name, node)] that carry projection ``proj`` (in order), Flatten first where needed."""
    pre, post, name = proj.pre, proj.post, proj.name
    chain = []
    if proj.kind == "dense":
        weights = np.asarray(proj.w, dtype=np.float32)
        if len(pre.geometry) == 3:  # rows of an (H, W, C) population -> NIR's flattened (C, H, W)
            h, w, c = pre.geometry
            weights = weights.reshape(h, w, c, -1).transpose(2, 0, 1, 3).reshape(h * w * c, -1)
            chain.append((f"{node_name}_flatten", nir.Flatten(input_type={"input": np.array([c, h, w])}, start_dim=0)))
        bias = _bias_of(post, "dense")
        node = nir.Affine(weight=weights.T.copy(), bias=bias) if bias is not None and bias.any() else \
            nir.Linear(weight=weights.T.copy())
        chain.append((node_name, node))
    elif proj.kind == "conv":
        h, w, _ = pre.geometry
        bias = _bias_of(post, "conv")
        kernel = np.asarray(proj.w, dtype=np.float32).transpose(3, 2, 0, 1).copy()
        chain.append((node_name, nir.Conv2d(input_shape=(h, w), weight=kernel, stride=proj.stride,
                                       padding=_symmetric_padding(proj), dilation=1, groups=1,
                                       bias=bias if bias is not None else np.zeros(kernel.shape[0], np.float32))))
    elif proj.kind == "pool":
        if proj.operation != "mean" or proj.graded:
            raise ConversionError(f"projection '{name}': {proj.operation} pooling of spikes has no NIR node; "
                                  "only average pooling exports (as SumPool2d)")
        if any(proj.pad) or proj.count_include_pad:
            raise ConversionError(f"projection '{name}': padded pooling cannot be stated as SumPool2d")
        chain.append((node_name, nir.SumPool2d(kernel_size=np.array(proj.pool_size), stride=np.array(proj.stride),
                                          padding=np.array([0, 0]))))
        r_scale[post.name] = 1.0 / float(np.prod(proj.pool_size))  # the mean's 1/k², on the pooled neurons
    elif proj.kind == "identity":
        if proj.offset or proj.pre_channels != proj.post_channels:
            raise ConversionError(f"projection '{name}': concatenation (channel offsets) has no NIR node")
        weight = np.broadcast_to(np.asarray(proj.weight if not proj.per_channel else proj._w, np.float32),
                                 (pre.size // proj.pre_channels, proj.pre_channels)).reshape(-1)
        chain.append((node_name, nir.Scale(scale=_channels_first(weight, pre.geometry))))
    else:
        raise ConversionError(f"projection '{name}' ({proj.kind}) has no NIR counterpart")
    if proj.delayed or (proj.graded and pre.index != 0):
        raise ConversionError(f"projection '{name}': delays and graded values between hidden layers do not export")
    if proj.payload:
        raise ConversionError(f"projection '{name}': spikes weighted by a payload ('{proj.payload}') have no NIR "
                              "counterpart")
    return chain


def _node_names(network):
    """A NIR node name per population and projection: HDF5 group names, so no '/' (PyTorch's ONNX
    names such as '/fc1/Gemm' have them), unique."""
    names, taken = {}, set()
    for obj in list(network.populations) + list(network.projections):
        base = obj.name.replace("/", "_").strip("_") or "node"
        name, k = base, 1
        while name in taken or name in ("output",):
            name, k = f"{base}_{k}", k + 1
        taken.add(name)
        names[obj.name] = name
    return names


def network_to_nir(network, input_neuron=None):
    """The NIR graph of a Network built like the converter's (see the module docstring)."""
    nir = _nir()
    traced = [proj.name for proj in network.projections if proj.graded == "mask"]
    if traced:
        raise ConversionError(f"projections {', '.join(traced)} send ANNarchy's spike trace (conv_trace), which "
                              "NIR's nodes cannot state; convert with conv_trace=False")
    inputs = [p for p in network.populations if p.neuron.name in INPUT_NEURONS]
    if len(inputs) != 1 or inputs[0] is not network.populations[0]:
        raise ConversionError("NIR export needs exactly one input population, created first "
                              f"(an input model: {', '.join(INPUT_NEURONS)})")
    first, names = inputs[0], _node_names(network)
    nodes = {names[first.name]: nir.Input(input_type={"input": np.array(_channels_first(
        np.zeros(first.size), first.geometry).shape)})}
    edges, r_scale, chains = [], {}, {}
    for proj in network.projections:
        chains[proj.name] = _edge_nodes(nir, proj, r_scale, names[proj.name])
    for pop in network.populations[1:]:
        node = _neuron_node(nir, pop)
        if pop.name in r_scale:
            node.r = node.r * np.float32(r_scale[pop.name])
        nodes[names[pop.name]] = node
    for proj in network.projections:
        previous = names[proj.pre.name]
        for name, node in chains[proj.name]:
            nodes[name] = node
            edges.append((previous, name))
            previous = name
        edges.append((previous, names[proj.post.name]))
    last = names[network.populations[-1].name]
    nodes["output"] = nir.Output(output_type={"output": np.array(nodes[last].r.shape)})
    edges.append((last, "output"))
    resets = {NEURON_NODES[p.neuron.name][1] for p in network.populations[1:] if NEURON_NODES[p.neuron.name][1]}
    metadata = dict(producer="annsnn", dt=float(network.dt), propagation=network.propagation,
                    input_neuron=input_neuron or inputs[0].neuron.name,
                    reset=resets.pop() if len(resets) == 1 else "per node",
                    # the order projections add into their targets (NIR's edge list has none)
                    projection_order="\n".join(chains[proj.name][-1][0] for proj in network.projections))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def export_nir(converted, path):
    """Write a converted network (an ANNtoSNNConverter after load_*_model, or a Network) to ``path`` with
    ``nir.write``; returns the graph."""
    nir = _nir()
    network = getattr(converted, "network", converted)
    if network is None or not hasattr(network, "populations"):
        raise ConversionError("export_nir needs a converter with a loaded model, or a Network")
    graph = network_to_nir(network)
    nir.write(str(path), graph)
    return graph
