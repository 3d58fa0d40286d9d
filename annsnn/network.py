"""Network: owns dt, batch size, seed and the objects; compiles and simulates them."""
import logging
import math
import os

import numpy as np

from annsnn.codegen.build import build_module
from annsnn.codegen.kernels import build_neuron_kernel
from annsnn.codegen.render import RECORD_FIELDS, render_network
from .errors import InputError, NetworkError, NumericalError
from .monitor import Monitor
from . import connectivity
from .version import __version__
from .population import Population, PopulationView
from .convolution import ConvolutionProjection, PoolingProjection
from .projection import DenseProjection, OneToOneProjection
from .sparse_projection import SparseProjection
from .spike_source import SpikeSourceArray

log = logging.getLogger("annsnn")

#: "next_step": every projection delivers a step's events in the following step (one step of delay).
#: "same_step": populations receive and update in creation order, so a projection from an earlier
#: population delivers within the step (a feed-forward chain has no delay); from the same or a later
#: population, in the following step.
PROPAGATIONS = ("next_step", "same_step")


def default_threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


class Network:
    """B independent copies of a spiking network that share their weights.

    >>> net = Network(dt=1.0, batch_size=16, seed=1)
    >>> pop = net.create(100, annsnn.models.IaF, name="hidden")

    All state lives here; the generated C++ works on raw pointers into the
    NumPy buffers of the populations, projections and monitors. ``propagation`` sets when events
    arrive (see PROPAGATIONS).
    """

    def __init__(self, dt=1.0, batch_size=1, seed=None, num_threads=None, name="network", propagation="next_step"):
        if not (isinstance(dt, (int, float)) and math.isfinite(dt) and dt > 0):
            raise NetworkError(f"dt must be a positive number, got {dt!r}")
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise NetworkError(f"batch_size must be a positive integer, got {batch_size!r}")
        if propagation not in PROPAGATIONS:
            raise NetworkError(f"propagation must be one of {', '.join(map(repr, PROPAGATIONS))}, got {propagation!r}")
        self.propagation = propagation
        self.dt = float(dt)
        self.batch_size = int(batch_size)
        self.seed = int(np.random.SeedSequence().entropy % 2 ** 63) if seed is None else int(seed) % 2 ** 64
        self.num_threads = default_threads() if num_threads is None else max(1, int(num_threads))
        self.name = name
        # Neurons of an input population with identical parameters and state share one update
        # (results are identical either way; False forces the per-neuron path, for comparisons).
        self.deduplicate = True
        self.populations, self.projections, self.monitors = [], [], []
        self.build_info = None
        self._module = None
        self._raw = None
        self._item_step = np.zeros(self.batch_size, dtype=np.int64)
        self._sample_id = np.arange(self.batch_size, dtype=np.int64)
        self._stop_step = np.full(self.batch_size, -1, dtype=np.int64)

    # -- building -------------------------------------------------------------------
    def _unique_name(self, name, prefix, existing):
        name = name or f"{prefix}{len(existing)}"
        if any(obj.name == name for obj in existing):
            raise NetworkError(f"a {prefix.rstrip('_')} named '{name}' already exists in this network")
        return name

    def create(self, geometry, neuron, name=None):
        """Add a population of ``neuron``; ``geometry`` is an int or a shape such as (28, 28, 1)."""
        name = self._unique_name(name, "population_", self.populations)
        pop = Population(self, len(self.populations), geometry, neuron, name)
        self.populations.append(pop)
        self._module = None
        return pop

    def create_spike_source(self, spike_times, name=None):
        """Neurons that spike at given times: ``spike_times[i]`` lists neuron i's times in ms (the same in
        every batch item); see SpikeSourceArray."""
        name = self._unique_name(name, "population_", self.populations)
        pop = SpikeSourceArray(self, len(self.populations), spike_times, name)
        self.populations.append(pop)
        self._module = None
        return pop

    def _own(self, pop, role, views=False):
        base = pop.population if views and isinstance(pop, PopulationView) else pop
        if isinstance(pop, PopulationView) and not views:
            raise NetworkError(f"{role} {pop!r} is a population view: only sparse projections (connect_fixed_"
                               "probability, connect_from_arrays, ...) take views")
        if not isinstance(base, Population) or base.network is not self:
            raise NetworkError(f"{role} must be a population created by this network, got {pop!r}")

    def connect(self, pre, post, target="exc", weights=1.0, name=None, source=None, payload=None, delays=None):
        """Dense, event-driven projection; ``weights`` is a scalar or a (pre.size, post.size) array.

        Every ``connect*`` takes ``source``: a variable of ``pre`` sent every step, weighted, instead of
        its spikes (for example the spike trace of models.with_spike_trace); ``payload``: a variable of
        ``pre`` that weights each of its spikes (see Projection.send_payload); and ``delays`` in ms: an
        event of step n reaches the post update of step n + round(delays / dt) (see PROPAGATIONS for the
        timing without delays)."""
        return self._add_projection(DenseProjection, pre, post, name, target, weights, source=source,
                                    payload=payload, delays=delays)

    def _add_projection(self, cls, pre, post, name, *args, source=None, payload=None, delays=None):
        views = cls is SparseProjection
        self._own(pre, "pre", views)
        self._own(post, "post", views)
        name = self._unique_name(name, "projection_", self.projections)
        proj = cls(self, len(self.projections), pre, post, *args, name)
        if source is not None:
            proj.send_variable(source)
        if payload is not None:
            proj.send_payload(payload)
        if delays is not None:
            proj.set_delay(delays)
        self.projections.append(proj)
        self._module = None
        return proj

    def connect_convolution(self, pre, post, kernel, target="exc", stride=1, padding="same", name=None,
                            source=None, payload=None, delays=None):
        """Shared-kernel convolution between (H, W, C) populations; ``kernel`` is (KH, KW, C_in, C_out)
        as Keras stores it. ``padding``: 'same', 'valid' or ((top, bottom), (left, right)) cells. The post
        geometry must be the convolution's output shape."""
        return self._add_projection(ConvolutionProjection, pre, post, name, kernel, target, stride, padding,
                                    source=source, payload=payload, delays=delays)

    def connect_pooling(self, pre, post, operation="max", pool_size=2, target="exc", stride=None,
                        padding="valid", name=None, max_rule="winner", source=None, payload=None, delays=None,
                        count_include_pad=False):
        """Max or mean pooling per channel (stride defaults to the pool size); the post geometry is
        (OH, OW, C), or (C,) for a global pooling window. ``max_rule`` says how max pooling treats spikes
        (see PoolingProjection); a mean divides by the cells of the window inside the image, or by the
        whole window with ``count_include_pad``."""
        return self._add_projection(PoolingProjection, pre, post, name, operation, pool_size, target, stride,
                                    padding, max_rule, count_include_pad, source=source, payload=payload,
                                    delays=delays)

    def connect_one_to_one(self, pre, post, target="exc", weight=1.0, channel_offset=0, name=None, source=None,
                           payload=None, delays=None):
        """Neuron j of ``pre`` drives the matching neuron of ``post`` (channels shifted by ``channel_offset``
        when ``post`` has more channels); the weight is compiled into the kernel."""
        return self._add_projection(OneToOneProjection, pre, post, name, target, weight, channel_offset,
                                    source=source, payload=payload, delays=delays)

    # -- sparse projections: pre and post may be views, pop[a:b] ------------------------------
    def connect_fixed_probability(self, pre, post, probability, weights=1.0, target="exc", delays=None,
                                  allow_self_connections=False, seed=None, name=None, source=None, payload=None):
        """Sparse: each (pre, post) pair is connected with ``probability``. ``seed`` (default: from the
        network's seed and the projection's index) fixes the draw; self-connections are left out unless
        allowed. ``weights`` and ``delays`` (ms) are scalars or one per synapse, in storage order."""
        return self._connect_pattern(pre, post, connectivity.fixed_probability, (probability,), weights, target,
                                     delays, allow_self_connections, seed, name, source, payload)

    def connect_fixed_number_pre(self, pre, post, number, weights=1.0, target="exc", delays=None,
                                 allow_self_connections=False, seed=None, name=None, source=None, payload=None):
        """Sparse: each post neuron receives from ``number`` distinct pre neurons drawn at random."""
        return self._connect_pattern(pre, post, connectivity.fixed_number_pre, (number,), weights, target,
                                     delays, allow_self_connections, seed, name, source, payload)

    def connect_fixed_number_post(self, pre, post, number, weights=1.0, target="exc", delays=None,
                                  allow_self_connections=False, seed=None, name=None, source=None, payload=None):
        """Sparse: each pre neuron projects to ``number`` distinct post neurons drawn at random."""
        return self._connect_pattern(pre, post, connectivity.fixed_number_post, (number,), weights, target,
                                     delays, allow_self_connections, seed, name, source, payload)

    def connect_all_to_all(self, pre, post, weights=1.0, target="exc", delays=None, allow_self_connections=False,
                           name=None, source=None, payload=None):
        """Sparse all-to-all (every pair a synapse of its own); ``connect`` is the dense form."""
        self._own_ends(pre, post)
        self_offset = self._self_offset(pre, post, allow_self_connections)
        synapses = connectivity.all_to_all(pre.size, post.size, self_offset)
        return self._add_projection(SparseProjection, pre, post, name, target, synapses, weights, source=source,
                                    payload=payload, delays=delays)

    def connect_from_arrays(self, pre, post, pre_indices, post_indices, weights=1.0, target="exc", delays=None,
                            name=None, source=None, payload=None):
        """Sparse: synapse k joins pre_indices[k] to post_indices[k]; weights and delays per synapse follow
        that order (repeated pairs are separate synapses)."""
        self._own_ends(pre, post)
        synapses = connectivity.from_arrays(pre_indices, post_indices, pre.size, post.size)
        return self._add_projection(SparseProjection, pre, post, name, target, synapses, weights, source=source,
                                    payload=payload, delays=delays)

    def connect_from_sparse(self, pre, post, matrix, target="exc", delays=None, name=None, source=None,
                            payload=None):
        """Sparse: the stored entries of a (pre.size, post.size) ``scipy.sparse`` matrix are the synapses
        and their weights (delays per synapse follow the matrix's row-major order of entries)."""
        self._own_ends(pre, post)
        pre_index, post_index, weights = connectivity.from_sparse_matrix(matrix, pre.size, post.size)
        return self._add_projection(SparseProjection, pre, post, name, target, (pre_index, post_index), weights,
                                    source=source, payload=payload, delays=delays)

    def _self_offset(self, pre, post, allow_self_connections):
        """Where a neuron meets itself in (pre, post) pattern indices: post = pre + offset (None: never)."""
        base = [end.population if isinstance(end, PopulationView) else end for end in (pre, post)]
        if allow_self_connections or base[0] is not base[1]:
            return None
        return getattr(pre, "start", 0) - getattr(post, "start", 0)

    def _own_ends(self, pre, post):
        self._own(pre, "pre", views=True)
        self._own(post, "post", views=True)

    def _connect_pattern(self, pre, post, pattern, args, weights, target, delays, allow_self, seed, name, source,
                         payload):
        self._own_ends(pre, post)
        rng = np.random.default_rng([self.seed % 2 ** 63, len(self.projections)] if seed is None else seed)
        synapses = pattern(pre.size, post.size, *args, rng, self._self_offset(pre, post, allow_self))
        return self._add_projection(SparseProjection, pre, post, name, target, synapses, weights, source=source,
                                    payload=payload, delays=delays)

    def monitor(self, population, variables, neurons=None, period=1, start=0, stop=None):
        """Record ``variables`` (names, or "spike") of ``population``; no rebuild needed.

        ``neurons``, ``period`` and the step range [``start``, ``stop``) bound what is kept."""
        self._own(population, "the monitored object")
        mon = Monitor(self, population, variables, neurons=neurons, period=period, start=start, stop=stop)
        self.monitors.append(mon)
        return mon

    def get_population(self, name):
        for pop in self.populations:
            if pop.name == name:
                return pop
        raise NetworkError(f"no population named '{name}' (have: {', '.join(p.name for p in self.populations)})")

    # -- compiling --------------------------------------------------------------------
    def _buffer_fields(self):
        fields = []
        for pop in self.populations:
            fields += pop.buffer_fields()
        for proj in self.projections:
            fields += proj.buffer_fields() + proj.delay_fields()
        fields += [("item_step", "int64_t", self._item_step), ("sample_id", "int64_t", self._sample_id),
                   ("stop_step", "int64_t", self._stop_step)]
        return fields

    def _stop_ids(self):
        ids, counter = {}, 0
        for pop in self.populations:
            for text in pop.stop_conditions:
                ids[(pop.index, text)] = counter
                counter += 1
        return ids

    def generate(self):
        """The generated sources, {file name: text}, without compiling them."""
        if not self.populations:
            raise NetworkError("the network has no populations")
        stop_ids = self._stop_ids()
        # grouped updates keep per-neuron rows stale until the call ends: not for populations that
        # receive events or whose values are sent (graded, or as payloads of spikes) to projections
        coupled = {proj.post.index for proj in self.projections}
        coupled |= {proj.pre.index for proj in self.projections if proj.graded or proj.payload}
        kernels = [pop.kernel([(stop_ids[(pop.index, t)], t) for t in pop.stop_conditions])
                   if isinstance(pop, SpikeSourceArray) else
                   build_neuron_kernel(pop.index, pop.spec, pop.size,
                                       [(stop_ids[(pop.index, t)], t) for t in pop.stop_conditions],
                                       independent=pop.index not in coupled)
                   for pop in self.populations]
        context = dict(
            version=__version__, network_name=self.name, kernels=kernels,
            buffers=[dict(name=name, ctype=ctype) for name, ctype, _ in self._buffer_fields()],
            populations=[dict(name=p.name, neuron=p.neuron.name) for p in self.populations],
            projections=[dict(p.template_context(), **p.timing_context(self._lag(p))) for p in self.projections],
            same_step=self.propagation == "same_step",
        )
        return render_network(context)

    def _lag(self, proj):
        """Steps between a pre spike and the propagation that sees it: 0 for a same_step projection from
        an earlier population, else 1."""
        return 0 if self.propagation == "same_step" and proj.pre.index < proj.post.index else 1

    def compile(self):
        """Generate, build (or load from the cache) and bind the extension; returns BuildInfo."""
        module, info = build_module(self.generate())
        fields = self._buffer_fields()
        if tuple(module.BUFFER_FIELDS) != tuple(name for name, _, _ in fields):
            raise NetworkError("internal error: generated buffer layout does not match the network")
        self._module, self.build_info = module, info
        self._raw = np.array([array.ctypes.data for _, _, array in fields], dtype=np.uint64)
        log.info("network '%s' %s in %.2f s", self.name, "compiled" if info.compiled else "loaded from cache",
                 info.seconds)
        return info

    @property
    def compiled(self):
        return self._module is not None

    # -- running --------------------------------------------------------------------------
    @property
    def sample_ids(self):
        """Per batch item sample number; random draws depend on it, not on the batch slot."""
        return self._sample_id

    @sample_ids.setter
    def sample_ids(self, ids):
        ids = np.asarray(ids, dtype=np.int64)
        if ids.shape != (self.batch_size,):
            raise InputError(f"sample_ids must have shape ({self.batch_size},), got {ids.shape}")
        np.copyto(self._sample_id, ids)

    @property
    def current_step(self):
        """(B,) steps simulated by each item since the last reset."""
        return self._item_step

    @property
    def t(self):
        return float(self._item_step.max()) * self.dt

    def _items(self, items):
        if items is None:
            return self.batch_size
        if not 0 <= int(items) <= self.batch_size:
            raise InputError(f"items must lie in [0, {self.batch_size}], got {items}")
        return int(items)

    def _run(self, n_steps, items, stop_id, check):
        if not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
            raise InputError(f"the number of steps must be a non-negative integer, got {n_steps!r}")
        if self._module is None:
            self.compile()
        n_items = self._items(items)
        if n_steps == 0 or n_items == 0:
            return
        offset = int(self._item_step[0])
        recorded = {mon.population.index for mon in self.monitors if any(v != "spike" for v in mon.variables)}
        for pop in self.populations:  # grouped updates leave per-neuron state stale until the call ends
            pop._dedupe[0] = self.deduplicate and not check and pop.index not in recorded
            pop._dedupe[1:] = 0
        tasks = [row for mon in self.monitors for row in mon._tasks(int(n_steps), offset)]
        tasks = np.asarray(tasks, dtype=np.int64).ravel() if tasks else np.zeros(0, dtype=np.int64)
        fault = np.full((n_items, 4), -1, dtype=np.int64)
        self._module.simulate(self._raw.ctypes.data, n_items, self.batch_size, int(n_steps), stop_id,
                              self.num_threads, tasks.ctypes.data, tasks.size // len(RECORD_FIELDS), self.seed,
                              self.dt, bool(check), fault.ctypes.data)
        if check and (fault[:, 0] >= 0).any():
            item = int(np.argmax(fault[:, 0] >= 0))
            pop_index, var_index, step, neuron = (int(x) for x in fault[item])
            pop = self.populations[pop_index]
            variable = pop.spec.variables[var_index]
            raise NumericalError(f"population '{pop.name}': variable '{variable}' became "
                                 f"{pop.get(variable)[item, neuron]} at step {step} (batch item {item}, "
                                 f"neuron {neuron})")

    def simulate(self, n_steps, items=None, check=False):
        """Run ``n_steps`` for the first ``items`` batch items (default all).

        ``check=True`` stops at the first NaN/inf and raises NumericalError naming it.
        """
        self._run(n_steps, items, -1, check)

    def simulate_until(self, max_steps, population, condition="spiked : any", items=None, check=False):
        """Run each item until ``condition`` holds in ``population`` or ``max_steps`` pass.

        ``condition`` is an expression of the population's names and ``spiked``,
        optionally followed by ``: any`` (default) or ``: all`` over neurons.
        Returns the (items,) steps at which each item stopped, -1 where it never did.
        Items that stop are frozen for the rest of the call.
        """
        self._own(population, "population")
        if condition not in population.stop_conditions:
            population.check_stop_condition(condition)  # raises before any build
            population.stop_conditions.append(condition)
            self._module = None
        n_items = self._items(items)
        self._stop_step[:n_items] = -1
        stop_id = self._stop_ids()[(population.index, condition)] if self._module is not None else None
        if stop_id is None:
            self.compile()
            stop_id = self._stop_ids()[(population.index, condition)]
        self._run(max_steps, n_items, stop_id, check)
        return self._stop_step[:n_items].copy()

    def last_stop_steps(self, items=None):
        """(items,) steps each item ran before its stop condition held in the last simulate_until (-1: never)."""
        return self._stop_step[:self._items(items)].copy()

    def reset(self, populations=True, monitors=True):
        """Variables to their initial values, clocks to 0, recordings emptied. Weights and parameters stay."""
        if populations:
            for pop in self.populations:
                pop.reset()
            for proj in self.projections:
                proj.reset()
                proj.clear_delayed()
            self._item_step.fill(0)
            self._stop_step.fill(-1)
        if monitors:
            for mon in self.monitors:
                mon.reset()

    def __repr__(self):
        return (f"Network({self.name!r}, batch_size={self.batch_size}, populations={len(self.populations)}, "
                f"projections={len(self.projections)})")
