"""Generated kernels against the independent NumPy oracle, spike for spike."""
import numpy as np
import pytest

import annsnn
from annsnn import models

from oracle import IaFLayer, IBLayer, PSOLayer, run_chain

BATCH, STEPS = 8, 1000


def build(input_model, rates, weights, seed=3):
    net = annsnn.Network(batch_size=BATCH, seed=seed)
    pops = [net.create(rates.shape[1], input_model, name="input")]
    for i, w in enumerate(weights):
        pops.append(net.create(w.shape[1], models.IaF, name=f"layer{i + 1}"))
        net.connect(pops[-2], pops[-1], "exc", w)
    pops[0].rates = rates
    monitors = [net.monitor(p, ["spike"]) for p in pops]
    return net, pops, monitors


@pytest.mark.parametrize("encoding", ["IB", "PSO"])
def test_chain_matches_oracle(encoding):
    rng = np.random.default_rng(42)
    if encoding == "IB":
        rates = rng.uniform(0.0, 30.0, (BATCH, 40)).astype(np.float32)
        weights = [rng.uniform(-0.05, 0.25, (40, 24)).astype(np.float32),
                   rng.uniform(-0.1, 0.5, (24, 10)).astype(np.float32)]
    else:
        rates = rng.uniform(0.0, 1.2, (BATCH, 40)).astype(np.float32)
        weights = [rng.uniform(-0.05, 0.12, (40, 24)).astype(np.float32),
                   rng.uniform(-0.1, 0.5, (24, 10)).astype(np.float32)]
    model = models.IB if encoding == "IB" else models.PSO
    net, pops, monitors = build(model, rates, weights)
    net.simulate(STEPS)
    layer0 = IBLayer(rates) if encoding == "IB" else PSOLayer(rates)
    expected = run_chain([layer0, IaFLayer(BATCH, 24), IaFLayer(BATCH, 10)], weights, STEPS)
    for pop, mon, raster in zip(pops, monitors, expected):
        got = mon.spike_raster()
        assert got.shape == raster.shape
        assert raster.sum() > 100, f"{pop.name}: too few spikes for a meaningful comparison"
        mismatch = np.argwhere(got != raster)
        assert mismatch.size == 0, f"{pop.name}: first mismatch at (step, item, neuron) {mismatch[0]}"


def test_iaf_state_matches_oracle():
    rng = np.random.default_rng(7)
    rates = rng.uniform(0.0, 20.0, (BATCH, 30)).astype(np.float32)
    weights = [rng.uniform(-0.2, 0.3, (30, 12)).astype(np.float32)]
    net, pops, _ = build(models.IB, rates, weights, seed=5)
    vmon = net.monitor(pops[1], ["v"])
    net.simulate(300)
    ib, iaf = IBLayer(rates), IaFLayer(BATCH, 12)
    run_chain([ib, iaf], weights, 300)
    np.testing.assert_array_equal(pops[1].v, iaf.v)
    np.testing.assert_array_equal(pops[0].v, ib.v)
    np.testing.assert_array_equal(pops[0].u, ib.u)
    assert vmon.get("v").shape == (300, BATCH, 12)
    np.testing.assert_array_equal(vmon.get("v")[-1], iaf.v)


@pytest.mark.parametrize("width", [16, 277, 544])
def test_dense_register_tiles_match_oracle(width):
    """Post sizes that take every path of the dense kernel: full 256-float register tiles,
    a 16-float rest, a ragged end (277 = 256 + 16 + 5; 544 = 2 x 256 + 32)."""
    rng = np.random.default_rng(width)
    rates = rng.uniform(0.0, 30.0, (BATCH, 60)).astype(np.float32)
    weights = [rng.uniform(-0.05, 0.2, (60, width)).astype(np.float32)]
    net, pops, monitors = build(models.IB, rates, weights, seed=5)
    net.simulate(300)
    ib, iaf = IBLayer(rates), IaFLayer(BATCH, width)
    expected = run_chain([ib, iaf], weights, 300)
    assert expected[1].sum() > 1000
    np.testing.assert_array_equal(monitors[1].spike_raster(), expected[1])
    np.testing.assert_array_equal(pops[1].v, iaf.v)
