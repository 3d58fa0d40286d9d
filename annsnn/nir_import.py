"""A NIR graph → an annsnn Network, its neurons generated from NIR's ODEs in annsnn's equation syntax.

Neuron nodes (IF, LIF, LI, CubaLIF, I, Threshold) and the Input node become populations; the nodes on the
edges between them (Affine, Linear, Conv2d, Scale, SumPool2d, AvgPool2d, Flatten) become projections.
NIR's ODEs are integrated with explicit Euler at ``dt``: a spike adds its weight to the post neuron's
input current in the step after it is emitted (in the same step with ``propagation="same_step"`` for
feed-forward edges), the membrane integrates r times the current, then the spike test and the reset.
An Affine bias is a constant current of the post neurons. CubaLIF's synaptic current i follows
tau_syn di/dt = -i + w_in (input + bias) and the membrane tau_mem dv/dt = (v_leak - v) + r i, both
with Euler from the state of the step before. NIR images are (C, H, W);
populations are (H, W, C), and parameters and weights are re-ordered accordingly.
"""
import numpy as np

from .errors import ConversionError
from .models import Constant, IB, PSO, Poisson
from .network import Network
from .neuron import Neuron

NEURON_KINDS = ("IF", "LIF", "LI", "CubaLIF", "I", "Threshold")
EDGE_KINDS = ("Affine", "Linear", "Conv2d", "Scale", "SumPool2d", "AvgPool2d", "Flatten")
RESETS = ("zero", "subtract")
INPUT_MODELS = {"Constant": Constant, "Poisson": Poisson, "IB": IB, "PSO": PSO}
#: The Input node's population unless told otherwise: a constant current ``x`` per neuron, sent every step.
NIR_INPUT = Neuron(parameters="x = 0.0", equations="r = x", output="r", name="NIR_Input")


def _text(value):
    value = value.decode() if isinstance(value, bytes) else value
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def neuron_for(kind, reset, v_min=None, graded_output=False):
    """The annsnn Neuron of a NIR neuron kind, written as NIR's equations."""
    bound = ", min=v_min" if v_min is not None else ""
    floor_parameter = "\nv_min = 0.0 : population" if v_min is not None else ""
    reset_text = "v -= v_threshold - v_reset" if reset == "subtract" else "v = v_reset"
    if kind == "IF":
        return Neuron(parameters="r = 1.0\nv_threshold = 1.0\nv_reset = 0.0\nv0 = 0.0\nbias = 0.0" + floor_parameter,
                      equations=f"dv/dt = r * (g_exc + bias) : init=v0{bound}", spike="v > v_threshold",
                      reset=reset_text, name=f"NIR_IF_{reset}")
    if kind == "LIF":
        return Neuron(parameters="tau = 1.0\nr = 1.0\nv_leak = 0.0\nv_threshold = 1.0\nv_reset = 0.0\nv0 = 0.0\n"
                                 "bias = 0.0" + floor_parameter,
                      equations=f"tau * dv/dt = (v_leak - v) + r * (g_exc + bias) : init=v0{bound}",
                      spike="v > v_threshold", reset=reset_text, name=f"NIR_LIF_{reset}")
    if kind == "CubaLIF":  # the synaptic current i integrates its input like the membrane does
        return Neuron(parameters="tau_syn = 1.0\ntau_mem = 1.0\nr = 1.0\nv_leak = 0.0\nv_threshold = 1.0\n"
                                 "v_reset = 0.0\nw_in = 1.0\nv0 = 0.0\nbias = 0.0" + floor_parameter,
                      equations="tau_syn * di/dt = -i + w_in * (g_exc + bias)\n"
                                f"tau_mem * dv/dt = (v_leak - v) + r * i : init=v0{bound}",
                      spike="v > v_threshold", reset=reset_text, name=f"NIR_CubaLIF_{reset}")
    if kind == "LI":
        return Neuron(parameters="tau = 1.0\nr = 1.0\nv_leak = 0.0\nv0 = 0.0\nbias = 0.0",
                      equations="tau * dv/dt = (v_leak - v) + r * (g_exc + bias) : init=v0",
                      output="v" if graded_output else None, name="NIR_LI")
    if kind == "I":
        return Neuron(parameters="r = 1.0\nv0 = 0.0\nbias = 0.0", equations="dv/dt = r * (g_exc + bias) : init=v0",
                      output="v" if graded_output else None, name="NIR_I")
    return Neuron(parameters="threshold = 0.0\nbias = 0.0", equations="x = g_exc + bias", spike="x > threshold",
                  name="NIR_Threshold")


