"""A hand-written network: 800 excitatory and 200 inhibitory Izhikevich neurons (Izhikevich 2003),
four independent copies simulated at once through the batch dimension."""
import numpy as np

import annsnn

izhikevich = annsnn.Neuron(
    parameters="""
        a = 0.02
        b = 0.2
        c = -65.0
        d = 8.0
        noise = 5.0 : population
    """,
    equations="""
        I = noise * Normal(0.0, 1.0) + g_exc - g_inh
        dv/dt = 0.04 * v^2 + 5.0 * v + 140.0 - u + I : init=-65.0, min=-90.0
        du/dt = a * (b * v - u) : init=-13.0
    """,
    spike="v >= 30.0",
    reset="v = c; u += d",
    name="Izhikevich",
)

rng = np.random.default_rng(0)
net = annsnn.Network(dt=0.5, batch_size=4, seed=1)
exc = net.create(800, izhikevich, name="excitatory")
inh = net.create(200, izhikevich, name="inhibitory")
r = rng.uniform(size=(4, 200))  # heterogeneous inhibitory cells, as in the paper
inh.a, inh.b = 0.02 + 0.08 * r, 0.25 - 0.05 * r
exc.noise = [2.0, 4.0, 6.0, 8.0]           # one noise level per batch item
inh.noise = 2.0
for pre, w, target in ((exc, 0.5, "exc"), (inh, 1.0, "inh")):
    for post in (exc, inh):
        net.connect(pre, post, target, rng.uniform(0, w, (pre.size, post.size)).astype(np.float32))
spikes = net.monitor(exc, ["spike"])
net.simulate(2000)  # 1 s of biological time
rates = spikes.mean_rate().mean(axis=1)
for noise, rate in zip([2.0, 4.0, 6.0, 8.0], rates):
    print(f"noise {noise:.0f}: mean excitatory rate {rate:6.1f} Hz")
