"""COBA (Vogels & Abbott 2005; Brette et al. 2007, benchmark 1) in annsnn, as in the papers' equations.

    python benchmarks/coba.py [--neurons 4000] [--seed 1]

4,000 leaky integrate-and-fire neurons, 80 % excitatory, random connections (2 %: 80 inputs per
neuron), exponentially decaying conductances, 5 ms refractoriness; 1 s of biological time at
dt = 0.1 ms. benchmarks/peers_coba_cuba.py runs it side by side with Brian2 and ANNarchy.
"""
import argparse
import time

import numpy as np

import annsnn

COBA = annsnn.Neuron(
    parameters="""
        El = -60.0 : population
        Vr = -60.0 : population
        Erev_exc = 0.0 : population
        Erev_inh = -80.0 : population
        Vt = -50.0 : population
        tau = 20.0 : population
        tau_exc = 5.0 : population
        tau_inh = 10.0 : population
        I = 20.0 : population
    """,
    equations="""
        tau * dv/dt = (El - v) + g_exc * (Erev_exc - v) + g_inh * (Erev_inh - v) + I
        tau_exc * dg_exc/dt = -g_exc : exponential
        tau_inh * dg_inh/dt = -g_inh : exponential
    """,
    spike="v > Vt",
    reset="v = Vr",
    refractory=5.0,
    name="COBA",
)


def balanced_network(neuron, neurons, probability, seed, num_threads, w_exc, w_inh):
    """``neurons`` of ``neuron``, the first 80 % excitatory; each projects onto every neuron with
    ``probability`` (default: 80 inputs per neuron), no self-connections."""
    probability = 80.0 / neurons if probability is None else probability
    net = annsnn.Network(dt=0.1, seed=seed, num_threads=num_threads, name=neuron.name.lower())
    pop = net.create(neurons, neuron, name="P")
    n_exc = int(0.8 * neurons)
    net.connect_fixed_probability(pop[:n_exc], pop, probability, weights=w_exc, target="exc", name="exc")
    net.connect_fixed_probability(pop[n_exc:], pop, probability, weights=w_inh, target="inh", name="inh")
    return net, pop


def build(neurons=4000, probability=None, seed=1, num_threads=None):
    """The network, its population and spike monitor."""
    net, pop = balanced_network(COBA, neurons, probability, seed, num_threads, w_exc=0.6, w_inh=6.7)
    rng = np.random.default_rng(seed)
    pop.v = rng.normal(-55.0, 5.0, neurons)
    pop.g_exc = rng.normal(4.0, 1.5, neurons)
    pop.g_inh = rng.normal(20.0, 12.0, neurons)
    return net, pop, net.monitor(pop, "spike")


def run(build_network, neurons, probability=None, seed=1, num_threads=None, duration_ms=1000.0):
    """Build (connect + compile) and simulate ``duration_ms``; returns a dict of measurements."""
    started = time.perf_counter()
    net, pop, monitor = build_network(neurons, probability, seed, num_threads)
    net.compile()
    build_s = time.perf_counter() - started
    steps = int(round(duration_ms / net.dt))
    started = time.perf_counter()
    net.simulate(steps)
    simulate_s = time.perf_counter() - started
    trains = monitor.get("spike")[0]
    total = sum(len(t) for t in trains.values())
    cvs = []
    for train in trains.values():
        if len(train) >= 3:
            isi = np.diff(train) * net.dt
            cvs.append(isi.std() / isi.mean())
    return dict(build_s=build_s, simulate_s=simulate_s, realtime_factor=simulate_s / (duration_ms / 1000.0),
                mean_rate_hz=total / neurons / (duration_ms / 1000.0), isi_cv=float(np.mean(cvs)) if cvs else None,
                n_synapses=int(sum(p.size for p in net.projections)), threads=net.num_threads,
                method="exponential (g), euler (v)")


def main(build_network=build, description=__doc__):
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=4000)
    parser.add_argument("--probability", type=float, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    result = run(build_network, args.neurons, args.probability, args.seed, args.threads)
    for key, value in result.items():
        print(f"{key:>16}: {value:.4g}" if isinstance(value, float) else f"{key:>16}: {value}")


if __name__ == "__main__":
    main()