def _geometry(shape):
    """A population geometry from a NIR (C, H, W) or (N,) shape."""
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else (int(np.prod(shape)),)


def _channels_last(values, shape):
    """NIR-ordered values of a node of ``shape`` as a population's flat (H, W, C) order."""
    values = np.broadcast_to(np.asarray(values, dtype=np.float64), tuple(int(s) for s in shape))
    return values.transpose(1, 2, 0).reshape(-1) if values.ndim == 3 else values.reshape(-1)


class _Importer:
    def __init__(self, graph, dt, reset, propagation, input_neuron, batch_size, seed):
        self.graph, self.metadata = graph, {k: _text(v) for k, v in (graph.metadata or {}).items()}
        dt = self.metadata.get("dt", 1.0) if dt is None else dt
        written = self.metadata.get("reset")  # "per node": each node's metadata says, else NIR's zero
        self.reset = reset or (written if written in RESETS else "zero")
        if self.reset not in RESETS:
            raise ConversionError(f"reset must be one of {', '.join(RESETS)}, got {reset!r}")
        self.net = Network(dt=float(dt), batch_size=batch_size, seed=seed,
                           propagation=propagation or self.metadata.get("propagation", "next_step"))
        name = input_neuron or self.metadata.get("input_neuron")
        if isinstance(name, Neuron):
            self.input_neuron = name
        elif name is None:
            self.input_neuron = NIR_INPUT
        elif name in INPUT_MODELS:
            self.input_neuron = INPUT_MODELS[name]
        else:
            raise ConversionError(f"input_neuron must be an annsnn.Neuron or one of {', '.join(INPUT_MODELS)}, got "
                                  f"{name!r}")
        self.populations, self.biases = {}, {}

    def fail(self, name, problem, remedy):
        node = self.graph.nodes.get(name)
        raise ConversionError(f"NIR node '{name}' ({type(node).__name__}): {problem}; {remedy}")

    def node_shape(self, name):
        node = self.graph.nodes[name]
        shape = (node.output_type or {}).get("output")
        if shape is None:
            shape = next(iter((node.input_type or {}).values()), None)
        if shape is None:
            self.fail(name, "has no shape", "write the graph with nir's type inference (infer_types)")
        return np.asarray(shape).astype(int)

    def run(self):
        nodes, edges = self.graph.nodes, list(self.graph.edges)
        for name, node in nodes.items():
            kind = type(node).__name__
            if kind not in NEURON_KINDS + EDGE_KINDS + ("Input", "Output"):
                self.fail(name, "this node type is not supported",
                          f"supported: {', '.join(NEURON_KINDS + EDGE_KINDS)}, Input, Output")
        successors, sources = {}, {}
        for source, target in edges:
            successors.setdefault(source, []).append(target)
            sources.setdefault(target, []).append(source)
        inputs = [n for n, node in nodes.items() if type(node).__name__ == "Input"]
        if len(inputs) != 1:
            raise ConversionError(f"a NIR graph must have one Input node, this one has {len(inputs)}")
        graded = {n for n in nodes if type(nodes[n]).__name__ in ("LI", "I") and
                  any(type(nodes[t]).__name__ != "Output" for t in successors.get(n, []))}
        is_population = {n for n in nodes if type(nodes[n]).__name__ in NEURON_KINDS} | set(inputs)
        order = self.topological(inputs[0], successors)
        for name in order:  # populations in the update order: each after those feeding it
            if name in is_population:
                self.add_population(name, name in graded)
        # projections add into their targets in the writer's order when it left one (NIR's edge list
        # has no order), else in graph order
        position = {n: i for i, n in enumerate(order)}
        listed = [n for n in str(self.metadata.get("projection_order", "")).split("\n") if n]
        position.update({n: i - len(listed) for i, n in enumerate(listed)})
        arriving = sorted(((self.chain_to(source, sources, is_population), target)
                           for source, target in edges if target in is_population),
                          key=lambda pair: (position[pair[0][-1]], position[pair[1]]))
        for chain, target in arriving:
            self.connect(chain, target)
        for name, bias in self.biases.items():
            self.populations[name].bias = bias
        self.net.reset()  # start values that depend on parameters set above (v0)
        return self.net

    def topological(self, start, successors):
        """Nodes from ``start`` on, each after every node feeding it; nodes on cycles after the rest."""
        indegree = {n: 0 for n in self.graph.nodes}
        for targets in successors.values():
            for target in targets:
                indegree[target] += 1
        ready, order = [start], []
        while ready:
            name = ready.pop(0)
            order.append(name)
            for target in successors.get(name, []):
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)
        return order + [n for n in self.graph.nodes if n not in order]

    def chain_to(self, name, sources, is_population):
        """[population, edge node, ...] that ends in edge node (or population) ``name``."""
        chain = [name]
        while chain[0] not in is_population:
            previous = sources.get(chain[0], [])
            if len(previous) != 1:
                self.fail(chain[0], f"has {len(previous)} inputs", "give each edge node exactly one input")
            chain.insert(0, previous[0])
        return chain

    def add_population(self, name, graded):
        node = self.graph.nodes[name]
        kind = type(node).__name__
        shape = self.node_shape(name)
        if kind == "Input":
            self.populations[name] = self.net.create(_geometry(shape), self.input_neuron, name=name)
            return
        metadata = {k: _text(v) for k, v in (node.metadata or {}).items()}
        reset = metadata.get("reset") if metadata.get("reset") in RESETS else self.reset
        v_min = metadata.get("v_min")
        pop = self.net.create(_geometry(shape), neuron_for(kind, reset, v_min, graded), name=name)
        fields = dict(IF=("r", "v_threshold", "v_reset"), LIF=("tau", "r", "v_leak", "v_threshold", "v_reset"),
                      LI=("tau", "r", "v_leak"), CubaLIF=("tau_syn", "tau_mem", "r", "v_leak", "v_threshold",
                                                          "v_reset", "w_in"), I=("r",), Threshold=("threshold",))[kind]
        for field in fields:
            value = getattr(node, field)
            if value is None:
                continue
            pop.set(field, _channels_last(value, shape))
        if "v0" in metadata and "v0" in pop.attributes():
            pop.v0 = _channels_last(metadata["v0"], shape)
        if v_min is not None:
            pop.v_min = float(v_min)
        self.populations[name] = pop

    def connect(self, chain, end):
        """One projection from the population of chain[0] through the edge nodes chain[1:] into ``end``."""
        pre, post = self.populations[chain[0]], self.populations[end]
        steps = [self.graph.nodes[n] for n in chain[1:]]
        kinds = [type(s).__name__ for s in steps]
        flatten = [k for k in kinds if k == "Flatten"]
        weighted = [(n, s) for n, s in zip(chain[1:], steps) if type(s).__name__ != "Flatten"]
        if len(weighted) > 1:
            self.fail(weighted[1][0], f"follows {type(weighted[0][1]).__name__} '{weighted[0][0]}' with no neuron "
                      "between them", "combine consecutive linear nodes into one before export")
        name = f"{chain[-1]}" if chain[1:] else f"{chain[0]}_to_{end}"
        if not weighted:  # an identity edge; through a Flatten, NIR's (C, H, W) order picks the post neuron
            if pre.size != post.size:
                self.fail(end, f"receives {pre.size} values for {post.size} neurons", "check the graph's shapes")
            target = np.arange(pre.size)
            if flatten and len(pre.geometry) == 3:
                h, w, c = pre.geometry
                target = np.arange(pre.size).reshape(c, h, w).transpose(1, 2, 0).reshape(-1)  # (h, w, c) -> its CHW index
            return self.net.connect_from_arrays(pre, post, np.arange(pre.size), target, np.ones(pre.size), name=name)
        step_name, step = weighted[0]
        kind = type(step).__name__
        if kind in ("Affine", "Linear"):
            weights = np.asarray(step.weight, dtype=np.float64).T  # (in, out)
            if len(pre.geometry) == 3:  # NIR columns follow the flattened (C, H, W) image
                if not flatten:
                    self.fail(step_name, f"receives the image '{chain[0]}' without a Flatten", "add a Flatten node")
                h, w, c = pre.geometry
                weights = weights.reshape(c, h, w, -1).transpose(1, 2, 0, 3).reshape(h * w * c, -1)
            if weights.shape != (pre.size, post.size):
                self.fail(step_name, f"maps {weights.shape[0]} to {weights.shape[1]} values between populations of "
                          f"{pre.size} and {post.size}", "check the graph's shapes")
            if kind == "Affine" and np.any(step.bias):
                self._add_bias(end, post, _channels_last(np.asarray(step.bias, dtype=np.float64).reshape(
                    self.node_shape(end)), self.node_shape(end)))
            return self.net.connect(pre, post, weights=weights, name=name)
        if kind == "Conv2d":
            if step.groups != 1 or np.any(np.asarray(step.dilation) != 1):
                self.fail(step_name, "groups or dilation other than 1", "use groups=1, dilation=1")
            padding = step.padding
            if isinstance(padding, (str, bytes)):
                padding = _text(padding)
            else:
                pad = np.broadcast_to(np.asarray(padding, dtype=int).reshape(-1), (2,))
                padding = ((int(pad[0]), int(pad[0])), (int(pad[1]), int(pad[1])))
            kernel = np.asarray(step.weight, dtype=np.float64).transpose(2, 3, 1, 0)
            stride = tuple(int(s) for s in np.broadcast_to(np.asarray(step.stride).reshape(-1), (2,)))
            if np.any(step.bias):
                bias = np.asarray(step.bias, dtype=np.float64).reshape(-1)
                self._add_bias(end, post, np.tile(bias, post.size // bias.size))
            return self.net.connect_convolution(pre, post, kernel, stride=stride, padding=padding, name=name)
        if kind == "Scale":
            scale = _channels_last(step.scale, self.node_shape(chain[0]) if len(pre.geometry) == 3 else (pre.size,))
            return self.net.connect_from_arrays(pre, post, np.arange(pre.size), np.arange(pre.size),
                                                scale, name=name)
        pool = tuple(int(k) for k in np.broadcast_to(np.asarray(step.kernel_size).reshape(-1), (2,)))
        stride = tuple(int(s) for s in np.broadcast_to(np.asarray(step.stride).reshape(-1), (2,)))
        pad = np.broadcast_to(np.asarray(step.padding, dtype=int).reshape(-1), (2,))
        padding = ((int(pad[0]), int(pad[0])), (int(pad[1]), int(pad[1])))
        if kind == "AvgPool2d":
            return self.net.connect_pooling(pre, post, "mean", pool, stride=stride, padding=padding, name=name,
                                            count_include_pad=True)
        # SumPool2d: a per-channel window of ones (a convolution with an identity across channels)
        c = pre.geometry[-1]
        kernel = np.zeros(pool + (c, c))
        kernel[:, :, np.arange(c), np.arange(c)] = 1.0
        return self.net.connect_convolution(pre, post, kernel, stride=stride, padding=padding, name=name)

    def _add_bias(self, end, post, bias):
        """A constant input current of the post neurons, in their (H, W, C) order; biases of several edges add."""
        if "bias" not in post.attributes():
            self.fail(end, "receives an Affine or Conv2d bias but has no constant input", "drop the bias")
        self.biases[end] = self.biases.get(end, 0.0) + bias


def import_nir(graph_or_path, dt=None, reset=None, propagation=None, input_neuron=None, batch_size=1, seed=None):
    """Build a Network from a NIR graph (or a file written with ``nir.write``).

    ``dt`` (ms per step; default the graph's metadata, else 1.0), ``reset`` ("zero": to v_reset, as NIR
    states; "subtract": minus the threshold; default the metadata's), ``propagation`` (Network's;
    default the metadata's, else "next_step") and ``input_neuron`` (a Neuron for the Input node, or the
    name of an annsnn input model; default the metadata's, else a constant current ``x`` per neuron).
    """
    from .nir_export import _nir
    nir = _nir()
    if not hasattr(graph_or_path, "nodes"):
        try:
            graph_or_path = nir.read(str(graph_or_path))
        except FileNotFoundError:
            raise ConversionError(f"NIR file not found: {graph_or_path}") from None
        except Exception as exc:  # h5py and nir raise many kinds for malformed files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConversionError(f"cannot read NIR graph {graph_or_path}: {first}") from None
    return _Importer(graph_or_path, dt, reset, propagation, input_neuron, batch_size, seed).run()
