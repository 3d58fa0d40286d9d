"""Population: geometry and NumPy-owned state buffers of shape (B, N)."""
import math

import numpy as np
import sympy

from .buffers import aligned_full, aligned_zeros
from .errors import InputError, NetworkError
from .neuron import Neuron
from annsnn.codegen.kernels import REFRACTORY_STATE, parse_stop_condition
from annsnn.codegen.render import ITEM_PAD


def _initial_value_functions(spec):
    """name -> (parameter names, function) for variables whose init= is an expression of parameters."""
    functions = {}
    for equation in spec.equations:
        if isinstance(equation.init, sympy.Expr):
            names = sorted(s.name for s in equation.init.free_symbols)
            functions[equation.name] = (names, sympy.lambdify([sympy.Symbol(n, real=True) for n in names],
                                                              equation.init, "numpy"))
    return functions


def _geometry(geometry):
    if isinstance(geometry, (int, np.integer)):
        geometry = (int(geometry),)
    try:
        geometry = tuple(int(g) for g in geometry)
    except TypeError:
        raise NetworkError(f"geometry must be an int or a tuple of ints, got {geometry!r}") from None
    if not geometry or any(g <= 0 for g in geometry):
        raise NetworkError(f"geometry must have positive sizes, got {geometry}")
    return geometry


