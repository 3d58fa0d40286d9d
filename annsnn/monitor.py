"""Monitor: per-step recordings of population variables and spikes, for every batch item."""
import numpy as np

from .errors import NetworkError
from annsnn.codegen.render import RECORD_FIELDS

_NO_POINTER = 0


class Monitor:
    """Records ``variables`` of ``population`` every ``period`` steps.

    ``get(name)`` returns an array of shape (records, B, n) for a variable
    and, for ``"spike"``, a list with one ``{neuron: step array}`` dict per
    batch item. ``neurons`` limits recording to a subset of neuron indices and
    ``start``/``stop`` to a range of steps (counted from the last reset), so a
    long run need not grow without bound. Spikes are kept as bits, one per neuron and recorded step
    (an eighth of a byte raster). ``reset`` empties the recordings.
    """

    def __init__(self, network, population, variables, neurons=None, period=1, start=0, stop=None):
        if isinstance(variables, str):
            variables = [variables]
        variables = list(variables)
        known = set(population.attributes()) | ({"spike"} if population.spec.spiking else set())
        for name in variables:
            if name not in known:
                raise NetworkError(f"monitor: population '{population.name}' has nothing called '{name}' "
                                   f"(recordable: {', '.join(sorted(known))})")
            if name in population.attributes() and population.get(name).ndim == 1:
                raise NetworkError(f"monitor: '{name}' is a population-wide parameter; read it directly")
        if int(period) < 1:
            raise NetworkError(f"monitor: period must be >= 1, got {period}")
        self.network, self.population, self.variables = network, population, variables
        self.period = int(period)
        self.start, self.stop = int(start), None if stop is None else int(stop)
        if self.start < 0 or (self.stop is not None and self.stop < self.start):
            raise NetworkError(f"monitor: need 0 <= start <= stop, got start={start}, stop={stop}")
        if neurons is None:
            self.neurons = None
        else:
            self.neurons = np.asarray(neurons, dtype=np.int64).ravel()
            if self.neurons.size == 0 or self.neurons.min() < 0 or self.neurons.max() >= population.size:
                raise NetworkError(f"monitor: neuron indices must lie in [0, {population.size})")
        n = population.size if self.neurons is None else len(self.neurons)
        self.n_columns = n
        # gather map for variables, scatter map (neuron -> column or -1) for spikes
        self._gather = None if self.neurons is None else self.neurons.astype(np.int32)
        if self.neurons is None:
            self._scatter = None
        else:
            self._scatter = np.full(population.size, -1, dtype=np.int32)
            self._scatter[self.neurons] = np.arange(n, dtype=np.int32)
        self._chunks = {name: [] for name in variables}
        self._steps = []          # network step of each record (of item 0)

    def _tasks(self, n_steps, step_offset):
        """Allocate this call's buffers; return task rows for the generated recorder."""
        # steps start, start + period, ... (< stop) that fall in [step_offset, step_offset + n_steps)
        end = step_offset + n_steps if self.stop is None else min(step_offset + n_steps, self.stop)
        first = max(self.start, step_offset)
        first += (self.start - first) % self.period
        if first >= end:
            return []
        rows = -(-(end - first) // self.period)
        batch = self.network.batch_size
        tasks = []
        for name in self.variables:
            if name == "spike":
                chunk = np.zeros((rows, batch, (self.n_columns + 7) // 8), dtype=np.uint8)  # bits: 1/8 of a raster
                source = self.population._spikes
                counts, columns, kind = self.population._n_spikes.ctypes.data, self._scatter, 1
            else:
                chunk = np.full((rows, batch, self.n_columns), np.nan, dtype=np.float32)
                source = self.population.get(name)
                counts, columns, kind = _NO_POINTER, self._gather, 0
            self._chunks[name].append(chunk)
            row = dict(kind=kind, n_source=self.population.size, n_columns=self.n_columns, period=self.period,
                       first=first - step_offset, last=end - step_offset, source=source.ctypes.data, counts=counts,
                       columns=_NO_POINTER if columns is None else columns.ctypes.data, dest=chunk.ctypes.data)
            tasks.append([row[f] for f in RECORD_FIELDS])
        self._steps.append(np.arange(first, end, self.period))
        return tasks

    def steps(self):
        """The simulation step at which each record was taken."""
        return np.concatenate(self._steps) if self._steps else np.zeros(0, dtype=np.int64)

    def _data(self, name):
        """Recorded values, (records, B, n); for "spike" the packed bits, (records, B, ceil(n / 8))."""
        if name not in self._chunks:
            raise NetworkError(f"monitor: '{name}' is not recorded (recorded: {', '.join(self.variables)})")
        chunks = self._chunks[name]
        if not chunks:
            dtype = np.uint8 if name == "spike" else np.float32
            width = (self.n_columns + 7) // 8 if name == "spike" else self.n_columns
            return np.zeros((0, self.network.batch_size, width), dtype=dtype)
        return np.concatenate(chunks) if len(chunks) > 1 else chunks[0]

    def _events(self, item):
        """(record rows, columns) of one item's recorded spikes, from the bits without unpacking the raster."""
        packed = self._data("spike")[:, item, :]
        rows, byte = np.nonzero(packed)
        bits = np.unpackbits(packed[rows, byte][:, None], axis=1, bitorder="little")
        event, bit = np.nonzero(bits)
        return rows[event], byte[event] * 8 + bit

    def get(self, name):
        data = self._data(name)
        if name != "spike":
            return data
        steps = self.steps()
        columns = self.neurons if self.neurons is not None else np.arange(self.n_columns)
        result = []
        for item in range(data.shape[1]):
            rows, cols = self._events(item)
            order = np.argsort(cols, kind="stable")
            rows, cols = rows[order], cols[order]
            bounds = np.flatnonzero(np.diff(cols)) + 1
            result.append({int(columns[c[0]]): steps[r] for r, c in zip(np.split(rows, bounds), np.split(cols, bounds))
                           if len(c)})
        return result

    def raster(self, item=0):
        """(steps, neuron indices) of every recorded spike of one batch item, for scatter plots."""
        rows, cols = self._events(item)
        columns = self.neurons if self.neurons is not None else np.arange(self.n_columns)
        return self.steps()[rows], columns[cols]

    def mean_rate(self):
        """(B, n) mean firing rate in Hz (dt in ms) over the recorded steps."""
        records = self._data("spike").shape[0]
        seconds = records * self.period * self.network.dt / 1000.0
        return self.spike_counts() / seconds if records else np.zeros((self.network.batch_size, self.n_columns))

    def histogram(self):
        """(records, B): number of recorded neurons spiking at each recorded step."""
        data = self._data("spike")
        return np.stack([np.bincount(self._events(item)[0], minlength=data.shape[0])
                         for item in range(data.shape[1])], axis=1).astype(np.int64)

    def spike_raster(self):
        """(records, B, n) uint8: 1 where a neuron spiked (unpacked from the recorded bits)."""
        return np.unpackbits(self._data("spike"), axis=2, count=self.n_columns, bitorder="little")

    def spike_counts(self):
        """(B, n) spike counts over everything recorded."""
        data = self._data("spike")
        return np.stack([np.bincount(self._events(item)[1], minlength=self.n_columns)
                         for item in range(data.shape[1])]).astype(np.int64)

    def reset(self):
        self._chunks = {name: [] for name in self.variables}
        self._steps = []

    def __repr__(self):
        return f"Monitor({self.population.name!r}, {self.variables})"
