"""Projections: weights and geometry of the connections between populations."""
import numpy as np

from annsnn.codegen.printer import float_literal
from .buffers import aligned_zeros
from .errors import InputError, NetworkError


class Projection:
    """What every projection kind shares: its ends, its target input and the template context.

    A pre population whose neuron declares an ``output`` variable sends that value, weighted,
    instead of spikes (``graded``).
    """
    kind = ""

    def __init__(self, network, index, pre, post, target, name):
        self.network, self.index, self.name = network, index, name
        self.pre, self.post, self.target = pre, post, target
        input_name = f"g_{target}"
        if input_name not in post.spec.inputs:
            raise NetworkError(f"projection '{name}': population '{post.name}' (neuron '{post.neuron.name}') has no "
                               f"input '{input_name}'; its equations use: {', '.join(post.spec.inputs) or 'none'}")
        if pre.spec.output is None and not pre.spec.spiking:
            raise NetworkError(f"projection '{name}': population '{pre.name}' neither spikes nor declares an output")
        self.graded = pre.spec.output
        self.payload = pre.spec.payload  # a pre variable that weights each spike (graded spikes), see send_payload
        self.delay_steps = 0     # 0: the propagation's own timing (see Network); else steps, through a ring
        self._ring = aligned_zeros(0)

    def send_variable(self, variable):
        """Send the pre population's ``variable`` every step, weighted, instead of its spikes (a trace of
        the spikes, say)."""
        if variable not in self.pre.spec.variables:
            raise NetworkError(f"projection '{self.name}': population '{self.pre.name}' (neuron "
                               f"'{self.pre.neuron.name}') has no variable '{variable}' to send; it has: "
                               f"{', '.join(self.pre.spec.variables) or 'none'}")
        self.graded, self.payload = variable, None  # values every step replace the spikes and their payload
        self.network._module = None  # the kernel reads another buffer

    def send_payload(self, variable):
        """Weight each spike by the pre neuron's ``variable`` as it is at the end of its spike step, after
        the reset (graded spikes, as on Loihi 2; a reset may compute the payload): an event of neuron j
        adds ``w * variable[j]``. Still event-driven: only the neurons that spiked send. Max pooling adds
        each window's largest payload of the step (0 if none is positive); with ``max_rule="count"`` a
        spike counts as many spikes as its (whole) payload says."""
        if not self.pre.spec.spiking:
            raise NetworkError(f"projection '{self.name}': population '{self.pre.name}' does not spike, so it "
                               "has no spikes to weight by a payload")
        if variable not in self.pre.spec.variables:
            raise NetworkError(f"projection '{self.name}': population '{self.pre.name}' (neuron "
                               f"'{self.pre.neuron.name}') has no variable '{variable}' to send as a payload; it "
                               f"has: {', '.join(self.pre.spec.variables) or 'none'}")
        if self.graded:
            raise NetworkError(f"projection '{self.name}' sends '{self.graded}' every step; a payload weights "
                               "spikes, so it cannot have one")
        self.payload = variable
        self.network._module = None  # the kernel reads another buffer

    def set_delay(self, delay):
        """One delay for all synapses, in ms: an event of step n reaches the post update of step
        n + round(delay / dt) (at least 1). The events wait in a ring buffer of (B, slots, post.size)."""
        steps = delay_steps(delay, self.network.dt, self.name)
        if steps.ndim != 0:
            raise NetworkError(f"projection '{self.name}': a {self.kind} projection takes one delay for all its "
                               "synapses; per-synapse delays need a sparse projection")
        self._make_ring(int(steps))

    def _make_ring(self, max_steps):
        self.network._module = None  # new buffers and slot counts: generate and bind again
        self.delay_steps = int(max_steps)
        self._ring = aligned_zeros((self.network.batch_size, self.ring_slots, self.post.size))

    @property
    def ring_slots(self):
        return self.delay_steps + 1

    @property
    def delayed(self):
        return self.delay_steps > 0

    def buffer_fields(self):
        """(field name, C type, array) of the projection's own buffers."""
        return []

    def delay_fields(self):
        return [(f"proj{self.index}_ring", "float", self._ring)] if self.delayed else []

    def reset(self):
        """Projection state back to its initial value (most kinds have none)."""

    def clear_delayed(self):
        """Drop the events still on their way (network reset)."""
        self._ring.fill(0.0)

    def template_context(self, **extra):
        return dict(name=self.name, prefix=f"proj{self.index}", kind=self.kind, pre_name=self.pre.name,
                    post_name=self.post.name, pre_prefix=f"pop{self.pre.index}", post_prefix=f"pop{self.post.index}",
                    post_index=self.post.index, target=f"g_{self.target}", graded=self.graded or "",
                    payload=self.payload or "", n_pre=self.pre.size, n_post=self.post.size, **extra)

    def timing_context(self, lag):
        """Where events go. ``lag`` (0 or 1) is how many steps old the pre spikes are when the projection
        runs (see Network's propagation). Undelayed: the post input; delayed: the ring slot of the step
        they reach, step - lag + delay."""
        post_row = f"P.pop{self.post.index}_g_{self.target} + b * {self.post.size}"
        if not self.delayed:
            return dict(destination=post_row, delayed=False, lag=lag)
        slots = self.ring_slots
        slot = f"(step + {self.delay_steps - lag}) % {slots}" if self.delay_steps != lag else f"step % {slots}"
        return dict(destination=f"P.proj{self.index}_ring + (b * {slots} + {slot}) * {self.post.size}",
                    delayed=True, lag=lag, slots=slots, post_row=post_row)


