"""The kernels' fallbacks for CPUs without AVX512-VBMI2 or AVX-512 give the same results, bit for bit.

The suite otherwise tests only the paths the CI machine's CPU selects (`-march=native`); extra compiler
flags in $ANNSNN_CXXFLAGS switch the instruction sets off and take part in the build cache key.
"""
import platform

import numpy as np
import pytest

import annsnn
from annsnn import models

pytestmark = pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 instruction sets")


def run_all_paths():
    """Grouped and per-neuron inputs, masked tails, random draws, dense firing and an early stop."""
    rng = np.random.default_rng(7)
    net = annsnn.Network(batch_size=4, seed=5)
    grouped = net.create(150, models.IB, name="grouped")            # tail of 6; grouped
    poisson = net.create(70, models.Poisson, name="poisson")        # tail of 6; random draws
    hidden = net.create(45, models.IaF, name="hidden")
    out = net.create(10, models.IaF_ReadOut, name="out")
    net.connect(grouped, hidden, "exc", rng.uniform(-0.02, 0.08, (150, 45)).astype(np.float32))
    net.connect(poisson, hidden, "exc", rng.uniform(0.0, 0.1, (70, 45)).astype(np.float32))
    driven = (np.arange(45) % 4 == 0)[:, None]                     # these fire every step (bias below)
    net.connect(hidden, out, "exc", np.where(driven, 0.0, rng.uniform(0.0, 0.3, (45, 10))).astype(np.float32))
    grouped.rates = rng.integers(0, 6, (4, 150)).astype(np.float32) * np.float32(4.0)
    poisson.rates = rng.uniform(0.0, 400.0, (4, 70)).astype(np.float32)
    hidden.bias = np.where(driven[:, 0], 2.0, 0.0)                 # many spikes per 64 neurons
    monitors = [net.monitor(p, ["spike"]) for p in (grouped, poisson, hidden, out)]
    stops = net.simulate_until(120, out, "sc >= 12 : any")
    net.simulate(40)
    state = [p.get(name).copy() for p in net.populations for name in p.spec.variables]
    counts = [p.spike_counts.copy() for p in net.populations]
    return [m.spike_raster() for m in monitors], state, counts, stops, grouped.update_groups


@pytest.mark.parametrize("flags", ["-mno-avx512vbmi2", "-mno-avx512f"])
def test_fallback_kernels_match_the_native_build(flags, monkeypatch):
    monkeypatch.delenv("ANNSNN_CXXFLAGS", raising=False)
    native = run_all_paths()
    monkeypatch.setenv("ANNSNN_CXXFLAGS", flags)
    fallback = run_all_paths()
    assert (native[4] > 0).all() and sum(r.sum() for r in native[0]) > 3000
    assert len(set(native[3].tolist())) > 1  # items stopped at different steps
    for a, b in zip(native[0] + native[1] + native[2] + [native[3]], fallback[0] + fallback[1] + fallback[2] + [fallback[3]]):
        np.testing.assert_array_equal(a, b)
