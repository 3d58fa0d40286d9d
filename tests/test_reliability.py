"""Concurrent builds, reproducibility across threads, names that collide with C++."""
import json
import os
import subprocess
import sys
import textwrap
import uuid

import numpy as np

import annsnn
from annsnn import Neuron, models

RUN = textwrap.dedent("""
    import json, sys, numpy as np, annsnn
    from annsnn import models
    net = annsnn.Network(batch_size=4, seed=7, name=sys.argv[1])
    a = net.create(60, models.Poisson, name="a")
    b = net.create(int(sys.argv[2]), models.IaF_ReadOut, name="b")
    net.connect(a, b, "exc", np.random.default_rng(0).uniform(0, 0.2, (60, b.size)))
    a.rates = 200.0
    info = net.compile()
    net.simulate(100)
    print(json.dumps(dict(compiled=info.compiled, counts=b.spike_counts.tolist())))
""")


def start(name, size, env):
    return subprocess.Popen([sys.executable, "-c", RUN, name, str(size)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_four_processes_build_the_same_network_once(tmp_path):
    env = dict(os.environ, ANNSNN_CACHE_DIR=str(tmp_path))
    name = f"concurrent_{uuid.uuid4().hex[:8]}"
    procs = [start(name, 5, env) for _ in range(4)]
    # a different network built at the same time must not interfere
    procs.append(start(name + "_other", 7, env))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    same = results[:4]
    assert sum(r["compiled"] for r in same) == 1
    assert all(r["counts"] == same[0]["counts"] for r in same)
    assert len(results[4]["counts"][0]) == 7 and results[4]["compiled"]


def test_results_do_not_depend_on_the_thread_count():
    rasters = []
    for threads in (1, 2):
        net = annsnn.Network(batch_size=6, seed=9, num_threads=threads)
        a = net.create(80, models.Poisson, name="a")
        b = net.create(10, models.IaF, name="b")
        net.connect(a, b, "exc", np.random.default_rng(1).uniform(0, 0.1, (80, 10)))
        a.rates = np.linspace(10, 400, 6)[:, None]
        mon = net.monitor(b, ["spike", "v"])
        net.simulate(150)
        rasters.append((mon.spike_raster(), mon.get("v")))
    np.testing.assert_array_equal(rasters[0][0], rasters[1][0])
    np.testing.assert_array_equal(rasters[0][1], rasters[1][1])


def test_names_that_collide_with_generated_code_are_safe():
    cell = Neuron(parameters="i = 1.0\nN = 2.0\nb = 3.0 : population\nrow_v = 4\nP = 5\nhit = 6",
                  equations="s = i + N + b + row_v + P + hit\ndv/dt = s", spike="v > 100", reset="v = 0",
                  name="collisions")
    net = annsnn.Network(batch_size=2)
    pop = net.create(3, cell)
    net.simulate(2)
    np.testing.assert_array_equal(pop.s, np.full((2, 3), 21.0, np.float32))
    np.testing.assert_array_equal(pop.v, np.full((2, 3), 42.0, np.float32))


def test_deleting_a_network_frees_its_buffers():
    import gc
    import weakref
    net = annsnn.Network(batch_size=3)
    a = net.create(40, models.Poisson, name="a")
    b = net.create(5, models.IaF, name="b")
    proj = net.connect(a, b, "exc", 0.1)
    net.monitor(b, ["v"])
    net.simulate(10)
    refs = [weakref.ref(x) for x in (a.rates, b.v, proj.w, net.monitors[0].get("v"))]
    del net, a, b, proj
    gc.collect()
    assert all(r() is None for r in refs), "the buffers outlive their network"
