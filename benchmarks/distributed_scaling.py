"""Throughput of predict on a Dask LocalCluster of 1 and 2 worker processes, next to a local run.

Each worker runs one network with one OpenMP thread; the local run uses every core of this process.
The first call on a cluster (worker builds: cache hits here) is timed apart from the steady state.
Writes benchmarks/results/distributed_scaling.json and prints a table.

    python benchmarks/distributed_scaling.py [--samples-mlp 10000] [--samples-cnn 1000]
"""
import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def _timed(conv, x, steps, client=None, repeats=2):
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        predictions = conv.predict(x, steps, progress=False, client=client)
        best = min(best, time.perf_counter() - started)
    return best, predictions


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples-mlp", type=int, default=10000)
    parser.add_argument("--samples-cnn", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    from distributed import Client, LocalCluster
    from annsnn import ANNtoSNNConverter
    from annsnn.cli import bundled_model_path
    from annsnn.datasets import load_mnist

    (_, _), (x_all, y_all) = load_mnist()
    rows = []
    for model, n, scale in (("mlp", args.samples_mlp, 8), ("cnn", args.samples_cnn, None)):
        x = x_all[:n].astype(np.float32) / 255.0
        conv = ANNtoSNNConverter(input_encoding="IB", read_out="spike_count", seed=1)
        conv.load_keras_model(str(bundled_model_path(model)), show_info=False, scale_factor=scale)
        x = x.reshape((n,) + conv.plans[0].shape)
        seconds, reference = _timed(conv, x, args.steps)
        rows.append(dict(model=model, setup=f"local, {conv.network.num_threads} OpenMP threads", workers=0,
                         samples=n, seconds=seconds, samples_per_s=n / seconds, first_call_seconds=None,
                         identical=True))
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") \
                    as cluster, Client(cluster) as client:
                client.wait_for_workers(workers)
                started = time.perf_counter()
                conv.predict(x[:conv.network.batch_size * workers], args.steps, progress=False, client=client)
                first = time.perf_counter() - started
                seconds, predictions = _timed(conv, x, args.steps, client=client)
            rows.append(dict(model=model, setup=f"LocalCluster, {workers} worker(s) x 1 thread", workers=workers,
                             samples=n, seconds=seconds, samples_per_s=n / seconds, first_call_seconds=first,
                             identical=predictions == reference))
    for row in rows:
        base = next(r for r in rows if r["model"] == row["model"] and r["workers"] == 1)
        row["speedup_vs_1_worker"] = base["seconds"] / row["seconds"]
    header = f"{'model':5s} {'setup':36s} {'samples':>8s} {'samples/s':>10s} {'vs 1 worker':>12s} {'first call':>11s} " \
             f"{'same as local':>14s}"
    print(header)
    for r in rows:
        first = "" if r["first_call_seconds"] is None else f"{r['first_call_seconds']:.2f} s"
        print(f"{r['model']:5s} {r['setup']:36s} {r['samples']:8d} {r['samples_per_s']:10,.0f} "
              f"{r['speedup_vs_1_worker']:11.2f}x {first:>11s} {str(r['identical']):>14s}")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "distributed_scaling.json"
    out.write_text(json.dumps(dict(steps=args.steps, encoding="IB", read_out="spike_count", cpu_count=os.cpu_count(),
                                   rows=rows), indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