class Population:
    """A group of identical neurons, B independent copies (one per batch item).

    Parameters and variables read as zero-copy views of shape (B, N), or (B,)
    for ``: population`` parameters; assigning broadcasts a scalar, an (N,),
    a geometry-shaped, a (B, N) or a (B, *geometry) array.
    """

    def __init__(self, network, index, geometry, neuron, name):
        self._check_neuron(neuron, name)
        spec = neuron.spec
        batch = network.batch_size
        geometry = _geometry(geometry)
        size = math.prod(geometry)
        buffers = {}
        for param in spec.parameters:
            shape = (batch,) if param.shared else (batch, size)
            buffers[param.name] = aligned_full(shape, param.value)
        for variable in spec.state_names:
            buffers[variable] = aligned_zeros((batch, size))
        hidden = {}
        if spec.refractory is not None:  # steps of the refractory period left, per neuron
            hidden[REFRACTORY_STATE] = aligned_zeros((batch, size))
        state = dict(network=network, index=index, name=name, neuron=neuron, spec=spec, geometry=geometry,
                     size=size, _buffers=buffers, _hidden=hidden, stop_conditions=[],
                     _initial_functions=_initial_value_functions(spec),
                     _spikes=aligned_zeros((batch, size), np.int32),
                     _counts=aligned_zeros((batch, size), np.int32),
                     _n_spikes=aligned_zeros((batch, ITEM_PAD), np.int32),
                     _dedupe=aligned_zeros(1 + batch, np.int32))
        for key, value in state.items():
            object.__setattr__(self, key, value)
        self.reset()

    @staticmethod
    def _check_neuron(neuron, name):
        if not isinstance(neuron, Neuron):
            raise NetworkError(f"population '{name}': neuron must be an annsnn.Neuron, got {type(neuron).__name__}")

    # -- attribute access --------------------------------------------------------
    def __getattr__(self, name):
        buffers = self.__dict__.get("_buffers", {})
        if name in buffers:
            return buffers[name]
        raise AttributeError(f"population '{self.__dict__.get('name')}' has no attribute '{name}' "
                             f"(model attributes: {', '.join(buffers)})")

    def __setattr__(self, name, value):
        if name in self._buffers:
            self.set(name, value)
        elif name in self.__dict__ or name.startswith("_") or isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)
        else:
            raise AttributeError(f"population '{self.name}' has no attribute '{name}' "
                                 f"(model attributes: {', '.join(self._buffers)})")

    def attributes(self):
        return tuple(self._buffers)

    def set(self, name, value, items=None):
        """Write a parameter or variable; ``items`` restricts it to the first n batch items."""
        target = self._buffers[name]
        if items is not None:
            target = target[:items]
        value = np.asarray(value, dtype=np.float32)
        if np.isnan(value).any():
            raise InputError(f"population '{self.name}': NaN written to '{name}'")
        shared = target.ndim == 1
        if not shared and value.ndim >= len(self.geometry) and value.shape[-len(self.geometry):] == self.geometry:
            value = value.reshape(value.shape[:value.ndim - len(self.geometry)] + (self.size,))
        try:
            np.copyto(target, np.broadcast_to(value, target.shape))
        except ValueError:
            expected = "a scalar or (B,)" if shared else f"a scalar, ({self.size},), {self.geometry} or (B, {self.size})"
            raise InputError(f"population '{self.name}': cannot write shape {value.shape} to '{name}' of shape "
                             f"{target.shape}; expected {expected}") from None

    def get(self, name, shaped=False):
        """The buffer of ``name``; ``shaped=True`` views it as (B, *geometry)."""
        buffer = self._buffers[name]
        return buffer.reshape((buffer.shape[0],) + self.geometry) if shaped and buffer.ndim == 2 else buffer

    def reset(self):
        """Variables back to their initial values; parameters keep what was set."""
        init = self.spec.initial_values()
        for name in self.spec.state_names:
            if name in self._initial_functions:
                self._buffers[name][...] = self._initial_value(name)
            else:
                self._buffers[name].fill(init[name])
        for buffer in self._hidden.values():
            buffer.fill(0)
        self._n_spikes.fill(0)
        self._counts.fill(0)

    def _initial_value(self, name):
        """(B, N) start values of a variable whose init= is an expression of parameters."""
        names, function = self._initial_functions[name]
        # shared parameters are (B,): a column, so that they broadcast over the neurons
        args = [self._buffers[n] if self._buffers[n].ndim == 2 else self._buffers[n][:, None] for n in names]
        value = np.broadcast_to(np.asarray(function(*args), dtype=np.float32), self._buffers[name].shape)
        if not np.isfinite(value).all():
            raise InputError(f"population '{self.name}': init of '{name}' ({self.spec.equations[self.spec.variables.index(name)].init}) "
                             f"is not finite for the parameters set")
        return value

    def check_stop_condition(self, text):
        """(condition, mode) of a simulate_until condition; raises EquationError naming what is wrong."""
        return parse_stop_condition(text, self.spec)

    @property
    def spike_counts(self):
        """(B, N) spikes emitted by each neuron since the last reset (a view; kept by the kernel)."""
        if not self.spec.spiking:
            raise AttributeError(f"population '{self.name}' (neuron '{self.neuron.name}') does not spike")
        return self._counts

    @property
    def update_groups(self):
        """(B,) groups of identical neurons updated as one in the last simulate call, per item
        (0: every neuron updated on its own). Only input populations without randomness group."""
        return self._dedupe[1:].copy()

    def buffer_fields(self):
        """(field name, C type, array) in the order the generated code expects."""
        prefix = f"pop{self.index}"
        fields = [(f"{prefix}_{p.name}", "float", self._buffers[p.name]) for p in self.spec.shared_parameters]
        names = [p.name for p in self.spec.neuron_parameters] + list(self.spec.state_names)
        fields += [(f"{prefix}_{n}", "float", self._buffers[n]) for n in names]
        fields += [(f"{prefix}_{n}", "float", buffer) for n, buffer in self._hidden.items()]
        if self.spec.spiking:
            fields += [(f"{prefix}_spikes", "int32_t", self._spikes), (f"{prefix}_nspikes", "int32_t", self._n_spikes),
                       (f"{prefix}_counts", "int32_t", self._counts), (f"{prefix}_dedupe", "int32_t", self._dedupe)]
        return fields

    def __repr__(self):
        return f"Population({self.name!r}, geometry={self.geometry}, neuron={self.neuron.name!r})"

    def __getitem__(self, index):
        """A contiguous range of neurons, ``pop[start:stop]``, for sparse projections (flat indices)."""
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise NetworkError(f"population '{self.name}': only contiguous slices such as pop[0:100] select "
                               f"neurons, got {index!r}")
        start, stop, _ = index.indices(self.size)
        if stop <= start:
            raise NetworkError(f"population '{self.name}': the slice {index} selects no neuron")
        return PopulationView(self, start, stop)


class PopulationView:
    """Neurons [start, stop) of a population (flat indices), as a projection end."""

    def __init__(self, population, start, stop):
        self.population, self.start, self.stop = population, int(start), int(stop)
        self.size = self.stop - self.start
        self.name = f"{population.name}[{self.start}:{self.stop}]"

    def __repr__(self):
        return f"PopulationView({self.name!r})"
