"""CUBA (Brette et al. 2007, benchmark 2) in annsnn: current-based synapses, as in the paper's equations.

    python benchmarks/cuba.py [--neurons 4000] [--seed 1]

4,000 leaky integrate-and-fire neurons, 80 % excitatory, random connections (2 %: 80 inputs per
neuron), exponentially decaying synaptic currents, 5 ms refractoriness; 1 s at dt = 0.1 ms.
benchmarks/peers_coba_cuba.py runs it side by side with Brian2 and ANNarchy.
"""
import numpy as np

import annsnn
from coba import balanced_network, main, run  # noqa: F401  (run: the shared measurement, used by peers_coba_cuba.py)

CUBA = annsnn.Neuron(
    parameters="""
        tau = 20.0 : population
        Vr = -60.0 : population
        Vt = -50.0 : population
        El = -49.0 : population
        tau_exc = 5.0 : population
        tau_inh = 10.0 : population
    """,
    equations="""
        tau * dv/dt = (El - v) + g_exc + g_inh
        tau_exc * dg_exc/dt = -g_exc : exponential
        tau_inh * dg_inh/dt = -g_inh : exponential
    """,
    spike="v > Vt",
    reset="v = Vr",
    refractory=5.0,
    name="CUBA",
)


def build(neurons=4000, probability=None, seed=1, num_threads=None):
    """The network, its population and spike monitor."""
    net, pop = balanced_network(CUBA, neurons, probability, seed, num_threads, w_exc=1.62, w_inh=-9.0)
    pop.v = np.random.default_rng(seed).uniform(-60.0, -50.0, neurons)
    return net, pop, net.monitor(pop, "spike")


if __name__ == "__main__":
    main(build, __doc__)
