"""Independent NumPy re-implementation of IaF, IB and PSO networks, for testing only.

Written from the model descriptions, in float32 and in the order the
equations are written, with the same explicit Euler scheme and step order:
deliver the previous step's spikes, update every population, spike, reset.
"""
import numpy as np

f32 = np.float32


class IaFLayer:
    def __init__(self, batch, size, vt=1.0, vr=0.0):
        self.v = np.zeros((batch, size), f32)
        self.vt, self.vr = f32(vt), f32(vr)

    def step(self, g, t, dt):
        self.v = self.v + dt * g
        self.v = np.where(self.v < f32(-2.0), f32(-2.0), self.v)
        spikes = self.v > self.vt
        self.v = np.where(spikes, self.vr, self.v)
        return spikes


class IBLayer:
    def __init__(self, rates):
        self.rates = rates.astype(f32)
        self.v = np.full(rates.shape, -55.0, f32)
        self.u = np.full(rates.shape, -13.0, f32)
        self.a, self.b, self.c, self.d = f32(0.02), f32(0.2), f32(-55.0), f32(4.0)

    def step(self, g, t, dt):
        v, u = self.v, self.u
        dv = 0.04 * (v * v) + 5.0 * v + 140.0 - u + self.rates
        du = self.a * (self.b * v - u)
        v, u = v + dt * dv, u + dt * du
        spikes = v > f32(30.0)
        self.v = np.where(spikes, self.c, v)
        self.u = np.where(spikes, u + self.d, u)
        return spikes


class PSOLayer:
    def __init__(self, rates, k=8.0, vt=1.0):
        self.rates, self.k, self.vt = rates.astype(f32), f32(k), f32(vt)

    def step(self, g, t, dt):
        mod = t - self.k * np.floor(t / self.k)
        phase = f32(2.0) ** (-(f32(1.0) + mod))
        return self.rates > self.vt * phase


def deliver(spikes, weights):
    """Sum the weight rows of the spiking pre neurons, one row at a time in index order."""
    g = np.zeros((spikes.shape[0], weights.shape[1]), f32)
    for item in range(spikes.shape[0]):
        for j in np.flatnonzero(spikes[item]):
            g[item] = g[item] + weights[j]
    return g


def run_chain(layers, weights, n_steps, dt=1.0):
    """Layers in a feed-forward chain; returns one (steps, B, N) spike raster per layer."""
    dt = f32(dt)
    previous = [None] * len(layers)
    rasters = [[] for _ in layers]
    for step in range(n_steps):
        t = f32(step) * dt
        inputs = [None] + [deliver(previous[i], w) if previous[i] is not None else 0.0
                           for i, w in enumerate(weights)]
        for i, layer in enumerate(layers):
            g = inputs[i] if i else None
            if i and not isinstance(g, np.ndarray):
                g = np.zeros(layer.v.shape, f32)
            previous[i] = layer.step(g, t, dt)
            rasters[i].append(previous[i].astype(np.uint8))
    return [np.stack(r) for r in rasters]