def delay_steps(delay, dt, name):
    """Delays in ms (a number or an array) as whole steps of dt, each at least 1."""
    try:
        value = np.asarray(delay, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"projection '{name}': delays must be numbers (ms), got {type(delay).__name__}") from None
    if not np.isfinite(value).all():
        raise InputError(f"projection '{name}': delays must be finite")
    steps = np.rint(value / dt).astype(np.int64)
    if steps.size and steps.min() < 1:
        raise InputError(f"projection '{name}': a delay of {value.ravel()[np.argmin(steps.ravel())]} ms is shorter "
                         f"than one step (dt = {dt} ms); leave delays out for the shortest timing")
    if steps.size and steps.max() > 1_000_000:
        raise InputError(f"projection '{name}': delays longer than 10^6 steps are not supported")
    return steps


class DenseProjection(Projection):
    """All-to-all, event-driven: each pre spike adds its weight row to ``g_<target>`` of the post neurons.

    ``w`` has shape (pre.size, post.size).
    """
    kind = "dense"

    def __init__(self, network, index, pre, post, target, weights, name):
        super().__init__(network, index, pre, post, target, name)
        self._w = aligned_zeros((pre.size, post.size))
        self.w = weights

    @property
    def w(self):
        """Weights, (pre.size, post.size) float32, shared by all batch items (zero-copy)."""
        return self._w

    @w.setter
    def w(self, weights):
        weights = np.asarray(weights, dtype=np.float32)
        if weights.ndim not in (0, 2) or (weights.ndim == 2 and weights.shape != self._w.shape):
            raise InputError(f"projection '{self.name}': weights must be a scalar or of shape "
                             f"(pre={self.pre.size}, post={self.post.size}), got {weights.shape}")
        if not np.isfinite(weights).all():
            raise InputError(f"projection '{self.name}': weights contain NaN or inf")
        np.copyto(self._w, weights)

    def buffer_fields(self):
        return [(f"proj{self.index}_w", "float", self._w)]

    def fan_out(self):
        """(pre.size,) synaptic events caused by one event of each pre neuron."""
        return np.full(self.pre.size, self.post.size, dtype=np.int64)


    def __repr__(self):
        return f"DenseProjection({self.pre.name!r} -> {self.post.name!r}, target={self.target!r})"


class OneToOneProjection(Projection):
    """Neuron j of pre drives one post neuron; with ``channel_offset`` the pre channels land in a channel
    range of a wider post (Concatenate), positions unchanged.

    ``weight`` is one number, compiled into the kernel, or one per pre channel (a buffer, ``w``), which
    channel-wise normalisation needs where branches with different channel scales meet.
    """
    kind = "identity"

    def __init__(self, network, index, pre, post, target, weight, channel_offset, name):
        super().__init__(network, index, pre, post, target, name)
        self.pre_channels, self.post_channels = pre.geometry[-1], post.geometry[-1]
        self.offset = int(channel_offset)
        if (pre.size // self.pre_channels != post.size // self.post_channels
                or not 0 <= self.offset <= self.post_channels - self.pre_channels):
            raise NetworkError(f"projection '{name}': {pre.geometry} does not fit into {post.geometry} at "
                               f"channel offset {self.offset}")
        weight = np.asarray(weight, dtype=np.float64)
        if weight.ndim not in (0, 1) or (weight.ndim == 1 and weight.shape != (self.pre_channels,)):
            raise InputError(f"projection '{name}': weight must be a number or one per pre channel "
                             f"({self.pre_channels},), got shape {weight.shape}")
        if not np.isfinite(weight).all():
            raise InputError(f"projection '{name}': weight must be finite")
        self.per_channel = weight.ndim == 1
        self.weight = weight.astype(np.float32) if self.per_channel else float(weight)
        self._w = aligned_zeros(self.pre_channels if self.per_channel else 0)
        if self.per_channel:
            np.copyto(self._w, self.weight)

    def buffer_fields(self):
        return [(f"proj{self.index}_w", "float", self._w)] if self.per_channel else []

    def fan_out(self):
        return np.ones(self.pre.size, dtype=np.int64)

    def template_context(self):
        return super().template_context(C_PRE=self.pre_channels, C_POST=self.post_channels, OFFSET=self.offset,
                                        per_channel=self.per_channel,
                                        weight="per channel" if self.per_channel else float_literal(self.weight))
