"""Soak: memory stays flat over a 1,000,000-step run and over 100 build-simulate-reset-delete cycles.

RSS is read from /proc/self/statm after a warm-up, and again at the end; the growth must stay under
5 %. The long run keeps a monitor limited to a step range, so recordings do not grow with it.
Writes benchmarks/results/soak.json.
"""
import gc
import json
import os
import time
from pathlib import Path

import numpy as np

import annsnn
from annsnn import models

RESULTS = Path(__file__).resolve().parent / "results"


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def small_network(seed=1):
    net = annsnn.Network(batch_size=2, seed=seed, name="soak")
    inp = net.create(50, models.Poisson, name="input")
    hid = net.create(20, models.IaF, name="hidden")
    out = net.create(5, models.IaF_ReadOut, name="out")
    net.connect(inp, hid, "exc", np.random.default_rng(0).uniform(0, 0.2, (50, 20)))
    net.connect(hid, out, "exc", 0.3)
    inp.rates = 100.0
    return net


def long_run(total=1_000_000, chunk=10_000):
    net = small_network()
    monitor = net.monitor(net.populations[1], ["v", "spike"], start=0, stop=1_000)
    net.simulate(chunk)  # warm-up: build, first allocations
    gc.collect()
    before, started = rss_mb(), time.perf_counter()
    for _ in range(total // chunk - 1):
        net.simulate(chunk, check=True)
    seconds = time.perf_counter() - started
    gc.collect()
    after = rss_mb()
    assert monitor.get("v").shape[0] == 1_000
    return dict(steps=total, seconds=seconds, steps_per_s=(total - chunk) / seconds, rss_before_mb=before,
                rss_after_mb=after, growth_percent=100 * (after - before) / before,
                output_spikes=int(net.populations[2].spike_counts.sum()))


def cycles(n=100):
    def one():
        net = small_network(seed=len(str(time.time())))
        net.monitor(net.populations[2], ["spike"])
        net.compile()
        net.simulate(200)
        net.reset()
        del net
    for _ in range(5):  # warm-up
        one()
    gc.collect()
    before, started = rss_mb(), time.perf_counter()
    for _ in range(n):
        one()
    gc.collect()
    after = rss_mb()
    return dict(cycles=n, seconds=time.perf_counter() - started, rss_before_mb=before, rss_after_mb=after,
                growth_percent=100 * (after - before) / before)


def main():
    results = {"long_run": long_run(), "build_simulate_reset_cycles": cycles()}
    print("| soak | RSS before (MB) | RSS after (MB) | growth | time (s) |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['rss_before_mb']:.1f} | {r['rss_after_mb']:.1f} | {r['growth_percent']:+.2f} % | "
              f"{r['seconds']:.1f} |")
    print(f"long run: {results['long_run']['steps_per_s']:,.0f} steps/s for a batch of 2")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(results, indent=2) + "\n")
    ok = all(r["growth_percent"] < 5 for r in results.values())
    print("memory flat (growth < 5 %):", "yes" if ok else "NO")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
